//! XMPP bridge relay benchmark (ignored by default; run with
//! `cargo test --workspace --release --test xmpp_relay_bench -- --ignored --nocapture`):
//! relay throughput Matrix → MUC and MUC → Matrix in messages/s, the latency the relay adds
//! (p50/p99), and the memory of Matrix users joined to MUCs as puppets, against a real Prosody
//! (the harness's, through the real XEP-0114 component) and the stand-in homeserver of
//! `ferrybridge_tests::bench_hs` (Synapse cannot take thousands of messages a second on two
//! cores).
//!
//! * Puppet memory (first, so the baseline is the idle bridge): `FB_BENCH_PUPPETS` (default
//!   1,000) Matrix users join 10 MUC portals (membership events PUT to the appservice); the
//!   clock stops when a raw XMPP observer in those MUCs has seen every puppet's presence; RSS
//!   of this process (bridge + stand-in homeserver) before and after.
//! * Matrix → MUC: transactions of 50 events PUT straight to the appservice endpoint, as a
//!   homeserver would, from 10 Matrix senders (10 puppet occupants, joined beforehand); a raw
//!   XMPP occupant of the MUC counts the groupchat messages.
//! * MUC → Matrix: 5 raw XMPP occupants send groupchat messages; the clock stops when the
//!   stand-in homeserver has received every send. (Prosody gives every occupant a copy, so the
//!   component receives each message once per puppet in the room: 10 copies.)
//! * Latency: 100 msg/s for 5 s each way, each message numbered; send time (PUT / XMPP write)
//!   to arrival time (raw occupant read / homeserver receive). Prosody's own routing is
//!   included.
//!
//! * CPU: seconds used by this process (bridge, stand-in homeserver and the raw occupants) and
//!   by Prosody during each throughput phase, to tell who the bottleneck is.
//!
//! `FB_BENCH_MESSAGES` sets the throughput message count (default 20,000), `FB_BENCH_SENDERS`
//! and `FB_BENCH_TALKERS` the Matrix senders and XMPP talkers (default 10 and 5; with the
//! watcher, the MUC has senders + talkers + 1 occupants, Prosody's fan-out per message).

use std::time::{Duration, Instant};

use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::{Config, NetworkConfig, Tokens, example_config, parse_config_with};
use ferrybridge_core::ids::PortalKey;
use ferrybridge_tests::bench_hs::BenchHomeserver;
use ferrybridge_tests::free_port;
use ferrybridge_tests::relay_bench::{
    PhaseCpu, Transactions, event_id, homeserver_latencies, message, percentiles, rss_kib, wait_for,
};
use ferrybridge_tests::xmpp::{Occupant, Prosody, SECRET};
use ferrybridge_xmpp::{XmppBridge, XmppConfig};
use serde_json::json;

const ROOM: &str = "bench@conference.localhost";
const PUPPET_ROOMS: usize = 10;

fn member_join(user: &str, room: &str) -> serde_json::Value {
    json!({"event_id": event_id("join"), "room_id": room, "sender": user, "state_key": user,
           "type": "m.room.member", "origin_server_ts": 0,
           "content": {"membership": "join"}})
}

