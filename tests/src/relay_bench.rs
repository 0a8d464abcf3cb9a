//! Pieces every relay benchmark uses (`irc_relay_bench`, `xmpp_relay_bench`): transactions PUT
//! to the appservice endpoint, numbered message events, latency percentiles and the homeserver
//! side of latency runs, memory readings.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bench_hs::BenchHomeserver;

/// Resident memory of this process in KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4)
        .unwrap_or(0)
}

/// Polls `done` every millisecond; panics with `what` after `limit` (a benchmark that stalls is
/// broken, not slow).
pub async fn wait_for(what: &str, done: impl Fn() -> bool, limit: Duration) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// p50 and p99 in milliseconds, and the sample count.
pub fn percentiles(mut v: Vec<Duration>) -> (f64, f64, usize) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = v.len();
    assert!(n > 0, "no latency samples");
    (ms(v[n / 2]), ms(v[(n * 99 / 100).min(n - 1)]), n)
}

/// A unique event ID for a benchmark event.
pub fn event_id(tag: &str) -> String {
    format!("$bench-{tag}-{}", uuid::Uuid::new_v4().simple())
}

/// An `m.text` message from `@bench<sender>:localhost` in `room`.
pub fn message(i: usize, sender: usize, room: &str, body: String) -> Value {
    json!({"event_id": event_id(&i.to_string()), "room_id": room,
           "sender": format!("@bench{sender}:localhost"), "type": "m.room.message",
           "origin_server_ts": 0, "content": {"msgtype": "m.text", "body": body}})
}

/// PUTs transactions to a bridge's appservice endpoint, as a homeserver would.
#[derive(Clone)]
pub struct Transactions {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Transactions {
    /// For the appservice listening on `port` with `hs_token`.
    pub fn new(port: u16, hs_token: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: format!("http://127.0.0.1:{port}/_matrix/app/v1/transactions"),
            token: hs_token.to_owned(),
        }
    }

    /// Sends one transaction; panics if the bridge refuses it.
    pub fn put(
        &self,
        id: String,
        events: Vec<Value>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let this = self.clone();
        async move {
            let resp = this
                .client
                .put(format!("{}/{id}", this.url))
                .bearer_auth(&this.token)
                .json(&json!({ "events": events }))
                .send()
                .await
                .expect("transaction PUT");
            assert!(
                resp.status().is_success(),
                "transaction refused: {}",
                resp.status()
            );
        }
    }
}

/// The homeserver half of a network → Matrix latency run: messages whose body is `lat <i>`,
/// sent at `sent_at[i]`. Waits until all have arrived, then returns their latencies.
pub async fn homeserver_latencies(
    hs: &BenchHomeserver,
    sent_at: &[Option<Instant>],
    what: &str,
) -> Vec<Duration> {
    let recorded = || {
        hs.counters
            .recorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, b)| b["body"].as_str().is_some_and(|t| t.starts_with("lat ")))
            .count()
    };
    wait_for(
        what,
        || recorded() >= sent_at.len(),
        Duration::from_secs(60),
    )
    .await;
    hs.record(false);
    hs.take_recorded()
        .iter()
        .filter_map(|(at, b)| {
            let i: usize = b["body"].as_str()?.strip_prefix("lat ")?.parse().ok()?;
            Some(at.duration_since(sent_at.get(i).copied().flatten()?))
        })
        .collect()
}
