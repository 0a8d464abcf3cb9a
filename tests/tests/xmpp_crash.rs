//! Crash tests of the XMPP bridge: the `ferrybridge-xmpp` binary as its own process against a
//! real Synapse and a real Prosody (XEP-0114 component), under a load of numbered messages in a
//! MUC portal, killed (SIGKILL), stopped (SIGTERM) or left alone while Synapse restarts. Every
//! message must arrive exactly once and in order. Each test prints a `CRASH ...` line with the
//! counts (run with `--nocapture` to see them when they pass).
//!
//! Load sizes: `FB_CRASH_XMPP_MESSAGES` (Matrix → MUC, default 600),
//! `FB_CRASH_REMOTE_MESSAGES` (MUC → Matrix, default 300, paced at 50/s),
//! `FB_CRASH_SYNAPSE_MESSAGES` (each way during the Synapse restart, default 300).
//!
//! MUC → Matrix across a bridge crash: a groupchat message goes to the room, not to the
//! component, so the talker gets no error while the bridge is down; the room's copy to the
//! bridge's puppet bounces at Prosody (the bridge joins without history). The room's archive
//! keeps it, and the bridge's backfill catch-up reads what it missed from there: one test has
//! the talker go on regardless; the others pause it from the kill until the puppet is back,
//! testing the journal and replay alone. Everything must arrive exactly once, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ferrybridge_core::bridge::Bridge;
use ferrybridge_tests::bridge_env::{test_config, use_homeserver, write_registration};
use ferrybridge_tests::crash::{
    STALL, Tally, latest_number, load_size, matrix_load_across_restart, matrix_numbers,
    notices_from, numbered, numbers, numbers_in_timeline, ranges, reached, send_numbered, talk,
    wait_progress,
};
use ferrybridge_tests::xmpp::{Occupant, Prosody, SECRET};
use ferrybridge_tests::{
    ProcessBridge, Synapse, TestUser, bridge_binary, register_user, wait_until, work_dir,
};
use ferrybridge_xmpp::{XmppBridge, XmppConfig};
use ruma::OwnedRoomId;
use tokio::sync::RwLock;

const ROOM: &str = "crash@conference.localhost";
/// The Matrix user's puppet in the MUC.
const PUPPET: &str = "crash@conference.localhost/bob";
/// Messages per second of the XMPP talker (a tenth of that during the Synapse restart, so its
/// load spans the outage).
const TALK_RATE: u64 = 50;
/// How long the paused talker waits before the kill, so its last messages reached the bridge.
const SETTLE: Duration = Duration::from_millis(500);

