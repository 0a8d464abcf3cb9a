//! A small but real Matrix client-server API client for tests: it talks HTTP to the test Synapse
//! like Element would, so assertions are about what a Matrix user actually sees.
//!
//! Events are returned as raw JSON (`serde_json::Value`, with `room_id` filled in) because tests
//! assert on exactly what the bridge put on the wire. A `TestUser` is bound to the tokio runtime
//! of the test that created it: don't share one between tests.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Method;
use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use url::Url;

use crate::Synapse;

mod e2ee;
mod history;
mod profile;
mod register;
mod sync;

pub use register::register_user;
use sync::SyncState;

/// A logged-in Matrix user of the test homeserver.
#[derive(Debug)]
pub struct TestUser {
    pub user_id: OwnedUserId,
    pub access_token: String,
    /// The password given at registration (empty for [`TestUser::appservice`] users).
    pub password: String,
    /// Appservice masquerading: sent as `?user_id=` on every request.
    as_user: Option<OwnedUserId>,
    base: Url,
    http: reqwest::Client,
    txn: AtomicU64,
    sync: Mutex<SyncState>,
    /// The encrypting device, once [`TestUser::enable_e2ee`] made it.
    crypto: std::sync::OnceLock<std::sync::Arc<e2ee::ClientCrypto>>,
}

/// `content.body` of an `m.room.message` event, for predicates.
pub fn text_body(event: &Value) -> Option<&str> {
    (event["type"] == "m.room.message")
        .then(|| event["content"]["body"].as_str())
        .flatten()
}

pub(crate) fn http_client() -> Result<reqwest::Client> {
    // reqwest is built with `rustls-no-provider`: building any Client panics without a process-wide
    // provider, even for plain http. Ignore the error if one is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building reqwest client")
}

pub(crate) fn field<T: DeserializeOwned>(v: &Value, name: &str) -> Result<T> {
    serde_json::from_value(v[name].clone()).with_context(|| format!("field {name:?} in {v}"))
}

pub(crate) async fn check(resp: reqwest::Response, what: &str) -> Result<Value> {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{what}: HTTP {status}: {text}");
    }
    if text.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(&text).with_context(|| format!("{what}: response is not JSON: {text}"))
}

impl TestUser {
    fn new(
        synapse: &Synapse,
        user_id: OwnedUserId,
        access_token: String,
        password: String,
        as_user: Option<OwnedUserId>,
    ) -> Result<TestUser> {
        Ok(TestUser {
            user_id,
            access_token,
            password,
            as_user,
            base: Url::parse(&synapse.base_url())?,
            http: http_client()?,
            txn: AtomicU64::new(0),
            sync: Mutex::new(SyncState::default()),
            crypto: Default::default(),
        })
    }

    /// A client with an existing access token (e.g. one a bridge's login flow produced).
    pub fn from_token(synapse: &Synapse, user_id: OwnedUserId, token: &str) -> Result<TestUser> {
        Self::new(synapse, user_id, token.to_owned(), String::new(), None)
    }

    /// Acts as `user_id` (a ghost or the bridge bot) with an appservice's `as_token`, to check
    /// what an appservice is allowed to do or to play the bridge's side in a test.
    pub fn appservice(synapse: &Synapse, as_token: &str, user_id: OwnedUserId) -> Result<TestUser> {
        Self::new(
            synapse,
            user_id.clone(),
            as_token.to_owned(),
            String::new(),
            Some(user_id),
        )
    }

    /// Registers the appservice user `localpart` (`m.login.application_service`) and returns a
    /// client acting as it with the `as_token`: the bridge's side of a test.
    pub async fn appservice_register(
        synapse: &Synapse,
        as_token: &str,
        localpart: &str,
    ) -> Result<TestUser> {
        let http = http_client()?;
        let body = json!({"type": "m.login.application_service", "username": localpart});
        let resp = http
            .post(format!("{}/_matrix/client/v3/register", synapse.base_url()))
            .bearer_auth(as_token)
            .json(&body)
            .send()
            .await?;
        let r = check(resp, &format!("appservice register {localpart}")).await?;
        Self::appservice(synapse, as_token, field(&r, "user_id")?)
    }

    /// `GET /account/whoami`: the user ID the homeserver sees for this client.
    pub async fn whoami(&self) -> Result<OwnedUserId> {
        field(
            &self
                .call(Method::GET, &["account", "whoami"], &[], None)
                .await?,
            "user_id",
        )
    }

