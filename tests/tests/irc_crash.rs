//! Crash tests of the IRC bridge: the `ferrybridge-irc` binary as its own process against a
//! real Synapse and a real InspIRCd, under a load of numbered messages, killed (SIGKILL),
//! stopped (SIGTERM) or left alone while Synapse restarts. Every message must arrive exactly
//! once and in order. Each test prints a `CRASH ...` line with the counts (run with
//! `--nocapture` to see them when they pass).
//!
//! Load sizes: `FB_CRASH_MESSAGES` (Matrix → IRC, default 600), `FB_CRASH_REMOTE_MESSAGES`
//! (IRC → Matrix, default 300, paced at 50/s), `FB_CRASH_SYNAPSE_MESSAGES` (each way during the
//! Synapse restart, default 300), `FB_CRASH_STREAMS` (concurrent Matrix sends, default 1). The
//! defaults keep this file near 3 minutes in debug on two busy cores, where a debug Synapse
//! takes ~15 messages a second; raise them for a longer soak.
//! `FERRYBRIDGE_KEEP_DATA=1` keeps the bridge's config, database and log (`bridge.log`) and
//! Synapse's data for a look afterwards.
//!
//! Matrix → IRC across a bridge SIGKILL: IRC has no message ID to deduplicate by, so a line the
//! killed process had written but not yet recorded is said again after the restart, unless the
//! server keeps channel history (`draft/chathistory`), where the bridge looks for it first.
//! The test's InspIRCd keeps none: a repeat of one of the last [`IN_FLIGHT`] lines the killed
//! bridge said is reported (`repeated_in_flight`), any other repeat fails the test.
//!
//! IRC → Matrix across a bridge crash: IRC keeps no history and has no acknowledgement, so lines
//! sent while the bridge is down reach nobody, and lines the killed process had read (or the
//! kernel had buffered for it) but not yet posted are gone with it. The talker therefore pauses
//! from the kill until the bridge's bot has joined again; the lines sent before the kill that
//! were not yet in Matrix then ("in flight") are reported, and the test holds every other line
//! to exactly once, in order.

#[path = "irc/listener.rs"]
#[allow(dead_code)]
mod listener;
#[path = "irc/support.rs"]
#[allow(dead_code)]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ferrybridge_core::bridge::Bridge;
use ferrybridge_irc::{IrcBridge, IrcConfig};
use ferrybridge_tests::bridge_env::{use_homeserver, write_registration};
use ferrybridge_tests::crash::{
    STALL, Tally, latest_number, load_size, matrix_load_across_restart, matrix_numbers,
    notices_from, numbered, numbers, numbers_in_timeline, ranges, reached, send_numbered, talk,
    wait_progress,
};
use ferrybridge_tests::{ProcessBridge, Synapse, TestUser, bridge_binary, work_dir};
use listener::Listener;
use ruma::OwnedRoomId;
use support::{Ircd, join_channel, user_with_dm};
use tokio::sync::RwLock;

const CHANNEL: &str = "#crash";
const BOT: &str = "@ircbot:localhost";
/// Concurrent sends of the Matrix user (`FB_CRASH_STREAMS`, default 1). One at a time keeps the
/// room's DAG linear, so its timeline order is also the order Synapse pushes the events in;
/// more streams load Synapse harder (not the bridge: a debug Synapse is the bottleneck).
fn streams() -> usize {
    load_size("FB_CRASH_STREAMS", 1)
}

/// How long the paused talker waits before the kill, so its last lines have reached the bridge.
const SETTLE: Duration = Duration::from_millis(500);

/// Lines per second of the IRC talker (a tenth of that during the Synapse restart, so its
/// load spans the outage).
const TALK_RATE: u64 = 50;

/// How many of the killed bridge's last lines can be unconfirmed at the kill: one stream of
/// Matrix sends keeps one or two in the pipeline; three leaves room and still catches a replay
/// of anything older.
const IN_FLIGHT: usize = 3;

/// `arrived` without the second copy of lines the killed bridge had in flight (among its last
/// [`IN_FLIGHT`] of the first `before` lines, said again after the restart); those are
/// returned apart.
fn without_in_flight_repeats(arrived: &[usize], before: usize) -> (Vec<usize>, Vec<usize>) {
    let before = before.min(arrived.len());
    let mut in_flight: Vec<usize> = arrived[before.saturating_sub(IN_FLIGHT)..before].to_vec();
    let mut kept = arrived[..before].to_vec();
    let mut repeated = Vec::new();
    for &n in &arrived[before..] {
        match in_flight.iter().position(|&m| m == n) {
            Some(i) => repeated.push(in_flight.remove(i)),
            None => kept.push(n),
        }
    }
    (kept, repeated)
}