/// Concurrent sends of the Matrix user (`FB_CRASH_STREAMS`, default 1; see `irc_crash`).
fn streams() -> usize {
    load_size("FB_CRASH_STREAMS", 1)
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

/// Prosody, Synapse, the bridge process, Matrix user `bob` in the `crash` MUC portal (his
/// puppet joined), and raw XMPP occupants `watcher` and `talker` in the MUC.
struct Env {
    _prosody: Prosody,
    synapse: Synapse,
    bridge: ProcessBridge<XmppConfig>,
    bot: String,
    user: Arc<TestUser>,
    room: OwnedRoomId,
    watcher: Arc<Occupant>,
    talker: Arc<Occupant>,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Result<Env> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let prosody = Prosody::start().await?;
        let dir = work_dir("fb-xmpp-crash-")?;
        let mut config =
            test_config::<XmppBridge>(&prosody.network_yaml(SECRET), None, dir.path())?;
        let caps = XmppBridge::info().capabilities;
        let registration = write_registration(&config, &caps, dir.path())?;
        let synapse = Synapse::start(&[registration]).await?;
        use_homeserver(&mut config, &synapse)?;
        let bot = format!(
            "@{}:{}",
            config.appservice.bot.username, config.homeserver.domain
        );
        let bridge =
            ProcessBridge::start(bridge_binary("ferrybridge-xmpp")?, config, dir.path()).await?;
        let rooms = [ROOM.to_owned()];
        let watcher = Occupant::join(prosody.c2s, "watcher", "watcher", &rooms).await?;
        let talker = Occupant::join(prosody.c2s, "talker", "talker", &rooms).await?;
        let user = register_user(&synapse, "bob", false).await?;
        let mark = watcher.presence_mark();
        let room = user
            .join(&format!(
                "#_xmpp_crash_conference.localhost:{}",
                synapse.server_name()
            ))
            .await?;
        wait_until(Duration::from_secs(60), || {
            let there = watcher.presence_since(mark, PUPPET);
            async move { there }
        })
        .await
        .context("bob's puppet joining the MUC")?;
        Ok(Env {
            _prosody: prosody,
            synapse,
            bridge,
            bot,
            user: Arc::new(user),
            room,
            watcher: Arc::new(watcher),
            talker: Arc::new(talker),
            _dir: dir,
        })
    }

    /// Takes the bridge down the way `stop` says.
    async fn stop_bridge(&mut self, stop: Stop) -> Result<()> {
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
        Ok(())
    }

    /// Starts the bridge again and waits until bob's puppet is back in the MUC.
    async fn restart_bridge(&mut self) -> Result<()> {
        let mark = self.watcher.presence_mark();
        self.bridge.restart().await?;
        let watcher = self.watcher.clone();
        wait_until(Duration::from_secs(60), || {
            let there = watcher.presence_since(mark, PUPPET);
            async move { there }
        })
        .await
        .context("bob's puppet back in the MUC")
    }

    /// The numbers of `tag` in the portal's timeline (the order the bridge must keep) and the
    /// bot's notices there (delivery failures).
    async fn timeline(&self, tag: &str) -> Result<(Vec<usize>, Vec<String>)> {
        let history = self.user.history(&self.room).await?;
        Ok((
            numbers_in_timeline(&history, tag),
            notices_from(&history, &self.bot),
        ))
    }

    /// Spawns the talker: `n` numbered messages tagged `tag`, `rate` a second.
    fn talk(
        &self,
        tag: &'static str,
        n: usize,
        rate: u64,
        gate: Arc<RwLock<()>>,
        sent: Arc<AtomicUsize>,
    ) -> tokio::task::JoinHandle<Result<()>> {
        let talker = self.talker.clone();
        tokio::spawn(talk(n, rate, gate, sent, move |i| {
            talker.say(ROOM, [(format!("{tag}{i}"), numbered(tag, i))])
        }))
    }
}

