//! IRC bridge relay benchmark (ignored by default; run with
//! `cargo test -p ferrybridge-tests --release --test irc_relay_bench -- --ignored --nocapture`):
//! relay throughput Matrix → IRC and IRC → Matrix in messages/s, and the latency the relay adds
//! (p50/p99), against a real InspIRCd (flood limits off in `scripts/start-ircd.sh`) and the
//! stand-in homeserver of `ferrybridge_tests::bench_hs` (Synapse cannot take thousands of
//! messages a second on two cores).
//!
//! * Matrix → IRC: transactions PUT straight to the appservice endpoint, as a homeserver would;
//!   10 Matrix senders (10 puppets, connected and joined beforehand); a raw IRC client in the
//!   channel counts the PRIVMSGs. The bridge's own per-connection flood control is raised
//!   (`flood.burst` / `flood.per_second`) so it does not pace the run.
//! * IRC → Matrix: 5 raw IRC clients send PRIVMSGs to the channel; the bridge's listening bot
//!   relays them; the clock stops when the stand-in homeserver has received every send.
//! * Latency: 100 msg/s for 5 s each way, each message numbered; send time (PUT / IRC write) to
//!   arrival time (raw IRC read / homeserver receive). It includes InspIRCd's own relay time.
//!
//! `FB_BENCH_MESSAGES` sets the throughput message count (default 20000).

#[path = "irc/listener.rs"]
#[allow(dead_code)]
mod listener;
#[path = "irc/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::{Config, NetworkConfig, Tokens, example_config, parse_config_with};
use ferrybridge_core::ids::PortalKey;
use ferrybridge_irc::{IrcBridge, IrcConfig};
use ferrybridge_tests::bench_hs::BenchHomeserver;
use ferrybridge_tests::free_port;
use ferrybridge_tests::relay_bench::{
    PhaseCpu, Transactions, homeserver_latencies, message, percentiles, wait_for,
};
use listener::Listener;
use support::Ircd;

const CHANNEL: &str = "#bench";
const SENDERS: usize = 10;
const TALKERS: usize = 5;
const FLOOD: u32 = 1_000_000;

