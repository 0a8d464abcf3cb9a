//! IRC bridge benchmark (ignored by default; run with
//! `cargo test -p ferrybridge-tests --test irc_bench --release -- --ignored --nocapture`):
//! memory per puppet connection above the idle bridge, the time to connect them, and the time
//! for all of them to reconnect after the IRC server restarts. `FB_BENCH_PUPPETS` sets the count
//! (default 1000).

#[path = "irc/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use ruma::OwnedUserId;
use support::Setup;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn puppet_memory_and_reconnect() {
    let n: usize = std::env::var("FB_BENCH_PUPPETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut setup = Setup::start().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss_kib();
    let users: Vec<OwnedUserId> = (0..n)
        .map(|i| format!("@bench{i}:localhost").try_into().unwrap())
        .collect();
    let net = setup.irc.networks.get("localhost").unwrap().clone();
    let start = Instant::now();
    for u in &users {
        net.ensure_puppet(u).await.unwrap();
    }
    setup.all_registered(&users, Duration::from_secs(600)).await;
    let connect = start.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded = rss_kib();
    let per = (loaded.saturating_sub(idle)) as f64 / n as f64;
    setup.ircd.restart().await.unwrap();
    let restarted = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    setup.all_registered(&users, Duration::from_secs(900)).await;
    let reconnect = restarted.elapsed();
    println!(
        "BENCH puppets={n} idle_rss={idle}KiB loaded_rss={loaded}KiB per_puppet={per:.1}KiB \
         connect_all={:.1}s reconnect_all_after_ircd_restart={:.1}s",
        connect.as_secs_f64(),
        reconnect.as_secs_f64()
    );
    setup.stop().await;
}

/// Matrix users joining one channel portal together (`FB_BENCH_JOINERS`, default 300), through
/// the real Synapse: how long their joins take on Matrix, and until a plain IRC client in the
/// channel has seen every one of their puppets join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn join_storm() {
    use futures::StreamExt;
    let n: usize = std::env::var("FB_BENCH_JOINERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let setup = Setup::start().await.unwrap();
    let mut watcher = support::RawIrc::connect(setup.ircd.port, "stormwatch")
        .await
        .unwrap();
    watcher.join("#storm").await.unwrap();
    let synapse = &setup.synapse;
    let users: Vec<ferrybridge_tests::TestUser> = futures::stream::iter(0..n)
        .map(|i| async move {
            ferrybridge_tests::register_user(synapse, &format!("joiner{i}"), false)
                .await
                .unwrap()
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let alias = "#_irc_localhost_#storm:localhost";
    // The portal exists before the storm (the first join creates it).
    users[0].join(alias).await.unwrap();
    let start = Instant::now();
    futures::stream::iter(&users[1..])
        .map(|u| async move { u.join(alias).await.unwrap() })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let matrix = start.elapsed();
    let mut joined = std::collections::HashSet::new();
    while joined.len() < n {
        let line = watcher
            .expect(|l| l.contains(" JOIN ") && l.contains("#storm"))
            .await
            .unwrap();
        if let Some(nick) = line.strip_prefix(':').and_then(|l| l.split('!').next()) {
            joined.insert(nick.to_owned());
        }
    }
    let irc = start.elapsed();
    println!(
        "BENCH join_storm users={n} matrix_joins={:.1}s all_in_irc_channel={:.1}s",
        matrix.as_secs_f64(),
        irc.as_secs_f64()
    );
    setup.stop().await;
}

/// The homeserver requests the bridge made so far and the seconds they took together (from
/// its own metrics).
fn homeserver_requests() -> (u64, f64) {
    let text = ferrybridge_core::metrics::encode();
    let read = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        read("ferrybridge_homeserver_request_duration_seconds_count") as u64,
        read("ferrybridge_homeserver_request_duration_seconds_sum"),
    )
}

/// CPU time (user + system) of this process in seconds: the bridge, the raw IRC client and the
/// Matrix user's polling (Synapse and InspIRCd are other processes).
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
        })
        .unwrap_or(0.0)
        / 100.0
}