/// Waits until the watcher has every number `0..n` of `tag` (or the relay stalls for [`STALL`]);
/// returns the numbers in arrival order.
async fn muc_numbers(watcher: &Occupant, tag: &str, n: usize) -> Vec<usize> {
    let distinct = || {
        let mut v = numbers(tag, watcher.bodies().iter().map(String::as_str));
        v.sort_unstable();
        v.dedup();
        v.len()
    };
    wait_progress(
        Duration::from_secs(600),
        STALL,
        || watcher.count() as usize,
        || distinct() >= n,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    numbers(tag, watcher.bodies().iter().map(String::as_str))
}

/// Matrix → MUC: bob sends `FB_CRASH_XMPP_MESSAGES` numbered messages through Synapse; after a
/// third, the bridge is stopped as `stop` says and started again a second later.
async fn matrix_to_muc(stop: Stop) -> Result<()> {
    let n = load_size("FB_CRASH_XMPP_MESSAGES", 600);
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
    reached(&sent, n / 3).await?;
    let (sent_at_stop, relayed_at_stop) = (sent.load(Ordering::Relaxed), env.watcher.count());
    env.stop_bridge(stop).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.restart_bridge().await?;
    let retries = sender.await??;
    let send_secs = started.elapsed().as_secs_f64();
    let arrived = muc_numbers(&env.watcher, "m", n).await;
    let (order, notices) = env.timeline("m").await?;
    let tally = Tally::of_timeline(&order, &arrived);
    eprintln!(
        "CRASH xmpp matrix_to_muc stop={} n={n} {} notices={} (stopped after {sent_at_stop} \
         accepted by Synapse, {relayed_at_stop} in the MUC; all sent in {send_secs:.1} s, \
         {retries} send retries; done in {:.1} s)",
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
        "Matrix → MUC across a bridge {}: {} notices={}\n{}",
        stop.name(),
        tally.summary(),
        notices.len(),
        env.bridge.problems(40)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_to_muc_survives_sigkill() -> Result<()> {
    matrix_to_muc(Stop::Kill).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_to_muc_survives_sigterm() -> Result<()> {
    matrix_to_muc(Stop::Term).await
}

/// MUC → Matrix: the talker talks; after a third the bridge is SIGKILLed, started again a
/// second later, and the talker goes on once bob's puppet is back in the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muc_to_matrix_survives_sigkill() -> Result<()> {
    muc_to_matrix(Stop::Kill).await
}

/// The same with a clean stop (SIGTERM): what the bridge had received reaches Matrix before it
/// exits, or is journaled and replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muc_to_matrix_survives_sigterm() -> Result<()> {
    muc_to_matrix(Stop::Term).await
}

/// MUC → Matrix with a talker that does not wait for the bridge: what the room said while the
/// bridge was dead reaches Matrix from the room's archive (backfill catch-up), once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muc_to_matrix_keeps_talking_across_sigkill() -> Result<()> {
    muc_to_matrix_with(Stop::Kill, false).await
}

async fn muc_to_matrix(stop: Stop) -> Result<()> {
    muc_to_matrix_with(stop, true).await
}

/// `pause`: the talker waits from the stop until the bridge is back.
async fn muc_to_matrix_with(stop: Stop, pause: bool) -> Result<()> {
    let n = load_size("FB_CRASH_REMOTE_MESSAGES", 300);
    let mut env = Env::start().await?;
    let (gate, sent) = (Arc::new(RwLock::new(())), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let talker = env.talk("x", n, TALK_RATE, gate.clone(), sent.clone());
    reached(&sent, n / 3).await?;
    let paused = match pause {
        true => Some(gate.write().await),
        false => None,
    };
    tokio::time::sleep(SETTLE).await;
    let sent_before = sent.load(Ordering::Relaxed);
    let posted_before = latest_number(&env.user, &env.room, "x", 50).await;
    env.stop_bridge(stop).await?;
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.restart_bridge().await?;
    let down = down.elapsed();
    drop(paused);
    talker.await??;
    let arrived = matrix_numbers(&env.user, &env.room, "x", n - 1).await?;
    let tally = Tally::of(n, &arrived);
    let in_flight = posted_before.map_or(0, |p| p + 1)..sent_before;
    let (lost_in_flight, lost_elsewhere): (Vec<usize>, Vec<usize>) =
        tally.missing.iter().partition(|m| in_flight.contains(*m));
    eprintln!(
        "CRASH xmpp muc_to_matrix stop={} pause={pause} n={n} {} in_flight_at_stop={} \
         lost_in_flight={} lost_otherwise={} (stopped after {sent_before} sent, {} in Matrix; \
         bridge down {down:?}; done in {:.1} s)",
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
        "MUC → Matrix across a bridge {}: {}; of them lost while in flight (received by \
         the bridge, not yet in Matrix): [{}], lost otherwise: [{}]\n{}",
        stop.name(),
        tally.summary(),
        ranges(&lost_in_flight),
        ranges(&lost_elsewhere),
        env.bridge.problems(40)
    );
    Ok(())
}

/// Both ways at once while Synapse restarts: bob's sends are retried under their transaction
/// IDs; the bridge must hold MUC messages until Synapse is back and post them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ways_survive_a_synapse_restart() -> Result<()> {
    let n = load_size("FB_CRASH_SYNAPSE_MESSAGES", 300);
    let mut env = Env::start().await?;
    let (m_sent, x_sent) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    // Both loads a third done when Synapse goes, Matrix sends in flight (the talker slowed
    // so its load spans the outage).
    let open = Arc::new(RwLock::new(()));
    let talker = env.talk("x", n, TALK_RATE / 10, open, x_sent.clone());
    let sender = matrix_load_across_restart(
        env.user.clone(),
        env.room.clone(),
        "m",
        n,
        streams(),
        m_sent.clone(),
        &x_sent,
    )
    .await?;
    let (m_at, x_at) = (
        m_sent.load(Ordering::Relaxed),
        x_sent.load(Ordering::Relaxed),
    );
    let restart = Instant::now();
    env.synapse.restart().await?;
    let restart = restart.elapsed();
    let retries = sender.await??;
    talker.await??;
    let m_arrived = muc_numbers(&env.watcher, "m", n).await;
    let x_tally = Tally::of(n, &matrix_numbers(&env.user, &env.room, "x", n - 1).await?);
    let (m_order, notices) = env.timeline("m").await?;
    let m_tally = Tally::of_timeline(&m_order, &m_arrived);
    eprintln!(
        "CRASH xmpp synapse_restart n={n} matrix_to_muc: {} | muc_to_matrix: {} | notices={} \
         (Synapse down and back in {restart:?}, after {m_at} Matrix sends and {x_at} MUC \
         messages; {retries} send retries; done in {:.1} s)",
        m_tally.summary(),
        x_tally.summary(),
        notices.len(),
        started.elapsed().as_secs_f64()
    );
    for notice in notices.iter().take(5) {
        eprintln!("  notice: {notice}");
    }
    assert!(
        m_tally.exactly_once_in_order() && x_tally.exactly_once_in_order() && notices.is_empty(),
        "across a Synapse restart: Matrix → MUC {} | MUC → Matrix {} | notices={}\n{}",
        m_tally.summary(),
        x_tally.summary(),
        notices.len(),
        env.bridge.problems(40)
    );
    Ok(())
}

/// The window a SIGKILL can hit: the message reached the MUC, then the bridge died before
/// recording it, so it is replayed at the next start. The room's archive (MAM) has it: it is
/// not sent again. The window is rewound by hand here (inbox row back, message-map row gone),
/// as the crash tests above hit it only now and then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_message_the_muc_has_is_not_sent_again() -> Result<()> {
    let mut env = Env::start().await?;
    let event = env.user.send_text(&env.room, "already-there").await?;
    let watcher = env.watcher.clone();
    let count = move |body: &str| watcher.bodies().iter().filter(|b| *b == body).count();
    let c = count.clone();
    wait_until(Duration::from_secs(60), || {
        let there = c("already-there") == 1;
        async move { there }
    })
    .await
    .context("the message in the MUC")?;
    env.stop_bridge(Stop::Term).await?;
    let json = env
        .user
        .messages(&env.room, 20)
        .await?
        .into_iter()
        .find(|e| e["event_id"] == event.as_str())
        .context("the event in the room")?;
    let db =
        sqlx::SqlitePool::connect(&format!("sqlite://{}/bridge.db", env._dir.path().display()))
            .await?;
    let gone = sqlx::query("DELETE FROM messages WHERE event_id = ?")
        .bind(event.as_str())
        .execute(&db)
        .await?;
    anyhow::ensure!(gone.rows_affected() == 1, "the message-map row was there");
    sqlx::query("INSERT INTO processed_txns (txn_id, recorded_at_ms) VALUES ('rewound', 0)")
        .execute(&db)
        .await?;
    sqlx::query("INSERT INTO inbox (txn_id, json) VALUES ('rewound', ?)")
        .bind(json.to_string())
        .execute(&db)
        .await?;
    db.close().await;
    env.restart_bridge().await?;
    env.user.send_text(&env.room, "after-restart").await?;
    let c = count.clone();
    wait_until(Duration::from_secs(60), || {
        let there = c("after-restart") == 1;
        async move { there }
    })
    .await
    .context("the next message in the MUC")?;
    let skipped = env.bridge.log_lines_with("not sent again");
    assert_eq!(
        (count("already-there"), skipped.len()),
        (1, 1),
        "sent once, its replay skipped\n{}",
        env.bridge.problems(40)
    );
    Ok(())
}
