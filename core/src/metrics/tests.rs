//! The exposition text and the endpoints, through `tower::ServiceExt::oneshot`. The metrics are
//! process-wide and other tests record too, so counts are compared as "at least", before/after.

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
    routing::get,
};
use ruma::owned_user_id;
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::matrix::MatrixClient;
use crate::operations::*;
use crate::store::{SecretKey, Store};

/// The value of the sample `series` (name with labels, as exposed), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn get_path(app: Router, path: &str) -> (StatusCode, Option<String>, String) {
    let resp = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

async fn store() -> Store {
    Store::connect("sqlite::memory:", 1, SecretKey::generate())
        .await
        .unwrap()
}

fn client(base: &str) -> MatrixClient {
    MatrixClient::new(
        &base.parse().unwrap(),
        "as_token",
        owned_user_id!("@bot:localhost"),
        false,
    )
    .unwrap()
}

/// A homeserver address where nothing listens.
fn closed_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A stand-in homeserver that only answers `/_matrix/client/versions`; it stops when the
/// returned sender is used.
async fn versions_server() -> (String, StopServer) {
    let app = Router::new().route(
        "/_matrix/client/versions",
        get(|| async { axum::Json(serde_json::json!({"versions": ["v1.11"]})) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    (format!("http://{addr}"), StopServer(tx, task))
}

struct StopServer(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

impl StopServer {
    async fn stop(self) {
        let _ = self.0.send(());
        self.1.await.unwrap().unwrap();
    }
}

#[test]
fn exposition_names_every_metric_with_its_labels() {
    transaction(TransactionOutcome::Duplicate);
    event_bridged("unit", Direction::MatrixToNetwork);
    event_bridged("unit", Direction::NetworkToMatrix);
    delivery_failed("unit", FailureReason::NetworkTransient);
    homeserver_request(Duration::from_millis(3), Some(HomeserverError::Server));
    drop(db_timer("unit_op"));
    set_connections("unit", [("connected", 2), ("bad_credentials", 1)]);

    let text = encode();
    for line in [
        "# TYPE ferrybridge_transactions_total counter",
        "# TYPE ferrybridge_events_total counter",
        "# TYPE ferrybridge_delivery_failures_total counter",
        "# TYPE ferrybridge_portal_queue_depth gauge",
        "# TYPE ferrybridge_remote_connections gauge",
        "# TYPE ferrybridge_homeserver_request_duration_seconds histogram",
        "# TYPE ferrybridge_homeserver_request_errors_total counter",
        "# TYPE ferrybridge_db_query_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // Fixed label values are exported before anything happens to them.
    for outcome in ["accepted", "duplicate", "rejected"] {
        assert!(text.contains(&format!(
            "ferrybridge_transactions_total{{outcome=\"{outcome}\"}}"
        )));
    }
    let at_least_one = |series: &str| {
        assert!(
            sample(&text, series) >= 1.0,
            "{series} not counted in:\n{text}"
        );
    };
    at_least_one(r#"ferrybridge_transactions_total{outcome="duplicate"}"#);
    at_least_one(r#"ferrybridge_events_total{network="unit",direction="matrix_to_network"}"#);
    at_least_one(r#"ferrybridge_events_total{network="unit",direction="network_to_matrix"}"#);
    at_least_one(
        r#"ferrybridge_delivery_failures_total{network="unit",reason="network_transient"}"#,
    );
    at_least_one(r#"ferrybridge_homeserver_request_errors_total{kind="server"}"#);
    at_least_one("ferrybridge_homeserver_request_duration_seconds_count");
    at_least_one(r#"ferrybridge_db_query_duration_seconds_count{op="unit_op"}"#);
    assert_eq!(
        sample(
            &text,
            r#"ferrybridge_remote_connections{network="unit",state="connected"}"#
        ),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            r#"ferrybridge_remote_connections{network="unit",state="bad_credentials"}"#
        ),
        1.0
    );
    assert!(
        text.contains(r#"ferrybridge_remote_connections{network="unit",state="logged_out"} 0"#)
    );
}

#[test]
fn connection_transitions_move_one_count() {
    let connected = r#"ferrybridge_remote_connections{network="transitions",state="connected"}"#;
    let down =
        r#"ferrybridge_remote_connections{network="transitions",state="transient_disconnect"}"#;
    connection_changed("transitions", None, Some(ConnectionLabel::Connecting));
    connection_changed(
        "transitions",
        Some(ConnectionLabel::Connecting),
        Some(ConnectionLabel::Connected),
    );
    connection_changed(
        "transitions",
        Some(ConnectionLabel::Connected),
        Some(ConnectionLabel::Connected),
    );
    let text = encode();
    assert_eq!(sample(&text, connected), 1.0);
    connection_changed(
        "transitions",
        Some(ConnectionLabel::Connected),
        Some(ConnectionLabel::TransientDisconnect),
    );
    let text = encode();
    assert_eq!(sample(&text, connected), 0.0);
    assert_eq!(sample(&text, down), 1.0);
    connection_changed(
        "transitions",
        Some(ConnectionLabel::TransientDisconnect),
        None,
    );
    assert_eq!(sample(&encode(), down), 0.0);
    assert_eq!(
        ConnectionLabel::from_label("bad_credentials"),
        Some(ConnectionLabel::BadCredentials)
    );
    assert_eq!(ConnectionLabel::from_label("nonsense"), None);
}

#[tokio::test]
async fn metrics_endpoint_serves_the_text_format() {
    let ready = Ready::new(client(&closed_address()), store().await);
    transaction(TransactionOutcome::Accepted);
    let (status, content_type, body) = get_path(metrics_routes(ready), "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some(CONTENT_TYPE));
    assert!(
        sample(
            &body,
            r#"ferrybridge_transactions_total{outcome="accepted"}"#
        ) >= 1.0
    );
}

#[tokio::test]
async fn health_is_ok_even_when_nothing_else_is() {
    let ready = Ready::new(client(&closed_address()), store().await);
    let (status, _, body) = get_path(metrics_routes(ready), "/health").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn ready_when_homeserver_database_and_network_answer() {
    let (base, _server) = versions_server().await;
    let ready = Ready::new(client(&base), store().await);
    let (status, _, body) = get_path(probe_routes(ready), "/ready").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ready"], true);
    assert_eq!(report["failed"], serde_json::json!([]));
    assert_eq!(report["checks"]["homeserver"], "ok");
}

#[tokio::test]
async fn ready_is_503_naming_an_unreachable_homeserver() {
    let ready = Ready::new(client(&closed_address()), store().await);
    let (status, _, body) = get_path(probe_routes(ready), "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["ready"], false);
    assert_eq!(report["failed"], serde_json::json!(["homeserver"]));
    let why = report["checks"]["homeserver"].as_str().unwrap();
    assert!(why.contains("unreachable"), "{why}");
    assert_eq!(report["checks"]["database"], "ok");
    assert_eq!(report["checks"]["network"], "ok");
}

#[tokio::test]
async fn ready_is_503_naming_a_closed_database() {
    let store = store().await;
    let (base, _server) = versions_server().await;
    let ready = Ready::new(client(&base), store.clone());
    store.close().await;
    let (status, _, body) = get_path(probe_routes(ready), "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["failed"], serde_json::json!(["database"]));
}

#[tokio::test]
async fn ready_asks_the_network_hook_every_time() {
    let (base, _server) = versions_server().await;
    let ready = Ready::new(client(&base), store().await);
    ready.set_network(std::sync::Arc::new(|| Err("IRC: connecting".to_owned())));
    let (status, _, body) = get_path(probe_routes(ready.clone()), "/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["failed"], serde_json::json!(["network"]));
    assert_eq!(report["checks"]["network"], "IRC: connecting");
    // Not cached: the network answers from memory.
    ready.set_network(std::sync::Arc::new(AlwaysReady));
    let (status, _, _) = get_path(probe_routes(ready), "/ready").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn homeserver_result_is_cached_for_a_few_seconds() {
    let (base, server) = versions_server().await;
    let ready = Ready::new(client(&base), store().await);
    assert!(ready.report().await.ready);
    server.stop().await;
    // Within the cache window the last answer stands; after it the outage shows.
    assert!(ready.report().await.ready);
    tokio::time::sleep(CACHE_TTL + Duration::from_millis(100)).await;
    let report = ready.report().await;
    assert_eq!(report.failed, [Check::Homeserver], "{report:?}");
}

#[tokio::test]
async fn serve_is_off_unless_enabled_and_serves_when_enabled() {
    let ready = Ready::new(client(&closed_address()), store().await);
    let off = crate::config::MetricsConfig::default();
    assert!(serve(&off, ready.clone()).await.unwrap().is_none());

    let on = crate::config::MetricsConfig {
        enabled: true,
        listen: "127.0.0.1:0".into(),
    };
    let server = serve(&on, ready.clone()).await.unwrap().unwrap();
    let addr = server.local_addr();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");

    let taken = crate::config::MetricsConfig {
        enabled: true,
        listen: addr.to_string(),
    };
    let err = serve(&taken, ready).await.unwrap_err();
    assert_eq!(err.addr, addr.to_string());
    drop(server);
}