fn config(irc_port: u16, hs: &BenchHomeserver, dir: &std::path::Path) -> Config<IrcConfig> {
    let text = ferrybridge_core::cli::fill_secrets(&example_config(
        &IrcBridge::info(),
        &IrcConfig::example_yaml(),
    ));
    let mut config = parse_config_with::<IrcConfig>(&text, Tokens::Required).unwrap();
    let port = free_port().unwrap();
    config.appservice.port = port;
    config.appservice.address = format!("http://127.0.0.1:{port}").parse().unwrap();
    config.homeserver.address = hs.url().parse().unwrap();
    config.homeserver.domain = "localhost".into();
    config.database.uri = format!("sqlite://{}", dir.join("bridge.db").display());
    config.logging.level = "warn".into();
    let server = config.network.servers.get_mut("localhost").unwrap();
    server.address = "127.0.0.1".into();
    server.port = Some(irc_port);
    server.flood.burst = FLOOD;
    server.flood.per_second = f64::from(FLOOD);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn relay_throughput_and_latency() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::var("FB_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let ircd = Ircd::start().unwrap();
    let hs = BenchHomeserver::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(ircd.port, &hs, dir.path());
    let running = ferrybridge_core::start_with(config.clone(), IrcBridge::init)
        .await
        .unwrap();
    let irc = running.network().clone();
    let net = irc.networks.get("localhost").unwrap().clone();
    let key = PortalKey::shared(ferrybridge_irc::ids::chat_id("localhost", CHANNEL));
    let portal = running
        .host()
        .portals()
        .get_or_create(&key, &*irc)
        .await
        .unwrap();
    let room = portal.room_id().to_string();
    wait_for(
        "the bot in the channel",
        || net.bot.get().is_some_and(|b| b.in_channel(CHANNEL)),
        Duration::from_secs(60),
    )
    .await;
    let watcher = Listener::connect(ircd.port, "watcher", CHANNEL)
        .await
        .unwrap();
    let mut talkers = Vec::new();
    for t in 0..TALKERS {
        talkers.push(
            Listener::connect(ircd.port, &format!("talker{t}"), CHANNEL)
                .await
                .unwrap(),
        );
    }
    println!(
        "IRC relay benchmark: {n} messages each way, SQLite store, InspIRCd 3 + stand-in \
         homeserver, bridge flood control raised to burst={FLOOD} per_second={FLOOD}"
    );

    let txns = Transactions::new(config.appservice.port, &config.appservice.hs_token);
    let put = |id: String, events: Vec<serde_json::Value>| txns.put(id, events);

    // Warm-up (not measured): every sender's puppet connects and joins; every talker's ghost
    // is created.
    let warm: Vec<_> = (0..SENDERS)
        .map(|s| message(s, s, &room, format!("hello from {s}")))
        .collect();
    put("warm".into(), warm).await;
    wait_for(
        "the puppets' first messages",
        || watcher.count() >= SENDERS as u64,
        Duration::from_secs(120),
    )
    .await;
    for (t, talker) in talkers.iter().enumerate() {
        talker
            .say([format!("hello from talker {t}")])
            .await
            .unwrap();
    }
    wait_for(
        "the talkers' first messages",
        || hs.sent() >= TALKERS as u64,
        Duration::from_secs(60),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Matrix → IRC throughput, 50-event transactions.
    let base = watcher.count();
    let inspircd = *ircd.pids().first().expect("InspIRCd is running");
    let used = PhaseCpu::begin("InspIRCd", inspircd);
    let start = Instant::now();
    for (t, chunk) in (0..n).collect::<Vec<_>>().chunks(50).enumerate() {
        let events = chunk
            .iter()
            .map(|&i| message(i, i % SENDERS, &room, format!("mx {i}")))
            .collect();
        put(format!("t{t}"), events).await;
    }
    let accepted = start.elapsed().as_secs_f64();
    wait_for(
        "Matrix → IRC messages",
        || watcher.count() >= base + n as u64,
        Duration::from_secs(600),
    )
    .await;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "BENCH irc matrix_to_irc_throughput={:.0} msg/s ({n} messages in 50-event transactions \
         from {SENDERS} puppets, all on IRC in {secs:.2} s; transactions accepted in {accepted:.2} s; \
         {})",
        n as f64 / secs,
        used.report(n)
    );

    // IRC → Matrix throughput: TALKERS clients write their share as fast as they can.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = hs.sent();
    let used = PhaseCpu::begin("InspIRCd", inspircd);
    let start = Instant::now();
    let mut writes = Vec::new();
    for (t, talker) in talkers.iter().enumerate() {
        let texts: Vec<String> = (t..n)
            .step_by(TALKERS)
            .map(|i| format!("irc {i}"))
            .collect();
        writes.push(talker.say(texts));
    }
    for w in writes {
        w.await.unwrap();
    }
    wait_for(
        "IRC → Matrix messages",
        || hs.sent() >= before + n as u64,
        Duration::from_secs(600),
    )
    .await;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "BENCH irc irc_to_matrix_throughput={:.0} msg/s ({n} messages from {TALKERS} IRC \
         clients, all at the homeserver in {secs:.2} s; {})",
        n as f64 / secs,
        used.report(n)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Matrix → IRC latency: 100 msg/s for 5 s, one event per transaction.
    let lat_n = 500;
    watcher.got.lock().unwrap().clear();
    let mut sent_at = vec![None; lat_n];
    let mut tasks = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for (i, at) in sent_at.iter_mut().enumerate() {
        tick.tick().await;
        *at = Some(Instant::now());
        let ev = message(i, i % SENDERS, &room, format!("lat {i}"));
        tasks.push(tokio::spawn(put(format!("l{i}"), vec![ev])));
    }
    for t in tasks {
        t.await.unwrap();
    }
    wait_for(
        "the paced Matrix → IRC messages",
        || {
            watcher
                .got
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, t)| t.starts_with("lat "))
                .count()
                >= lat_n
        },
        Duration::from_secs(60),
    )
    .await;
    let samples: Vec<Duration> = watcher
        .got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(at, t)| {
            let i: usize = t.strip_prefix("lat ")?.parse().ok()?;
            Some(at.duration_since(sent_at.get(i).copied().flatten()?))
        })
        .collect();
    let (p50, p99, k) = percentiles(samples);
    println!(
        "BENCH irc matrix_to_irc_latency p50={p50:.2}ms p99={p99:.2}ms ({k} messages at 100/s, \
         one per transaction; PUT start to raw IRC client read, InspIRCd relay included)"
    );

    // IRC → Matrix latency: 100 msg/s for 5 s from one talker.
    hs.take_recorded();
    hs.record(true);
    let mut sent_at = vec![None; lat_n];
    for (i, at) in sent_at.iter_mut().enumerate() {
        tick.tick().await;
        *at = Some(Instant::now());
        talkers[i % TALKERS]
            .say([format!("lat {i}")])
            .await
            .unwrap();
    }
    let samples = homeserver_latencies(&hs, &sent_at, "the paced IRC → Matrix messages").await;
    let (p50, p99, k) = percentiles(samples);
    println!(
        "BENCH irc irc_to_matrix_latency p50={p50:.2}ms p99={p99:.2}ms ({k} messages at 100/s; \
         IRC write to homeserver receive, InspIRCd relay included)"
    );

    running.stop().await;
    drop(ircd);
}