/// How the bridge is taken down mid-load.
#[derive(Clone, Copy, Debug)]
enum Stop {
    Kill,
    Term,
}

impl Stop {
    fn name(self) -> &'static str {
        match self {
            Stop::Kill => "SIGKILL",
            Stop::Term => "SIGTERM",
        }
    }
}

/// InspIRCd, Synapse, the bridge process, a Matrix user in the `#crash` portal (her puppet
/// joined), and a raw IRC client `bob` in `#crash`.
struct Env {
    _ircd: Ircd,
    synapse: Synapse,
    bridge: ProcessBridge<IrcConfig>,
    user: Arc<TestUser>,
    room: OwnedRoomId,
    bob: Arc<Listener>,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Result<Env> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ircd = Ircd::start()?;
        let dir = work_dir("fb-irc-crash-")?;
        let mut config = support::process_config(dir.path(), ircd.port)?;
        let server = config
            .network
            .servers
            .get_mut("localhost")
            .context("the example config's network")?;
        // The load is the test, not the bridge's pacing (the test ircd has no flood limits).
        server.flood.burst = 1_000_000;
        server.flood.per_second = 1_000_000.0;
        server.ping_timeout_secs = 10;
        let caps = IrcBridge::info().capabilities;
        let registration = write_registration(&config, &caps, dir.path())?;
        let synapse = Synapse::start(&[registration]).await?;
        use_homeserver(&mut config, &synapse)?;
        let bridge =
            ProcessBridge::start(bridge_binary("ferrybridge-irc")?, config, dir.path()).await?;
        let bob = Listener::connect(ircd.port, "bob", CHANNEL).await?;
        let (user, dm) = user_with_dm(&synapse, "alice").await?;
        let mark = bob.mark();
        let room = join_channel(&user, &dm, CHANNEL).await?;
        wait_line(&bob, mark, |l| {
            l.starts_with(":alice[m]!") && l.contains(" JOIN ")
        })
        .await
        .context("alice's puppet joining")?;
        wait_line(&bob, mark, bot_join)
            .await
            .context("the bridge's bot joining")?;
        Ok(Env {
            _ircd: ircd,
            synapse,
            bridge,
            user: Arc::new(user),
            room,
            bob: Arc::new(bob),
            _dir: dir,
        })
    }

    /// Takes the bridge down the way `stop` says; returns how long that took.
    async fn stop_bridge(&mut self, stop: Stop) -> Result<Duration> {
        let start = Instant::now();
        let status = match stop {
            Stop::Kill => self.bridge.kill().await?,
            Stop::Term => self.bridge.terminate(Duration::from_secs(60)).await?,
        };
        eprintln!(
            "bridge {} → exited with {status} after {:?}",
            stop.name(),
            start.elapsed()
        );
        Ok(start.elapsed())
    }

    /// The numbers of `tag` in the portal's timeline (the order Synapse gave the user's
    /// messages, which the bridge must keep) and the bot's notices there (delivery failures).
    async fn timeline(&self, tag: &str) -> Result<(Vec<usize>, Vec<String>)> {
        let history = self.user.history(&self.room).await?;
        Ok((
            numbers_in_timeline(&history, tag),
            notices_from(&history, BOT),
        ))
    }
}

/// Waits up to 60 s for a line after `mark` matching `pred`.
async fn wait_line(l: &Listener, mark: usize, pred: impl Fn(&str) -> bool) -> Result<()> {
    ferrybridge_tests::wait_until(Duration::from_secs(60), || {
        let seen = l.saw_since(mark, &pred);
        async move { seen }
    })
    .await
}

/// Whether `line` is the bridge bot joining `#crash`.
fn bot_join(line: &str) -> bool {
    line.starts_with(":ferrybridge") && line.contains(" JOIN ")
}

