//! Router tests through `tower::ServiceExt::oneshot`, with an in-memory transaction log and a
//! recording handler (the real `Store` is not needed at this layer).

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;
use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header::AUTHORIZATION},
};
use ruma::{RoomAliasId, UserId};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

const TOKEN: &str = "hs_secret_token";

#[derive(Default)]
struct FakeLog {
    seen: Mutex<HashSet<String>>,
    rows: Mutex<Vec<InboxEvent>>,
    fail: AtomicBool,
}

#[async_trait]
impl TransactionLog for FakeLog {
    async fn record_transaction(
        &self,
        txn_id: &str,
        events: &[String],
    ) -> Result<TxnOutcome, StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Corrupt("disk on fire".into()));
        }
        if !self.seen.lock().unwrap().insert(txn_id.to_owned()) {
            return Ok(TxnOutcome::Duplicate);
        }
        let mut rows = self.rows.lock().unwrap();
        let mut ids = Vec::new();
        for json in events {
            let id = rows.len() as i64 + 1;
            rows.push(InboxEvent {
                id,
                txn_id: txn_id.to_owned(),
                json: json.clone(),
            });
            ids.push(id);
        }
        Ok(TxnOutcome::New(ids))
    }
}

#[derive(Default)]
struct FakeHandler {
    dispatched: Mutex<Vec<InboxEvent>>,
    queried: Mutex<Vec<String>>,
}

#[async_trait]
impl AppserviceHandler for FakeHandler {
    async fn dispatch(&self, event: InboxEvent) {
        self.dispatched.lock().unwrap().push(event);
    }
    async fn query_user(&self, user: &UserId) -> bool {
        self.queried.lock().unwrap().push(user.to_string());
        user.localpart().starts_with("_irc_")
    }
    async fn query_alias(&self, alias: &RoomAliasId) -> bool {
        self.queried.lock().unwrap().push(alias.to_string());
        alias.alias().starts_with("_irc_")
    }
}

struct Harness {
    log: Arc<FakeLog>,
    handler: Arc<FakeHandler>,
    router: Router,
}

fn harness() -> Harness {
    harness_with(RouterOptions::default())
}

fn harness_with(options: RouterOptions) -> Harness {
    let log = Arc::new(FakeLog::default());
    let handler = Arc::new(FakeHandler::default());
    let state = AppserviceState {
        hs_token: TOKEN.into(),
        store: log.clone(),
        handler: handler.clone(),
    };
    Harness {
        log,
        handler,
        router: router_with(state, options),
    }
}

struct Reply {
    status: StatusCode,
    body: Value,
    headers: HeaderMap,
}

impl Harness {
    async fn send(&self, method: Method, uri: &str, auth: Option<&str>, body: Body) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(value) = auth {
            request = request.header(AUTHORIZATION, value);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// A request with the right token in the header.
    async fn authed(&self, method: Method, uri: &str, body: &str) -> Reply {
        let bearer = format!("Bearer {TOKEN}");
        self.send(method, uri, Some(&bearer), Body::from(body.to_owned()))
            .await
    }

    async fn put_txn(&self, txn_id: &str, body: &str) -> Reply {
        let uri = format!("/_matrix/app/v1/transactions/{txn_id}");
        self.authed(Method::PUT, &uri, body).await
    }

    fn recorded(&self) -> usize {
        self.log.rows.lock().unwrap().len()
    }

    fn dispatched(&self) -> Vec<InboxEvent> {
        self.handler.dispatched.lock().unwrap().clone()
    }
}

fn assert_error(reply: &Reply, status: StatusCode, errcode: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["errcode"], errcode, "{}", reply.body);
    assert!(reply.body["error"].is_string(), "{}", reply.body);
}

const TWO_EVENTS: &str = r#"{"events": [{"type": "m.room.message", "event_id": "$a"}, {"type": "m.room.member", "event_id": "$b"}]}"#;

#[tokio::test]
async fn missing_token_is_401_and_nothing_is_recorded() {
    let h = harness();
    let uri = "/_matrix/app/v1/transactions/t1";
    let reply = h.send(Method::PUT, uri, None, Body::from(TWO_EVENTS)).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
    let reply = h
        .send(Method::PUT, uri, Some("Basic abc"), Body::from(TWO_EVENTS))
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
    for uri in [
        "/_matrix/app/v1/users/@_irc_a:localhost",
        "/users/@_irc_a:localhost",
    ] {
        let reply = h.send(Method::GET, uri, None, Body::empty()).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
    }
    let reply = h
        .send(Method::POST, "/_matrix/app/v1/ping", None, Body::from("{}"))
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED");
    assert_eq!(h.recorded(), 0);
    assert!(h.dispatched().is_empty());
    assert!(h.handler.queried.lock().unwrap().is_empty());
}

