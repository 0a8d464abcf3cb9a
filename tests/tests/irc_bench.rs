//! IRC bridge benchmarks (ignored by default; run one with
//! `cargo test -p ferrybridge-tests --test irc_bench <name> -- --ignored --nocapture`, against
//! the real InspIRCd and, except the first, Synapse; each one's doc comment names its
//! environment variables):
//!
//! * `puppet_memory_and_reconnect`: memory per puppet connection above the idle bridge, the
//!   time to connect them, and the time for all of them to reconnect after the IRC server
//!   restarts (`FB_BENCH_PUPPETS`, default 1000);
//! * `join_storm`: Matrix users joining one portal together, until all are in the IRC channel;
//! * `inbound_through_synapse`: IRC → Matrix lines per second through Synapse;
//! * `big_channel_membership`: Matrix-side joins per second for a big channel, per mode.

#[path = "irc/support.rs"]
#[allow(dead_code)]
mod support;
#[path = "irc/synapse_profile.rs"]
mod synapse_profile;

use std::time::{Duration, Instant};

use ruma::OwnedUserId;
use support::Setup;
use synapse_profile::{synapse_log, synapse_profile};

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

/// Matrix users joining one channel portal together (`FB_BENCH_JOINERS`, default 300, 16 at a
/// time), through the real Synapse: how long their joins take on Matrix, and until a plain IRC
/// client in the channel has seen every one of their puppets join. First the same users join a
/// plain Matrix room the bridge has nothing to do with, the same way: Synapse's own time for
/// the joins, which the bridge cannot beat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn join_storm() {
    use futures::StreamExt;
    let n: usize = std::env::var("FB_BENCH_JOINERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let setup = Setup::start().await.unwrap();
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
    let plain = users[0]
        .create_room(serde_json::json!({"preset": "public_chat"}))
        .await
        .unwrap();
    let baseline = Instant::now();
    futures::stream::iter(&users[1..])
        .map(|u| {
            let plain = plain.to_string();
            async move { u.join(&plain).await.unwrap() }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let baseline = baseline.elapsed();
    // Connected only now: a client that reads nothing while the users register would be
    // pinged out.
    let mut watcher = support::RawIrc::connect(setup.ircd.port, "stormwatch")
        .await
        .unwrap();
    watcher.join("#storm").await.unwrap();
    let alias = "#_irc_localhost_#storm:localhost";
    // The portal exists before the storm (the first join creates it).
    users[0].join(alias).await.unwrap();
    let log_mark = synapse_log(&setup).len();
    let (requests, waited) = homeserver_requests();
    let cpu = cpu_secs();
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
        if let Some(nick) = line.strip_prefix(':').and_then(|l| l.split('!').next())
            && nick != "ferrybridge"
        {
            joined.insert(nick.to_owned());
        }
    }
    let irc = start.elapsed();
    let now = homeserver_requests();
    eprintln!(
        "  the test process (bridge, IRC watcher, Matrix clients) used {:.1} s of CPU; the bridge \
         made {} homeserver requests ({:.1} ms each on average); Synapse's busiest endpoints \
         meanwhile:\n{}",
        cpu_secs() - cpu,
        now.0 - requests,
        (now.1 - waited) * 1000.0 / (now.0 - requests).max(1) as f64,
        synapse_profile(&synapse_log(&setup)[log_mark..])
    );
    println!(
        "BENCH join_storm users={n} plain_room_joins_without_bridge={:.1}s matrix_joins={:.1}s \
         all_in_irc_channel={:.1}s",
        baseline.as_secs_f64(),
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

/// A channel of `FB_BENCH_NICKS` IRC users (default 300) that a Matrix user opens, once per
/// membership mode in `FB_BENCH_MODES` (default `full,half,lazy`), through the real Synapse:
///
/// * `full`, `half`: how fast the member list becomes joined ghosts (the pacer's limit is
///   `FB_BENCH_JOINS_PER_SECOND`, default 20), and how long a line said while they fill takes
///   to reach Matrix;
/// * `lazy`: the ghosts there before anyone speaks, and after `FB_BENCH_SPEAKERS` (default 5)
///   speak, one of them naming another nick.
///
/// The crowd's clients read their sockets and answer PINGs ([`support::IdleIrc`]): clients that
/// did not were pinged out by InspIRCd after 120 s, and their 2,000 QUITs emptied the channel
/// while it filled, so this never finished with 2,000 nicks. `FB_BENCH_CONNECTS` (default 64)
/// crowd clients connect at a time (InspIRCd takes about a second to register each). Every
/// crowd stays connected until the end, so one mode's leaves do not load the next one's run.
/// Each fill prints the bridge's homeserver requests per ghost and Synapse's busiest endpoints
/// (from its access log); `FB_BENCH_DIAG=1` adds the bridge's store timings and Synapse's log
/// of the line said during the fill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn big_channel_membership() {
    use ferrybridge_irc::membership::SyncMode;
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (n, rate, speakers, connects) = (
        env("FB_BENCH_NICKS", 300),
        env("FB_BENCH_JOINS_PER_SECOND", 20),
        env("FB_BENCH_SPEAKERS", 5).max(1),
        env("FB_BENCH_CONNECTS", 64).max(1),
    );
    let modes: Vec<(String, SyncMode)> = std::env::var("FB_BENCH_MODES")
        .unwrap_or_else(|_| "full,half,lazy".into())
        .split(',')
        .map(|m| {
            let mode = serde_norway::from_str(m.trim()).expect("FB_BENCH_MODES: full, half, lazy");
            (m.trim().to_owned(), mode)
        })
        .collect();
    let setup = Setup::start_tuned(|server| {
        for (name, mode) in &modes {
            server
                .membership
                .channels
                .insert(format!("#{name}big"), *mode);
        }
        server.membership.joins_per_second = rate as f64;
    })
    .await
    .unwrap();
    let user = ferrybridge_tests::register_user(&setup.synapse, "bigwatch", false)
        .await
        .unwrap();
    let mut crowds = Vec::new();
    for (name, mode) in &modes {
        let crowd = BigChannel::fill(&setup, name, n, connects).await;
        let report = match mode {
            SyncMode::Lazy => crowd.lazy_run(&user, speakers).await,
            _ => crowd.fill_run(&setup, &user, rate).await,
        };
        println!("BENCH big_channel mode={name} nicks={n} {report}");
        crowds.push(crowd);
    }
    setup.stop().await;
}

/// One channel of the big-channel bench and its crowd.
struct BigChannel {
    channel: String,
    alias: String,
    /// Ghost ID prefix of the crowd's nicks.
    prefix: String,
    crowd: Vec<support::IdleIrc>,
    connected_in: Duration,
}

impl BigChannel {
    /// `n` kept-alive IRC clients `<name initial><i>` in `#<name>big`.
    async fn fill(setup: &Setup, name: &str, n: usize, connects: usize) -> BigChannel {
        use futures::StreamExt;
        let channel = format!("#{name}big");
        let tag = &name[..1];
        let port = setup.ircd.port;
        let start = Instant::now();
        let crowd = futures::stream::iter(0..n)
            .map(|i| {
                let channel = channel.clone();
                async move {
                    let mut c = support::RawIrc::connect(port, &format!("{tag}{i}"))
                        .await
                        .unwrap();
                    c.join(&channel).await.unwrap();
                    c.keep_alive()
                }
            })
            .buffered(connects)
            .collect::<Vec<_>>()
            .await;
        BigChannel {
            alias: format!("#_irc_localhost_{channel}:localhost"),
            prefix: format!("@_irc_localhost_{tag}"),
            channel,
            crowd,
            connected_in: start.elapsed(),
        }
    }

    async fn ghosts(&self, user: &ferrybridge_tests::TestUser, room: &ruma::RoomId) -> usize {
        user.joined_members(room)
            .await
            .map(|m| {
                m.iter()
                    .filter(|u| u.as_str().starts_with(&self.prefix))
                    .count()
            })
            .unwrap_or(0)
    }

    /// QUITs the crowd saw (none expected: a QUIT would empty the channel while it fills).
    fn quits(&self) -> usize {
        self.crowd
            .iter()
            .map(|c| c.quits.lock().unwrap().values().sum::<usize>())
            .max()
            .unwrap_or(0)
    }

    /// `full`/`half`: opens the portal and waits until every nick has a joined ghost; one line
    /// is said a few seconds in, while the ghosts are still joining. Prints where Synapse spent
    /// its time meanwhile.
    async fn fill_run(
        &self,
        setup: &Setup,
        user: &ferrybridge_tests::TestUser,
        rate: usize,
    ) -> String {
        let n = self.crowd.len();
        let log_mark = synapse_log(setup).len();
        let (requests, waited) = homeserver_requests();
        let start = Instant::now();
        let room = user.join(&self.alias).await.unwrap();
        let mut said: Option<Instant> = None;
        let mut heard: Option<Duration> = None;
        let mut last_log = Instant::now();
        loop {
            let ghosts = self.ghosts(user, &room).await;
            if ghosts >= n {
                break;
            }
            if said.is_none() && start.elapsed() > Duration::from_secs(3) {
                let line = format!("PRIVMSG {} :said while filling", self.channel);
                self.crowd[n - 1].send(&line).await.unwrap();
                said = Some(Instant::now());
            }
            if let (Some(at), None) = (said, heard) {
                let arrived = user
                    .wait_for(&room, Duration::from_millis(1), |e| {
                        e["content"]["body"] == "said while filling"
                    })
                    .await
                    .is_ok();
                if arrived {
                    heard = Some(at.elapsed());
                }
            }
            if last_log.elapsed() > Duration::from_secs(15) {
                last_log = Instant::now();
                eprintln!(
                    "  {}: {ghosts}/{n} ghosts after {:.0}s, {} QUITs seen",
                    self.channel,
                    start.elapsed().as_secs_f64(),
                    self.quits()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(1800),
                "{} never filled: {ghosts}/{n} ghosts",
                self.channel
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let filled = start.elapsed().as_secs_f64();
        let now = homeserver_requests();
        let (requests, waited) = (now.0 - requests, now.1 - waited);
        eprintln!(
            "  {}: the bridge made {:.1} homeserver requests per ghost, {:.1} ms each on average; \
             Synapse's busiest endpoints meanwhile:\n{}",
            self.channel,
            requests as f64 / n as f64,
            waited * 1000.0 / requests.max(1) as f64,
            synapse_profile(&synapse_log(setup)[log_mark..])
        );
        if std::env::var("FB_BENCH_DIAG").is_ok() {
            for line in ferrybridge_core::metrics::encode().lines() {
                if line.starts_with("ferrybridge_db_query_duration_seconds_sum")
                    || line.starts_with("ferrybridge_db_query_duration_seconds_count")
                {
                    eprintln!("DIAG {line}");
                }
            }
            let speaker = format!("{}{}:", self.prefix, n - 1);
            for line in synapse_log(setup)[log_mark..].lines() {
                if line.contains(&speaker) && line.contains("Processed request") {
                    eprintln!("DIAG {line}");
                }
            }
        }
        let heard = match heard {
            Some(d) => format!("{:.2}s", d.as_secs_f64()),
            None => "after the fill".to_owned(),
        };
        format!(
            "crowd_connected_in={:.1}s all_ghosts_joined_in={filled:.1}s \
             joins_per_second={:.1} (limit {rate}/s) line_during_fill_reached_matrix_in={heard} \
             irc_quits={}",
            self.connected_in.as_secs_f64(),
            n as f64 / filled,
            self.quits()
        )
    }

    /// `lazy`: no ghost until someone speaks; then the speakers' and one named nick's.
    async fn lazy_run(&self, user: &ferrybridge_tests::TestUser, speakers: usize) -> String {
        let n = self.crowd.len();
        let speakers = speakers.min(n - 1);
        let room = user.join(&self.alias).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let before = self.ghosts(user, &room).await;
        let start = Instant::now();
        for c in &self.crowd[..speakers] {
            c.send(&format!("PRIVMSG {} :hi", self.channel))
                .await
                .unwrap();
        }
        // The first speaker names a nick that stays silent.
        let named = self.crowd.len() - 1;
        let tag = &self.prefix["@_irc_localhost_".len()..];
        self.crowd[0]
            .send(&format!("PRIVMSG {} :{tag}{named}: and you?", self.channel))
            .await
            .unwrap();
        let want = speakers + 1;
        while self.ghosts(user, &room).await < want {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "speakers never joined"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let joined_in = start.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = self.ghosts(user, &room).await;
        format!(
            "crowd_connected_in={:.1}s ghosts_before_anyone_spoke={before} \
             ghosts_after_{speakers}_spoke_and_1_was_named={after} (joined in {joined_in:.1}s) \
             irc_quits={}",
            self.connected_in.as_secs_f64(),
            self.quits()
        )
    }
}
