//! What the benchmarks in `benches/` share: the echo bridge's config against the stand-in
//! homeserver, a quiet echo network, waiting, and the process's memory and CPU.

use std::time::{Duration, Instant};

use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::cli::fill_secrets;
use ferrybridge_core::config::{Config, NetworkConfig, Tokens, example_config, parse_config_with};
use ferrybridge_tests::echo::{EchoBridge, EchoConfig};

/// The echo bridge's example config pointed at the stand-in homeserver `hs_url`, listening on
/// `port`, its SQLite file in `dir`, logging only `level`.
pub fn echo_config(
    hs_url: &str,
    port: u16,
    dir: &std::path::Path,
    level: &str,
) -> anyhow::Result<Config<EchoConfig>> {
    let text = fill_secrets(&example_config(
        &EchoBridge::info(),
        &EchoConfig::example_yaml(),
    ));
    let mut config: Config<EchoConfig> = parse_config_with(&text, Tokens::Required)?;
    config.homeserver.address = hs_url.parse()?;
    config.homeserver.domain = "bench".into();
    config.appservice.port = port;
    config.database.uri = format!("sqlite://{}/bench.db", dir.display());
    config.logging.level = level.into();
    Ok(config)
}

/// An echo network that answers nothing and fails nothing: the bridge's cost alone.
pub fn quiet_echo() -> EchoConfig {
    EchoConfig {
        fail_word: "\u{0}never".into(),
        bot_in_groups: true,
        echo: false,
        connect_delay_ms: 0,
        delivery_ms: 0,
        history: 0,
        history_fails: false,
    }
}

/// Waits until `done`, polling every 2 ms; an error after `limit`.
pub async fn wait(done: impl Fn() -> bool, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while !done() {
        anyhow::ensure!(start.elapsed() < limit, "timed out");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// Resident memory of this process in KiB (Linux).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of this process so far, in seconds (Linux).
pub fn cpu_secs() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0.0);
    ticks / 100.0
}

/// A measured stretch of a benchmark: CPU and homeserver requests from its start, printed per
/// message by [`Phase::report`].
pub struct Phase {
    cpu: f64,
    requests: std::collections::BTreeMap<String, u64>,
    db: std::collections::BTreeMap<String, u64>,
}

/// Store calls so far by operation, from the bridge's own metrics (one process).
fn db_calls() -> std::collections::BTreeMap<String, u64> {
    let prefix = "ferrybridge_db_query_duration_seconds_count{op=\"";
    ferrybridge_core::metrics::encode()
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(prefix)?;
            let (op, value) = rest.split_once("\"}")?;
            let n = value.trim().parse::<f64>().ok()? as u64;
            Some((op.to_owned(), n))
        })
        .collect()
}

/// What grew between two counts, biggest first.
fn grown(
    before: &std::collections::BTreeMap<String, u64>,
    now: std::collections::BTreeMap<String, u64>,
) -> Vec<(String, u64)> {
    let mut kinds: Vec<(String, u64)> = now
        .into_iter()
        .map(|(k, v)| {
            let b = before.get(&k).copied().unwrap_or(0);
            (k, v.saturating_sub(b))
        })
        .filter(|(_, v)| *v > 0)
        .collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1));
    kinds
}

/// `total [kind n, …]` per message.
fn per_message(kinds: &[(String, u64)], n: f64) -> String {
    let total: u64 = kinds.iter().map(|(_, v)| v).sum();
    let detail: Vec<String> = kinds
        .iter()
        .take(6)
        .map(|(k, v)| format!("{k} {:.3}", *v as f64 / n))
        .collect();
    format!("{:.3} [{}]", total as f64 / n, detail.join(", "))
}

impl Phase {
    /// Starts counting now.
    pub fn begin(hs: &ferrybridge_tests::bench_hs::BenchHomeserver) -> Self {
        Self {
            cpu: cpu_secs(),
            requests: hs.requests_by_kind(),
            db: db_calls(),
        }
    }

    /// Prints CPU per message (the whole process: bridge, stand-in homeserver and driver),
    /// homeserver requests and store calls per message, by kind, over `messages`.
    pub fn report(&self, hs: &ferrybridge_tests::bench_hs::BenchHomeserver, messages: usize) {
        let n = messages.max(1) as f64;
        let cpu_ms = (cpu_secs() - self.cpu) * 1000.0 / n;
        let requests = grown(&self.requests, hs.requests_by_kind());
        let db = grown(&self.db, db_calls());
        println!("    {cpu_ms:.3} ms CPU/msg (whole process)");
        println!("    homeserver requests/msg {}", per_message(&requests, n));
        println!("    store calls/msg {}", per_message(&db, n));
    }
}