#[tokio::test]
async fn wrong_token_is_403_and_nothing_is_recorded() {
    let h = harness();
    let uri = "/_matrix/app/v1/transactions/t1";
    for wrong in [
        "Bearer hs_secret_tokeN",
        "Bearer hs_secret_token_longer",
        "Bearer hs",
        "Bearer ",
    ] {
        let reply = h
            .send(Method::PUT, uri, Some(wrong), Body::from(TWO_EVENTS))
            .await;
        assert_error(&reply, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    }
    let reply = h
        .send(
            Method::PUT,
            &format!("{uri}?access_token=nope"),
            None,
            Body::from(TWO_EVENTS),
        )
        .await;
    assert_error(&reply, StatusCode::FORBIDDEN, "M_FORBIDDEN");
    assert_eq!(h.recorded(), 0);
    assert!(h.dispatched().is_empty());
}

#[tokio::test]
async fn right_token_in_header_or_legacy_query_param() {
    let h = harness();
    let reply = h.put_txn("t1", TWO_EVENTS).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({}));
    let uri = format!("/_matrix/app/v1/transactions/t2?access_token={TOKEN}");
    let reply = h
        .send(Method::PUT, &uri, None, Body::from(TWO_EVENTS))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(h.dispatched().len(), 4);
}

#[tokio::test]
async fn transaction_events_are_dispatched_in_order_with_their_inbox_ids() {
    let h = harness();
    let reply = h.put_txn("txn%201", TWO_EVENTS).await;
    assert_eq!(reply.status, StatusCode::OK);
    let dispatched = h.dispatched();
    assert_eq!(dispatched.len(), 2);
    assert_eq!(dispatched[0].id, 1);
    assert_eq!(dispatched[1].id, 2);
    assert!(dispatched.iter().all(|e| e.txn_id == "txn 1"));
    assert_eq!(
        dispatched[0].json,
        r#"{"type": "m.room.message", "event_id": "$a"}"#
    );
    assert!(dispatched[1].json.contains("$b"));
}

#[tokio::test]
async fn replayed_transaction_is_acknowledged_but_not_dispatched_twice() {
    let h = harness();
    assert_eq!(h.put_txn("t1", TWO_EVENTS).await.status, StatusCode::OK);
    let reply = h.put_txn("t1", TWO_EVENTS).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({}));
    // The legacy path shares the same transaction log.
    let uri = format!("/transactions/t1?access_token={TOKEN}");
    let reply = h
        .send(Method::PUT, &uri, None, Body::from(TWO_EVENTS))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(h.dispatched().len(), 2);
    assert_eq!(h.recorded(), 2);
}

#[tokio::test]
async fn malformed_bodies_are_400_and_nothing_is_recorded_or_dispatched() {
    let h = harness();
    let cases = [
        ("{not json", "M_NOT_JSON"),
        ("", "M_NOT_JSON"),
        ("{}", "M_BAD_JSON"),
        (r#"{"ephemeral": []}"#, "M_BAD_JSON"),
        (r#"{"events": "x"}"#, "M_BAD_JSON"),
        (r#"{"events": [{"type": "ok"}, 42]}"#, "M_BAD_JSON"),
        ("[]", "M_BAD_JSON"),
    ];
    for (i, (body, errcode)) in cases.into_iter().enumerate() {
        let reply = h.put_txn(&format!("bad{i}"), body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, errcode);
    }
    assert_eq!(h.recorded(), 0);
    assert!(h.log.seen.lock().unwrap().is_empty());
    assert!(h.dispatched().is_empty());
}

#[tokio::test]
async fn store_failure_is_500_and_nothing_is_dispatched_until_the_retry() {
    let h = harness();
    h.log.fail.store(true, Ordering::SeqCst);
    let reply = h.put_txn("t1", TWO_EVENTS).await;
    assert_error(&reply, StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN");
    assert!(
        !reply.body["error"]
            .as_str()
            .unwrap()
            .contains("disk on fire"),
        "internal details stay in our log"
    );
    assert!(h.dispatched().is_empty());
    h.log.fail.store(false, Ordering::SeqCst);
    assert_eq!(h.put_txn("t1", TWO_EVENTS).await.status, StatusCode::OK);
    assert_eq!(h.dispatched().len(), 2);
}

#[tokio::test]
async fn ephemeral_events_are_ignored_unless_enabled() {
    let body = r#"{"events": [{"type": "m.room.message"}], "ephemeral": [{"type": "m.typing"}]}"#;
    let h = harness();
    assert_eq!(h.put_txn("t1", body).await.status, StatusCode::OK);
    assert_eq!(h.dispatched().len(), 1);

    let h = harness_with(RouterOptions {
        record_ephemeral: true,
        ..RouterOptions::default()
    });
    assert_eq!(h.put_txn("t1", body).await.status, StatusCode::OK);
    let dispatched = h.dispatched();
    assert_eq!(dispatched.len(), 2);
    assert_eq!(dispatched[1].json, r#"{"type": "m.typing"}"#);
}

#[tokio::test]
async fn oversized_body_is_413_and_nothing_is_recorded() {
    let h = harness();
    let filler = "x".repeat(MAX_BODY_BYTES);
    let body = format!(r#"{{"events": [{{"body": "{filler}"}}]}}"#);
    let reply = h.put_txn("big", &body).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE");
    assert_eq!(h.recorded(), 0);
}

mod routes;
