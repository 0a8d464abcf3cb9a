//! Pieces every relay benchmark uses (`irc_relay_bench`, `xmpp_relay_bench`): transactions PUT
//! to the appservice endpoint, numbered message events, latency percentiles and the homeserver
//! side of latency runs, memory and CPU readings.

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

/// CPU seconds (user + system) used so far by process `pid` ("self" for this one); 0 when
/// `/proc` cannot tell (the process ended).
pub fn cpu_secs(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces): utime and stime are the
            // 12th and 13th, in clock ticks (100 per second on Linux).
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

/// CPU used by this process (bridge, stand-in homeserver and the benchmark's own clients) and
/// by the peer server during a phase, so a benchmark can say which side is the limit.
pub struct PhaseCpu {
    peer_name: &'static str,
    peer_pid: String,
    this: f64,
    peer: f64,
}

impl PhaseCpu {
    /// Starts counting; `peer_name` labels the peer server `peer_pid` in the report.
    pub fn begin(peer_name: &'static str, peer_pid: u32) -> Self {
        let peer_pid = peer_pid.to_string();
        Self {
            peer_name,
            this: cpu_secs("self"),
            peer: cpu_secs(&peer_pid),
            peer_pid,
        }
    }

    /// CPU since [`PhaseCpu::begin`], in total and per message.
    pub fn report(&self, messages: usize) -> String {
        let this = cpu_secs("self") - self.this;
        let peer = cpu_secs(&self.peer_pid) - self.peer;
        let per = |s: f64| s * 1000.0 / messages.max(1) as f64;
        format!(
            "CPU: this process {this:.1} s ({:.3} ms/msg), {} {peer:.1} s ({:.3} ms/msg)",
            per(this),
            self.peer_name,
            per(peer)
        )
    }
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