fn config(prosody: &Prosody, hs: &BenchHomeserver, dir: &std::path::Path) -> Config<XmppConfig> {
    let text = ferrybridge_core::cli::fill_secrets(&example_config(
        &XmppBridge::info(),
        &XmppConfig::example_yaml(),
    ));
    let mut config = parse_config_with::<XmppConfig>(&text, Tokens::Required).unwrap();
    let port = free_port().unwrap();
    config.appservice.port = port;
    config.appservice.address = format!("http://127.0.0.1:{port}").parse().unwrap();
    config.homeserver.address = hs.url().parse().unwrap();
    config.homeserver.domain = "localhost".into();
    config.database.uri = format!("sqlite://{}", dir.join("bridge.db").display());
    config.logging.level = "warn".into();
    config.network.component.secret = SECRET.into();
    config.network.component.server = format!("127.0.0.1:{}", prosody.component);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn relay_throughput_latency_and_puppet_memory() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = env("FB_BENCH_MESSAGES", 20_000);
    let puppets = env("FB_BENCH_PUPPETS", 1_000);
    // Matrix senders (each a puppet occupant) and XMPP talkers in the benchmark MUC. Prosody
    // delivers each message to every occupant, so these set its fan-out.
    let senders = env("FB_BENCH_SENDERS", 10).max(1);
    let n_talkers = env("FB_BENCH_TALKERS", 5).max(1);
    let prosody = Prosody::start().await.unwrap();
    let hs = BenchHomeserver::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&prosody, &hs, dir.path());
    let running = ferrybridge_core::start_with(config.clone(), XmppBridge::init)
        .await
        .unwrap();
    let portals = running.host().portals();
    let room = portals
        .get_or_create(&PortalKey::shared(ROOM), &**running.network())
        .await
        .unwrap()
        .room_id()
        .to_string();
    println!(
        "XMPP relay benchmark: {n} messages each way, SQLite store, Prosody 0.12 (component \
         connection) + stand-in homeserver"
    );

    let txns = Transactions::new(config.appservice.port, &config.appservice.hs_token);
    let put = |id: String, events: Vec<serde_json::Value>| txns.put(id, events);

    // Puppet memory: the idle bridge, then `puppets` Matrix users joined to PUPPET_ROOMS MUCs.
    if puppets > 0 {
        let mucs: Vec<String> = (0..PUPPET_ROOMS)
            .map(|r| format!("puppets{r}@conference.localhost"))
            .collect();
        let observer = Occupant::join(prosody.c2s, "observer", "observer", &mucs)
            .await
            .unwrap();
        let mut rooms = Vec::new();
        for muc in &mucs {
            let portal = portals
                .get_or_create(&PortalKey::shared(muc.as_str()), &**running.network())
                .await
                .unwrap();
            rooms.push(portal.room_id().to_string());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = rss_kib();
        let start = Instant::now();
        let joins: Vec<_> = (0..puppets)
            .map(|i| member_join(&format!("@puppet{i}:localhost"), &rooms[i % PUPPET_ROOMS]))
            .collect();
        for (t, chunk) in joins.chunks(100).enumerate() {
            put(format!("join{t}"), chunk.to_vec()).await;
        }
        wait_for(
            "every puppet's presence in the MUCs",
            || observer.present() >= puppets,
            Duration::from_secs(600),
        )
        .await;
        let secs = start.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib();
        let per = after.saturating_sub(idle) as f64 / puppets as f64;
        println!(
            "BENCH xmpp puppet_memory={per:.1} KiB/puppet ({puppets} Matrix users joined to \
             {PUPPET_ROOMS} MUCs through the component in {secs:.1} s; process RSS {} MiB idle \
             → {} MiB, bridge and stand-in homeserver)",
            idle / 1024,
            after / 1024
        );
    }

    let watcher = Occupant::join(prosody.c2s, "watcher", "watcher", &[ROOM.into()])
        .await
        .unwrap();
    let mut talkers = Vec::new();
    for t in 0..n_talkers {
        let nick = format!("talker{t}");
        talkers.push(
            Occupant::join(prosody.c2s, &nick, &nick, &[ROOM.into()])
                .await
                .unwrap(),
        );
    }

    // Warm-up (not measured): every sender's puppet joins the MUC; every talker's ghost is
    // created.
    let warm: Vec<_> = (0..senders)
        .map(|s| message(s, s, &room, format!("hello from {s}")))
        .collect();
    put("warm".into(), warm).await;
    wait_for(
        "the puppets' first messages",
        || watcher.count() >= senders as u64,
        Duration::from_secs(120),
    )
    .await;
    let before = hs.sent();
    for (t, talker) in talkers.iter().enumerate() {
        talker
            .say(
                ROOM,
                [(format!("warm{t}"), format!("hello from talker {t}"))],
            )
            .await
            .unwrap();
    }
    wait_for(
        "the talkers' first messages",
        || hs.sent() >= before + n_talkers as u64,
        Duration::from_secs(60),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Matrix → MUC throughput, 50-event transactions.
    let base = watcher.count();
    let used = PhaseCpu::begin("Prosody", prosody.pid());
    let start = Instant::now();
    for (t, chunk) in (0..n).collect::<Vec<_>>().chunks(50).enumerate() {
        let events = chunk
            .iter()
            .map(|&i| message(i, i % senders, &room, format!("mx {i}")))
            .collect();
        put(format!("t{t}"), events).await;
    }
    let accepted = start.elapsed().as_secs_f64();
    wait_for(
        "Matrix → MUC messages",
        || watcher.count() >= base + n as u64,
        Duration::from_secs(600),
    )
    .await;
    let secs = start.elapsed().as_secs_f64();
    // The room echoes every message to each puppet: the bridge may still be reading those
    // echoes. A talker's message reaches the homeserver only after all of them (one ordered
    // component stream), so its arrival marks the end of the bridge's work.
    let before = hs.sent();
    talkers[0]
        .say(ROOM, [("drain1".to_owned(), "drain".to_owned())])
        .await
        .unwrap();
    wait_for(
        "the bridge to read the room's echoes",
        || hs.sent() > before,
        Duration::from_secs(600),
    )
    .await;
    let drained = start.elapsed().as_secs_f64();
    println!(
        "BENCH xmpp matrix_to_muc_throughput={:.0} msg/s ({n} messages in 50-event transactions \
         from {senders} puppets, all at a MUC occupant in {secs:.2} s; transactions accepted in \
         {accepted:.2} s; the bridge done reading the room's {senders} echoes of each in \
         {drained:.2} s = {:.0} msg/s; {})",
        n as f64 / secs,
        n as f64 / drained,
        used.report(n)
    );

    // MUC → Matrix throughput: the talkers write their share as fast as they can.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = hs.sent();
    let used = PhaseCpu::begin("Prosody", prosody.pid());
    let start = Instant::now();
    let mut writes = Vec::new();
    for (t, talker) in talkers.iter().enumerate() {
        let texts: Vec<(String, String)> = (t..n)
            .step_by(n_talkers)
            .map(|i| (format!("x{i}"), format!("xmpp {i}")))
            .collect();
        writes.push(tokio::spawn(talker.say(ROOM, texts)));
    }
    for w in writes {
        w.await.unwrap().unwrap();
    }
    wait_for(
        "MUC → Matrix messages",
        || hs.sent() >= before + n as u64,
        Duration::from_secs(600),
    )
    .await;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "BENCH xmpp muc_to_matrix_throughput={:.0} msg/s ({n} messages from {n_talkers} MUC \
         occupants, all at the homeserver in {secs:.2} s; {})",
        n as f64 / secs,
        used.report(n)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Matrix → MUC latency: 100 msg/s for 5 s, one event per transaction.
    let lat_n = 500;
    watcher.seen.bodies.lock().unwrap().clear();
    let mut sent_at = vec![None; lat_n];
    let mut tasks = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    for (i, at) in sent_at.iter_mut().enumerate() {
        tick.tick().await;
        *at = Some(Instant::now());
        let ev = message(i, i % senders, &room, format!("lat {i}"));
        tasks.push(tokio::spawn(put(format!("l{i}"), vec![ev])));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let lat_bodies = || {
        watcher
            .seen
            .bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, t)| t.starts_with("lat "))
            .count()
    };
    wait_for(
        "the paced Matrix → MUC messages",
        || lat_bodies() >= lat_n,
        Duration::from_secs(60),
    )
    .await;
    let samples: Vec<Duration> = watcher
        .seen
        .bodies
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
        "BENCH xmpp matrix_to_muc_latency p50={p50:.2}ms p99={p99:.2}ms ({k} messages at 100/s, \
         one per transaction; PUT start to raw occupant read, Prosody's MUC routing included)"
    );

    // MUC → Matrix latency: 100 msg/s for 5 s, the talkers in turn.
    hs.take_recorded();
    hs.record(true);
    let mut sent_at = vec![None; lat_n];
    for (i, at) in sent_at.iter_mut().enumerate() {
        tick.tick().await;
        *at = Some(Instant::now());
        talkers[i % n_talkers]
            .say(ROOM, [(format!("l{i}"), format!("lat {i}"))])
            .await
            .unwrap();
    }
    let samples = homeserver_latencies(&hs, &sent_at, "the paced MUC → Matrix messages").await;
    let (p50, p99, k) = percentiles(samples);
    println!(
        "BENCH xmpp muc_to_matrix_latency p50={p50:.2}ms p99={p99:.2}ms ({k} messages at 100/s; \
         XMPP write to homeserver receive, Prosody's MUC routing included)"
    );

    running.stop().await;
    drop(prosody);
}
