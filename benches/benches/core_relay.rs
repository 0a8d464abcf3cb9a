//! Relay throughput of the core, both ways, through the loopback echo network, and memory.
//!
//! Matrix → network: transactions are PUT straight to the appservice endpoint (as a homeserver
//! would), and the clock stops when the network has been handed every message. Network →
//! Matrix: the network queues messages and the clock stops when the homeserver has received
//! every send. The homeserver is the stand-in of `ferrybridge_tests::bench_hs`, so the numbers
//! are the bridge's own (store, queues, HTTP), not Synapse's.
//!
//! Run: `cargo bench -p ferrybridge-benches --bench core_relay` (env BENCH_MESSAGES, default 20000;
//! `BENCH_POSTGRES=1` for a fresh PostgreSQL database instead of SQLite).

use std::time::{Duration, Instant};

use ferrybridge_benches::{Phase, rss_kib, wait};
use ferrybridge_core::events::{MessageContent, RemoteEvent, RemoteEventKind};
use ferrybridge_core::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use ferrybridge_tests::bench_hs::BenchHomeserver;
use ferrybridge_tests::echo::EchoBridge;
use ferrybridge_tests::relay_bench::{homeserver_latencies, percentiles};
use serde_json::json;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let hs = BenchHomeserver::start().await?;
    let dir = tempfile::tempdir()?;
    let port = ferrybridge_tests::free_port()?;
    let mut config = ferrybridge_benches::echo_config(&hs.url(), port, dir.path(), "warn")?;
    let postgres = std::env::var("BENCH_POSTGRES").is_ok_and(|v| v == "1");
    let _pg = if postgres {
        let (uri, guard) = ferrybridge_tests::fresh_postgres_db().await?;
        config.database.uri = uri;
        Some(guard)
    } else {
        None
    };
    let rss_idle = rss_kib();
    let echo = ferrybridge_benches::quiet_echo();
    let running = ferrybridge_core::start_with(config.clone(), move |_, host| {
        Ok(EchoBridge::build(echo, host))
    })
    .await?;
    let host = running.host().clone();
    let net = running.network().clone();
    let key = PortalKey::shared("bench");
    let portal = host.portals().get_or_create(&key, &*net).await?;
    let room = portal.room_id().to_string();
    let store = if postgres { "PostgreSQL" } else { "SQLite" };
    println!("core relay benchmark: {n} messages, {store} store, 2-core machine");

    // Matrix → network, in transactions of 50 events (homeservers batch).
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/_matrix/app/v1/transactions");
    let token = config.appservice.hs_token.clone();
    let batch = 50;
    let phase = Phase::begin(&hs);
    let start = Instant::now();
    for (t, chunk) in (0..n).collect::<Vec<_>>().chunks(batch).enumerate() {
        let events: Vec<_> = chunk
            .iter()
            .map(|i| json!({"event_id": format!("$bench-{i}"), "room_id": room, "sender": "@user:bench", "type": "m.room.message",
                             "origin_server_ts": 0, "content": {"msgtype": "m.text", "body": format!("message {i}")}}))
            .collect();
        // Like a homeserver: a 503 (the bridge's queues are full: backpressure) is sent again.
        loop {
            let resp = client
                .put(format!("{url}/b{t}"))
                .bearer_auth(&token)
                .json(&json!({"events": events}))
                .send()
                .await?;
            if resp.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            anyhow::ensure!(
                resp.status().is_success(),
                "transaction refused: {}",
                resp.status()
            );
            break;
        }
    }
    wait(|| net.seen_count() >= n, Duration::from_secs(600)).await?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "matrix -> network: {:>8.0} msg/s  ({n} messages in {batch}-event transactions, {secs:.2} s)",
        n as f64 / secs
    );
    phase.report(&hs, n);

    // Matrix → network, one event per transaction (latency-bound: each waits for its commit).
    let single = n / 10;
    let start = Instant::now();
    for i in 0..single {
        let event = json!({"event_id": format!("$single-{i}"), "room_id": room, "sender": "@user:bench", "type": "m.room.message",
                           "origin_server_ts": 0, "content": {"msgtype": "m.text", "body": "one"}});
        client
            .put(format!("{url}/s{i}"))
            .bearer_auth(&token)
            .json(&json!({"events": [event]}))
            .send()
            .await?;
    }
    wait(|| net.seen_count() >= n + single, Duration::from_secs(600)).await?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "matrix -> network: {:>8.0} txn/s  ({single} single-event transactions, {secs:.2} s)",
        single as f64 / secs
    );

    // Network → Matrix.
    let before = hs.sent();
    let phase = Phase::begin(&hs);
    let start = Instant::now();
    for i in 0..n {
        host.send(RemoteEvent {
            portal: key.clone(),
            kind: RemoteEventKind::Message {
                id: RemoteMessageId::new(format!("r{i}")),
                sender: RemoteUserId::new(format!("user{}", i % 20)),
                content: MessageContent::text(format!("remote {i}")),
                reply_to: None,
                sent_at: None,
            },
        })
        .await;
    }
    wait(|| hs.sent() >= before + n as u64, Duration::from_secs(600)).await?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "network -> matrix: {:>8.0} msg/s  ({n} messages from 20 ghosts, {secs:.2} s)",
        n as f64 / secs
    );
    phase.report(&hs, n);

    // Latency, each way: one message every 2 ms (well below saturation), from hand-over to
    // arrival (the network's delivery call, the homeserver's send).
    let lat_n = 1000;
    let mut sent_at = vec![None; lat_n];
    for (i, slot) in sent_at.iter_mut().enumerate() {
        let event = json!({"event_id": format!("$lat-{i}"), "room_id": room, "sender": "@user:bench", "type": "m.room.message",
                           "origin_server_ts": 0, "content": {"msgtype": "m.text", "body": "lat"}});
        *slot = Some(Instant::now());
        client
            .put(format!("{url}/l{i}"))
            .bearer_auth(&token)
            .json(&json!({"events": [event]}))
            .send()
            .await?;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    wait(
        || net.seen_count() >= n + single + lat_n,
        Duration::from_secs(60),
    )
    .await?;
    let to_network: Vec<Duration> = net
        .seen()
        .iter()
        .filter_map(|s| {
            let i: usize = s
                .event
                .event_id
                .as_str()
                .strip_prefix("$lat-")?
                .parse()
                .ok()?;
            Some(s.at.duration_since(sent_at.get(i).copied().flatten()?))
        })
        .collect();
    let (p50, p99, count) = percentiles(to_network);
    println!(
        "matrix -> network latency: p50 {p50:.2} ms, p99 {p99:.2} ms ({count} single-event transactions, one per 2 ms; includes the synchronous commit)"
    );
    hs.record(true);
    let mut sent_at = vec![None; lat_n];
    for (i, slot) in sent_at.iter_mut().enumerate() {
        *slot = Some(Instant::now());
        host.send(RemoteEvent {
            portal: key.clone(),
            kind: RemoteEventKind::Message {
                id: RemoteMessageId::new(format!("lat{i}")),
                sender: RemoteUserId::new("user0"),
                content: MessageContent::text(format!("lat {i}")),
                reply_to: None,
                sent_at: None,
            },
        })
        .await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let to_matrix = homeserver_latencies(&hs, &sent_at, "latency sends").await;
    let (p50, p99, count) = percentiles(to_matrix);
    println!(
        "network -> matrix latency: p50 {p50:.2} ms, p99 {p99:.2} ms ({count} messages, one per 2 ms)"
    );

    println!(
        "memory: RSS {} MiB idle process, {} MiB after the runs",
        rss_idle / 1024,
        rss_kib() / 1024
    );
    running.stop().await;
    Ok(())
}