    /// One client-server API call under `/_matrix/client/v3/`; `path` segments are percent-encoded.
    pub async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow!("base URL cannot have a path"))?
            .clear()
            .extend(["_matrix", "client", "v3"])
            .extend(path);
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
            if let Some(u) = &self.as_user {
                q.append_pair("user_id", u.as_str());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let what = format!("{method} /{} as {}", path.join("/"), self.user_id);
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(&self.access_token);
        if let Some(b) = body {
            req = req.json(b);
        }
        check(req.send().await.with_context(|| what.clone())?, &what).await
    }

    fn txn_id(&self) -> String {
        format!(
            "fbt{}-{}",
            std::process::id(),
            self.txn.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// `POST /createRoom` with the given body (e.g. `json!({"name": "x", "invite": [...]})`).
    pub async fn create_room(&self, body: Value) -> Result<OwnedRoomId> {
        field(
            &self
                .call(Method::POST, &["createRoom"], &[], Some(&body))
                .await?,
            "room_id",
        )
    }

    /// A direct chat with `with`, as Element creates it (is_direct, trusted_private_chat, invite).
    pub async fn create_dm(&self, with: &UserId) -> Result<OwnedRoomId> {
        self.create_room(json!({
            "is_direct": true, "preset": "trusted_private_chat", "invite": [with],
        }))
        .await
    }

    /// Joins a room by ID or alias (`#a:localhost`); returns the room ID.
    pub async fn join(&self, room_or_alias: &str) -> Result<OwnedRoomId> {
        let r = self
            .call(
                Method::POST,
                &["join", room_or_alias],
                &[],
                Some(&json!({})),
            )
            .await?;
        field(&r, "room_id")
    }

    pub async fn leave(&self, room: &RoomId) -> Result<()> {
        self.call(
            Method::POST,
            &["rooms", room.as_str(), "leave"],
            &[],
            Some(&json!({})),
        )
        .await
        .map(drop)
    }

    pub async fn invite(&self, room: &RoomId, user: &UserId) -> Result<()> {
        let body = json!({ "user_id": user });
        self.call(
            Method::POST,
            &["rooms", room.as_str(), "invite"],
            &[],
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// Sends an `m.text` message.
    pub async fn send_text(&self, room: &RoomId, body: &str) -> Result<OwnedEventId> {
        self.send_json(
            room,
            "m.room.message",
            json!({"msgtype": "m.text", "body": body}),
        )
        .await
    }

    /// Sends any message-like event.
    pub async fn send_json(
        &self,
        room: &RoomId,
        event_type: &str,
        content: Value,
    ) -> Result<OwnedEventId> {
        let txn = self.txn_id();
        self.send_json_txn(room, event_type, content, &txn).await
    }

    /// Sends a message-like event under a transaction ID of the caller's choosing: sending again
    /// with the same ID after an error (the homeserver went away mid-request) cannot post it
    /// twice, the homeserver answers with the first event's ID.
    pub async fn send_json_txn(
        &self,
        room: &RoomId,
        event_type: &str,
        content: Value,
        txn: &str,
    ) -> Result<OwnedEventId> {
        let path = ["rooms", room.as_str(), "send", event_type, txn];
        field(
            &self.call(Method::PUT, &path, &[], Some(&content)).await?,
            "event_id",
        )
    }

    /// Redacts an event; returns the redaction's event ID.
    pub async fn redact(
        &self,
        room: &RoomId,
        event: &EventId,
        reason: Option<&str>,
    ) -> Result<OwnedEventId> {
        let txn = self.txn_id();
        let path = ["rooms", room.as_str(), "redact", event.as_str(), &txn];
        let body = reason.map_or_else(|| json!({}), |r| json!({ "reason": r }));
        field(
            &self.call(Method::PUT, &path, &[], Some(&body)).await?,
            "event_id",
        )
    }

    /// The content of one state event (errors with M_NOT_FOUND if unset).
    pub async fn get_state(
        &self,
        room: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Value> {
        self.call(
            Method::GET,
            &["rooms", room.as_str(), "state", event_type, state_key],
            &[],
            None,
        )
        .await
    }

    /// The room's whole current state (`GET /rooms/{room}/state`).
    pub async fn room_state(&self, room: &RoomId) -> Result<Vec<Value>> {
        let state = self
            .call(Method::GET, &["rooms", room.as_str(), "state"], &[], None)
            .await?;
        match state {
            Value::Array(events) => Ok(events),
            other => anyhow::bail!("room state is not a list: {other}"),
        }
    }

    /// Sets a state event; returns its event ID.
    pub async fn put_state(
        &self,
        room: &RoomId,
        event_type: &str,
        state_key: &str,
        content: Value,
    ) -> Result<OwnedEventId> {
        let path = ["rooms", room.as_str(), "state", event_type, state_key];
        field(
            &self.call(Method::PUT, &path, &[], Some(&content)).await?,
            "event_id",
        )
    }

    pub async fn set_displayname(&self, name: &str) -> Result<()> {
        let body = json!({ "displayname": name });
        self.call(
            Method::PUT,
            &["profile", self.user_id.as_str(), "displayname"],
            &[],
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// `GET /directory/room/{alias}`.
    pub async fn resolve_alias(&self, alias: &str) -> Result<OwnedRoomId> {
        field(
            &self
                .call(Method::GET, &["directory", "room", alias], &[], None)
                .await?,
            "room_id",
        )
    }

    pub async fn joined_rooms(&self) -> Result<Vec<OwnedRoomId>> {
        field(
            &self.call(Method::GET, &["joined_rooms"], &[], None).await?,
            "joined_rooms",
        )
    }

    pub async fn joined_members(&self, room: &RoomId) -> Result<Vec<OwnedUserId>> {
        let r = self
            .call(
                Method::GET,
                &["rooms", room.as_str(), "joined_members"],
                &[],
                None,
            )
            .await?;
        let joined = r["joined"]
            .as_object()
            .ok_or_else(|| anyhow!("no `joined` in {r}"))?;
        joined
            .keys()
            .map(|k| UserId::parse(k.as_str()).with_context(|| format!("bad user id {k}")))
            .collect()
    }

    /// The latest `limit` events of a room, newest first (`/messages?dir=b`).
    pub async fn messages(&self, room: &RoomId, limit: u32) -> Result<Vec<Value>> {
        let limit = limit.to_string();
        let r = self
            .call(
                Method::GET,
                &["rooms", room.as_str(), "messages"],
                &[("dir", "b"), ("limit", &limit)],
                None,
            )
            .await?;
        field(&r, "chunk")
    }
}
