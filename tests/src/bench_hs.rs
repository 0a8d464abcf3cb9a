//! A stand-in homeserver for BENCHMARKS only: it answers every client-server request at once
//! (sends get fresh event IDs, rooms get fresh room IDs) and counts the events sent to it, so a
//! benchmark measures the bridge rather than Synapse (which cannot take thousands of messages a
//! second on two cores). Functional tests always use a real Synapse.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Json};
use serde_json::json;

/// Counters of what the bridge sent.
#[derive(Default)]
pub struct BenchCounters {
    /// Room events sent (`PUT /rooms/{room}/send/...`).
    pub sent: AtomicU64,
    /// Every request.
    pub requests: AtomicU64,
    /// Requests by kind (method and path with IDs left out), for a request budget per message.
    pub by_kind: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Whether to keep the arrival time and body of each send (see [`BenchHomeserver::record`]).
    pub recording: AtomicBool,
    /// `(arrival, body)` of each send while recording, for latency measurements.
    pub recorded: Mutex<Vec<(Instant, serde_json::Value)>>,
    /// The key server of encrypted benchmarks (see `bench_keys`); off unless enabled.
    pub keys: crate::bench_keys::KeyServer,
}

/// A running stand-in homeserver.
pub struct BenchHomeserver {
    pub addr: SocketAddr,
    pub counters: Arc<BenchCounters>,
}

impl BenchHomeserver {
    /// Starts on a free local port.
    pub async fn start() -> anyhow::Result<Self> {
        let counters = Arc::new(BenchCounters::default());
        let app = Router::new().fallback(answer).with_state(counters.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, counters })
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Room events sent so far.
    pub fn sent(&self) -> u64 {
        self.counters.sent.load(Ordering::Relaxed)
    }

    /// Every request so far.
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    /// Requests so far by kind (`PUT rooms/send`, `GET profile`, …).
    pub fn requests_by_kind(&self) -> std::collections::BTreeMap<String, u64> {
        self.counters
            .by_kind
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// From now on, keeps the arrival time and JSON body of every send (off by default: it
    /// costs a body parse per send).
    pub fn record(&self, on: bool) {
        self.counters.recording.store(on, Ordering::Relaxed);
    }

    /// Takes the sends recorded so far.
    pub fn take_recorded(&self) -> Vec<(Instant, serde_json::Value)> {
        std::mem::take(
            &mut *self
                .counters
                .recorded
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }
}

async fn answer(State(counters): State<Arc<BenchCounters>>, req: Request) -> impl IntoResponse {
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_owned();
    *counters
        .by_kind
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(request_kind(req.method().as_str(), &path))
        .or_default() += 1;
    let req = match counters.keys.answer(req).await {
        Ok(answer) => return Json(answer),
        Err(req) => req,
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    if path.contains("/send/") || path.contains("/redact/") {
        if counters.recording.load(Ordering::Relaxed) {
            let at = Instant::now();
            let body = axum::body::to_bytes(req.into_body(), usize::MAX)
                .await
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            counters
                .recorded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((at, body));
        }
        counters.sent.fetch_add(1, Ordering::Relaxed);
        return Json(json!({ "event_id": format!("${id}") }));
    }
    if path.ends_with("/createRoom") {
        return Json(json!({ "room_id": format!("!{id}") }));
    }
    if path.ends_with("/register") {
        return Json(json!({ "user_id": "@registered:bench", "access_token": "x" }));
    }
    if path.ends_with("/capabilities") {
        return Json(
            json!({ "capabilities": { "m.room_versions": { "default": "12", "available": { "12": "stable" } } } }),
        );
    }
    if path.contains("/join") {
        let room = path.split('/').nth_back(1).unwrap_or("!r").to_owned();
        return Json(json!({ "room_id": room }));
    }
    if path.contains("/state/") {
        return Json(json!({ "event_id": format!("${id}") }));
    }
    if path.contains("/upload") {
        return Json(json!({ "content_uri": format!("mxc://bench/{id}") }));
    }
    Json(json!({}))
}

/// A request's kind: its method and the path's fixed words (IDs, which hold `!@$#%:` or are
/// the transaction ID after `send/<type>/`, left out), e.g. `PUT rooms/send/m.room.message`.
pub fn request_kind(method: &str, path: &str) -> String {
    let path = path
        .trim_start_matches("/_matrix/client/")
        .trim_start_matches("/_matrix/media/");
    let mut words: Vec<&str> = Vec::new();
    let mut after_send = 0;
    for word in path.split('/').skip(1) {
        if after_send == 2 {
            break;
        }
        if after_send == 1 {
            after_send = 2;
        }
        if word == "send" {
            after_send = 1;
        }
        let id = word.contains(['!', '@', '$', '#', '%', ':']) || word.is_empty();
        if !id {
            words.push(word);
        }
    }
    format!("{method} {}", words.join("/"))
}

#[cfg(test)]
mod tests {
    use super::request_kind;

    #[test]
    fn kinds_leave_ids_out() {
        assert_eq!(
            request_kind(
                "PUT",
                "/_matrix/client/v3/rooms/!r:hs/send/m.room.message/txn1"
            ),
            "PUT rooms/send/m.room.message"
        );
        assert_eq!(
            request_kind("GET", "/_matrix/client/v3/profile/%40a%3Ahs"),
            "GET profile"
        );
        assert_eq!(
            request_kind(
                "PUT",
                "/_matrix/client/v3/rooms/!r/state/m.room.member/@a:hs"
            ),
            "PUT rooms/state/m.room.member"
        );
    }
}
