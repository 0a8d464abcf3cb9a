//! The rest of the API: user and alias queries, legacy paths, ping, unknown routes, request
//! IDs, serving over TCP, metrics and the probes.

use super::*;

#[tokio::test]
async fn url_encoded_alias_is_decoded() {
    let h = harness();
    let reply = h
        .authed(
            Method::GET,
            "/_matrix/app/v1/rooms/%23_irc_%23test%3Alocalhost",
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, json!({}));
    assert_eq!(
        *h.handler.queried.lock().unwrap(),
        ["#_irc_#test:localhost"]
    );
}

#[tokio::test]
async fn user_and_alias_queries_found_and_not_found() {
    let h = harness();
    let ok = h
        .authed(
            Method::GET,
            "/_matrix/app/v1/users/%40_irc_bob%3Alocalhost",
            "",
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let ok = h
        .authed(Method::GET, "/_matrix/app/v1/users/@_irc_eve:localhost", "")
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let missing = h
        .authed(Method::GET, "/_matrix/app/v1/users/@alice:localhost", "")
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let missing = h
        .authed(
            Method::GET,
            "/_matrix/app/v1/rooms/%23other%3Alocalhost",
            "",
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    assert_eq!(
        *h.handler.queried.lock().unwrap(),
        [
            "@_irc_bob:localhost",
            "@_irc_eve:localhost",
            "@alice:localhost",
            "#other:localhost"
        ]
    );
}

#[tokio::test]
async fn invalid_ids_are_400_and_never_reach_the_handler() {
    let h = harness();
    for uri in [
        "/_matrix/app/v1/users/bob",
        "/_matrix/app/v1/users/%23room%3Alocalhost",
        "/_matrix/app/v1/rooms/%40bob%3Alocalhost",
        "/_matrix/app/v1/rooms/%23nodomain",
        "/_matrix/app/v1/rooms/%FF%FE",
    ] {
        let reply = h.authed(Method::GET, uri, "").await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    }
    assert!(h.handler.queried.lock().unwrap().is_empty());
}

#[tokio::test]
async fn legacy_unprefixed_paths() {
    let h = harness();
    let q = format!("access_token={TOKEN}");
    let reply = h
        .send(
            Method::GET,
            &format!("/users/%40_irc_bob%3Alocalhost?{q}"),
            None,
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = h
        .send(
            Method::GET,
            &format!("/rooms/%23_irc_%23x%3Alocalhost?{q}"),
            None,
            Body::empty(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = h
        .send(
            Method::GET,
            &format!("/rooms/%23nope%3Alocalhost?{q}"),
            None,
            Body::empty(),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_NOT_FOUND");
    let reply = h
        .send(
            Method::PUT,
            &format!("/transactions/7?{q}"),
            None,
            Body::from(TWO_EVENTS),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(h.dispatched().len(), 2);
    assert_eq!(h.dispatched()[0].txn_id, "7");
}

#[tokio::test]
async fn ping() {
    let h = harness();
    for body in [r#"{"transaction_id": "abc"}"#, "{}", ""] {
        let reply = h.authed(Method::POST, "/_matrix/app/v1/ping", body).await;
        assert_eq!(reply.status, StatusCode::OK, "{body:?}: {}", reply.body);
        assert_eq!(reply.body, json!({}));
    }
    let reply = h
        .authed(Method::POST, "/_matrix/app/v1/ping", "{oops")
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "M_NOT_JSON");
    let reply = h
        .authed(
            Method::POST,
            "/_matrix/app/v1/ping",
            r#"{"transaction_id": 5}"#,
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "M_BAD_JSON");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_unrecognized() {
    let h = harness();
    let reply = h
        .authed(Method::GET, "/_matrix/app/v1/thirdparty/protocol/irc", "")
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_UNRECOGNIZED");
    let reply = h
        .send(Method::GET, "/nothing/here", None, Body::empty())
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_UNRECOGNIZED");
    let reply = h
        .authed(Method::GET, "/_matrix/app/v1/transactions/t1", "")
        .await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED");
    let reply = h.authed(Method::GET, "/_matrix/app/v1/ping", "").await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let h = harness();
    let a = h.put_txn("t1", TWO_EVENTS).await;
    let b = h.send(Method::GET, "/nowhere", None, Body::empty()).await;
    let id_a = a.headers.get(REQUEST_ID_HEADER).expect("request id");
    let id_b = b.headers.get(REQUEST_ID_HEADER).expect("request id");
    assert_ne!(id_a, id_b);
}

#[tokio::test]
async fn serve_answers_over_tcp_and_shuts_down_gracefully() {
    let h = harness();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, h.router.clone(), async move {
        let _ = stop_rx.await;
    }));

    // reqwest with `rustls-no-provider` needs a provider even for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let response = client
        .put(format!("http://{addr}/_matrix/app/v1/transactions/net1"))
        .bearer_auth(TOKEN)
        .body(TWO_EVENTS)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let response = client
        .get(format!(
            "http://{addr}/_matrix/app/v1/rooms/%23_irc_%23test%3Alocalhost"
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(h.dispatched().len(), 2);

    stop_tx.send(()).unwrap();
    drop(client);
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}

/// The production form compiles: a struct literal with the real store, `L` inferred.
#[allow(dead_code)]
fn production_state_compiles(store: &Store, handler: Arc<dyn AppserviceHandler>) -> Router {
    router(AppserviceState {
        hs_token: Arc::from("token"),
        store: store.clone(),
        handler,
    })
}

/// The value of one series in the metrics exposition (0 if absent).
fn metric(series: &str) -> f64 {
    crate::metrics::encode()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn transactions_are_counted_by_outcome() {
    // Other tests count too (the metrics are process-wide): compare at least.
    let series = |o: &str| format!("ferrybridge_transactions_total{{outcome=\"{o}\"}}");
    let before: Vec<f64> = ["accepted", "duplicate", "rejected"]
        .iter()
        .map(|o| metric(&series(o)))
        .collect();
    let h = harness();
    assert_eq!(h.put_txn("m1", TWO_EVENTS).await.status, StatusCode::OK);
    assert_eq!(h.put_txn("m1", TWO_EVENTS).await.status, StatusCode::OK);
    assert_eq!(
        h.put_txn("m2", "{not json").await.status,
        StatusCode::BAD_REQUEST
    );
    for (o, before) in ["accepted", "duplicate", "rejected"].iter().zip(before) {
        assert!(metric(&series(o)) >= before + 1.0, "{o} not counted");
    }
}

#[tokio::test]
async fn health_and_ready_need_no_token() {
    let h = harness();
    let reply = h.send(Method::GET, "/health", None, Body::empty()).await;
    assert_eq!(reply.status, StatusCode::OK);
    // Without readiness checks there is no /ready.
    let reply = h.send(Method::GET, "/ready", None, Body::empty()).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "M_UNRECOGNIZED");

    // With them: a homeserver where nothing listens makes it 503, naming the homeserver.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let matrix = crate::matrix::MatrixClient::new(
        &format!("http://127.0.0.1:{port}").parse().unwrap(),
        "as_token",
        ruma::owned_user_id!("@bot:localhost"),
        false,
    )
    .unwrap();
    let store = Store::connect("sqlite::memory:", 1, crate::store::SecretKey::generate())
        .await
        .unwrap();
    let h = harness_with(RouterOptions {
        ready: Some(crate::operations::Ready::new(matrix, store)),
        ..RouterOptions::default()
    });
    let reply = h.send(Method::GET, "/ready", None, Body::empty()).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["failed"], json!(["homeserver"]));
    let reply = h.send(Method::GET, "/health", None, Body::empty()).await;
    assert_eq!(reply.status, StatusCode::OK);
}