/// IRC → Matrix through the real Synapse (`FB_BENCH_LINES`, default 2000): one IRC user sends
/// lines into a channel portal, PRIVMSG and NOTICE alternating (so nothing could be merged),
/// and the clock stops when a Matrix user in the room sees the last one. Prints messages/s,
/// the bridge's homeserver requests per message and the CPU this process spent per message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn inbound_through_synapse() {
    use ferrybridge_tests::crash::{latest_number, numbered, numbers_in_timeline};
    let n: usize = std::env::var("FB_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let setup = Setup::start().await.unwrap();
    let user = ferrybridge_tests::register_user(&setup.synapse, "reader", false)
        .await
        .unwrap();
    let room = user.join("#_irc_localhost_#flood:localhost").await.unwrap();
    let mut irc = support::RawIrc::connect(setup.ircd.port, "flooder")
        .await
        .unwrap();
    irc.join("#flood").await.unwrap();
    // Warm up: the flooder's ghost exists and is in the room before the clock starts.
    irc.send(&format!("PRIVMSG #flood :{}", numbered("warm", 0)))
        .await
        .unwrap();
    let warm = std::time::Instant::now();
    while latest_number(&user, &room, "warm", 5).await != Some(0) {
        assert!(
            warm.elapsed() < Duration::from_secs(60),
            "warm-up line never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (requests, cpu) = (homeserver_requests(), cpu_secs());
    let start = Instant::now();
    for i in 0..n {
        let verb = if i % 2 == 0 { "PRIVMSG" } else { "NOTICE" };
        irc.send(&format!("{verb} #flood :{}", numbered("line", i)))
            .await
            .unwrap();
    }
    let sent = start.elapsed();
    loop {
        if latest_number(&user, &room, "line", 5).await == Some(n - 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1800),
            "lines stopped arriving"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let now = homeserver_requests();
    let (requests, waited) = (now.0 - requests.0, now.1 - requests.1);
    let cpu = cpu_secs() - cpu;
    let seen = numbers_in_timeline(&user.history(&room).await.unwrap(), "line");
    assert_eq!(
        seen,
        (0..n).collect::<Vec<_>>(),
        "every line once, in order"
    );
    println!(
        "BENCH irc_to_matrix_synapse lines={n} sent_in={:.2}s all_in_matrix={secs:.2}s \
         rate={:.1}msg/s homeserver_requests_per_msg={:.2} homeserver_request_mean={:.1}ms \
         cpu_per_msg={:.3}ms (test process)",
        sent.as_secs_f64(),
        n as f64 / secs,
        requests as f64 / n as f64,
        waited * 1000.0 / requests.max(1) as f64,
        cpu * 1000.0 / n as f64
    );
    setup.stop().await;
}

/// A channel of `FB_BENCH_NICKS` IRC users (default 300) that a Matrix user opens, in each
/// membership mode: how fast the member list becomes joined ghosts through the real Synapse
/// (`full`, at `FB_BENCH_JOINS_PER_SECOND`, default 20), and how many ghosts `lazy` makes when
/// `FB_BENCH_SPEAKERS` (default 5) of them speak.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn big_channel_membership() {
    use ferrybridge_irc::membership::SyncMode;
    use futures::StreamExt;
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (n, rate, speakers) = (
        env("FB_BENCH_NICKS", 300),
        env("FB_BENCH_JOINS_PER_SECOND", 20),
        env("FB_BENCH_SPEAKERS", 5),
    );
    let setup = Setup::start_tuned(|server| {
        server
            .membership
            .channels
            .insert("#lazybig".into(), SyncMode::Lazy);
        server.membership.joins_per_second = rate as f64;
    })
    .await
    .unwrap();
    let port = setup.ircd.port;
    let crowd = |tag: &'static str, channel: &'static str| {
        futures::stream::iter(0..n)
            .map(move |i| async move {
                let mut c = support::RawIrc::connect(port, &format!("{tag}{i}"))
                    .await
                    .unwrap();
                c.join(channel).await.unwrap();
                c
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
    };
    let mut full = crowd("f", "#fullbig").await;
    let mut lazy = crowd("l", "#lazybig").await;
    let user = ferrybridge_tests::register_user(&setup.synapse, "bigwatch", false)
        .await
        .unwrap();
    let ghosts = |room: ruma::OwnedRoomId, prefix: &'static str| {
        let user = &user;
        async move {
            user.joined_members(&room)
                .await
                .map(|m| m.iter().filter(|u| u.as_str().starts_with(prefix)).count())
                .unwrap_or(0)
        }
    };
    let start = Instant::now();
    let full_room = user
        .join("#_irc_localhost_#fullbig:localhost")
        .await
        .unwrap();
    while ghosts(full_room.clone(), "@_irc_localhost_f").await < n {
        assert!(
            start.elapsed() < Duration::from_secs(1800),
            "full channel never filled"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let filled = start.elapsed().as_secs_f64();
    let lazy_room = user
        .join("#_irc_localhost_#lazybig:localhost")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = ghosts(lazy_room.clone(), "@_irc_localhost_l").await;
    for c in lazy.iter_mut().take(speakers) {
        c.send("PRIVMSG #lazybig :hi").await.unwrap();
    }
    let t = Instant::now();
    while ghosts(lazy_room.clone(), "@_irc_localhost_l").await < speakers {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "speakers never joined"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = ghosts(lazy_room.clone(), "@_irc_localhost_l").await;
    println!(
        "BENCH big_channel nicks={n} full: all ghosts joined in {filled:.1}s ({:.1} joins/s, \
         limit {rate}/s); lazy: {before} ghosts before anyone spoke, {after} after {speakers} spoke",
        n as f64 / filled
    );
    full.clear();
    lazy.clear();
    setup.stop().await;
}