/// Waits until `bob` has every number `0..n` of `tag` (or the relay stalls for [`STALL`]); returns
/// the numbers in arrival order.
async fn irc_numbers(bob: &Listener, tag: &str, n: usize) -> Vec<usize> {
    let distinct = || {
        let mut v = numbers(tag, bob.texts().iter().map(String::as_str));
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    wait_progress(
        Duration::from_secs(600),
        STALL,
        || bob.count() as usize,
        || distinct() >= n,
    )
    .await;
    // Anything doubled by a replay would come right after; give it a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    numbers(tag, bob.texts().iter().map(String::as_str))
}

/// Matrix → IRC: the Matrix user sends `FB_CRASH_MESSAGES` numbered messages through Synapse;
/// after a third, the bridge is stopped as `stop` says and started again a second later.
async fn matrix_to_irc(stop: Stop) -> Result<()> {
    let n = load_size("FB_CRASH_MESSAGES", 600);
    let mut env = Env::start().await?;
    let sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let sender = tokio::spawn(send_numbered(
        env.user.clone(),
        env.room.clone(),
        "m".into(),
        0..n,
        streams(),
        sent.clone(),
    ));
    ferrybridge_tests::wait_until(Duration::from_secs(600), || {
        let k = sent.load(Ordering::Relaxed);
        async move { k >= n / 3 }
    })
    .await
    .context("the first third of the load")?;
    let (sent_at_stop, relayed_at_stop) = (sent.load(Ordering::Relaxed), env.bob.count());
    env.stop_bridge(stop).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Everything the stopped process wrote has arrived by now.
    let before_restart = numbers("m", env.bob.texts().iter().map(String::as_str)).len();
    env.bridge.restart().await?;
    let retries = sender.await??;
    let send_secs = started.elapsed().as_secs_f64();
    let arrived = irc_numbers(&env.bob, "m", n).await;
    let (arrived, repeated) = match stop {
        Stop::Kill => without_in_flight_repeats(&arrived, before_restart),
        Stop::Term => (arrived, Vec::new()),
    };
    let (order, notices) = env.timeline("m").await?;
    let tally = Tally::of_timeline(&order, &arrived);
    eprintln!(
        "CRASH irc matrix_to_irc stop={} n={n} {} repeated_in_flight={repeated:?} notices={} \
         (stopped after {sent_at_stop} accepted by Synapse, {relayed_at_stop} on IRC; all sent \
         in {send_secs:.1} s, {retries} send retries; done in {:.1} s)",
        stop.name(),
        tally.summary(),
        notices.len(),
        started.elapsed().as_secs_f64()
    );
    for notice in notices.iter().take(5) {
        eprintln!("  notice: {notice}");
    }
    assert!(
        tally.exactly_once_in_order() && notices.is_empty(),
        "Matrix → IRC across a bridge {}: {} notices={}\n{}",
        stop.name(),
        tally.summary(),
        notices.len(),
        env.bridge.problems(40)
    );
    Ok(())
}

#[test]
fn only_the_killed_bridges_last_lines_may_come_twice() {
    let (kept, repeated) = without_in_flight_repeats(&[1, 2, 3, 4, 5, 4, 5, 6], 5);
    assert_eq!((kept, repeated), (vec![1, 2, 3, 4, 5, 6], vec![4, 5]));
    let (kept, repeated) = without_in_flight_repeats(&[1, 2, 3, 4, 5, 1, 6], 5);
    assert_eq!(
        (kept, repeated),
        (vec![1, 2, 3, 4, 5, 1, 6], vec![]),
        "an old line said again is a duplicate"
    );
    let (kept, _) = without_in_flight_repeats(&[1, 2, 3, 3, 3], 3);
    assert_eq!(kept, vec![1, 2, 3, 3], "each line repeats at most once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_to_irc_survives_sigkill() -> Result<()> {
    matrix_to_irc(Stop::Kill).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_to_irc_survives_sigterm() -> Result<()> {
    matrix_to_irc(Stop::Term).await
}

/// IRC → Matrix: `bob` talks; after a third the bridge is SIGKILLed, started again a second
/// later, and `bob` goes on once the bot is back in the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_to_matrix_survives_sigkill() -> Result<()> {
    irc_to_matrix(Stop::Kill).await
}

/// The same with a clean stop (SIGTERM): what the bridge had received reaches Matrix before it
/// exits, or is journaled and replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_to_matrix_survives_sigterm() -> Result<()> {
    irc_to_matrix(Stop::Term).await
}

async fn irc_to_matrix(stop: Stop) -> Result<()> {
    let n = load_size("FB_CRASH_REMOTE_MESSAGES", 300);
    let mut env = Env::start().await?;
    let (gate, sent) = (Arc::new(RwLock::new(())), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let bob = env.bob.clone();
    let talker = tokio::spawn(talk(n, TALK_RATE, gate.clone(), sent.clone(), move |i| {
        let bob = bob.clone();
        async move { bob.say([numbered("i", i)]).await }
    }));
    reached(&sent, n / 3).await?;
    let paused = gate.write().await;
    // Let the ircd hand the last lines over: what the bridge has received is what it owes.
    tokio::time::sleep(SETTLE).await;
    let sent_before = sent.load(Ordering::Relaxed);
    let posted_before = latest_number(&env.user, &env.room, "i", 50).await;
    let mark = env.bob.mark();
    env.stop_bridge(stop).await?;
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.bridge.restart().await?;
    wait_line(&env.bob, mark, bot_join)
        .await
        .context("the bot back in the channel")?;
    let down = down.elapsed();
    drop(paused);
    talker.await??;
    let arrived = matrix_numbers(&env.user, &env.room, "i", n - 1).await?;
    let tally = Tally::of(n, &arrived);
    let in_flight = posted_before.map_or(0, |p| p + 1)..sent_before;
    let (lost_in_flight, lost_elsewhere): (Vec<usize>, Vec<usize>) =
        tally.missing.iter().partition(|m| in_flight.contains(*m));
    eprintln!(
        "CRASH irc irc_to_matrix stop={} n={n} {} in_flight_at_stop={} \
         lost_in_flight={} lost_otherwise={} (stopped after {sent_before} sent, {} in Matrix; \
         talker paused {down:?}; done in {:.1} s)",
        stop.name(),
        tally.summary(),
        in_flight.len(),
        lost_in_flight.len(),
        lost_elsewhere.len(),
        posted_before.map_or(0, |p| p + 1),
        started.elapsed().as_secs_f64()
    );
    assert!(
        tally.exactly_once_in_order(),
        "IRC → Matrix across a bridge {}: {}; of them lost while in flight (received by \
         the bridge, not yet in Matrix): [{}], lost otherwise: [{}]\n{}",
        stop.name(),
        tally.summary(),
        ranges(&lost_in_flight),
        ranges(&lost_elsewhere),
        env.bridge.problems(40)
    );
    Ok(())
}

/// Both ways at once while Synapse restarts: the Matrix user's sends are retried under their
/// transaction IDs; the bridge must hold IRC lines until Synapse is back and post them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ways_survive_a_synapse_restart() -> Result<()> {
    let n = load_size("FB_CRASH_SYNAPSE_MESSAGES", 300);
    let mut env = Env::start().await?;
    let (m_sent, i_sent) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    // Both loads a third done when Synapse goes, Matrix sends in flight (the talker slowed
    // so its load spans the outage).
    let open = Arc::new(RwLock::new(()));
    let bob = env.bob.clone();
    let talker = tokio::spawn(talk(n, TALK_RATE / 10, open, i_sent.clone(), move |i| {
        let bob = bob.clone();
        async move { bob.say([numbered("i", i)]).await }
    }));
    let sender = matrix_load_across_restart(
        env.user.clone(),
        env.room.clone(),
        "m",
        n,
        streams(),
        m_sent.clone(),
        &i_sent,
    )
    .await?;
    let (m_at, i_at) = (
        m_sent.load(Ordering::Relaxed),
        i_sent.load(Ordering::Relaxed),
    );
    let restart = Instant::now();
    env.synapse.restart().await?;
    let restart = restart.elapsed();
    let retries = sender.await??;
    talker.await??;
    let m_arrived = irc_numbers(&env.bob, "m", n).await;
    let i_tally = Tally::of(n, &matrix_numbers(&env.user, &env.room, "i", n - 1).await?);
    let (m_order, notices) = env.timeline("m").await?;
    let m_tally = Tally::of_timeline(&m_order, &m_arrived);
    eprintln!(
        "CRASH irc synapse_restart n={n} matrix_to_irc: {} | irc_to_matrix: {} | notices={} \
         (Synapse down and back in {restart:?}, after {m_at} Matrix sends and {i_at} IRC lines; \
         {retries} send retries; done in {:.1} s)",
        m_tally.summary(),
        i_tally.summary(),
        notices.len(),
        started.elapsed().as_secs_f64()
    );
    for notice in notices.iter().take(5) {
        eprintln!("  notice: {notice}");
    }
    assert!(
        m_tally.exactly_once_in_order() && i_tally.exactly_once_in_order() && notices.is_empty(),
        "across a Synapse restart: Matrix → IRC {} | IRC → Matrix {} | notices={}\n{}",
        m_tally.summary(),
        i_tally.summary(),
        notices.len(),
        env.bridge.problems(40)
    );
    Ok(())
}
