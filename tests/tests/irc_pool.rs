//! The IRC connection pool end to end, against a real InspIRCd, Synapse and Redis: the pool
//! runs in this process as its own task (as `ferrybridge-irc-pool` would run beside the bridge),
//! the bridge is stopped and started around it. Each test uses its own Redis key prefix.

#[path = "irc/support.rs"]
#[allow(dead_code)] // each test file uses a different part
mod support;

use std::time::Duration;

use anyhow::Result;
use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::start_with;
use ferrybridge_irc::IrcBridge;
use ferrybridge_irc::pool::{PoolConfig, server};
use ferrybridge_tests::{TestUser, text_body};
use ruma::OwnedRoomId;
use support::{IrcdPorts, RawIrc, Setup, T, join_channel};
use tokio::sync::oneshot;

const REDIS: &str = "redis://127.0.0.1:6379/0";

/// A pool on its own key prefix, running until dropped or stopped.
struct Pool {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Pool {
    fn start(config: PoolConfig) -> Pool {
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            if let Err(e) = server::run(config, None, async {
                let _ = rx.await;
            })
            .await
            {
                panic!("pool failed: {e}");
            }
        });
        Pool {
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// Deletes a test's Redis keys.
async fn cleanup(config: &PoolConfig) {
    let Ok(client) = redis::Client::open(REDIS) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", config.key_prefix))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
    }
}

fn pool_config() -> PoolConfig {
    let prefix = format!("fbtest:{}:{}", std::process::id(), rand::random::<u32>());
    PoolConfig::new(REDIS, prefix)
}

async fn start(pool: &PoolConfig) -> Result<Setup> {
    let pool = pool.clone();
    Setup::start_configured(IrcdPorts::default(), move |c, _| {
        c.network.pool = Some(pool);
    })
    .await
}

/// Lines a raw client saw that show one of ours leaving or (re)joining.
fn quits_and_joins<'a>(seen: &'a [String], nicks: &[&str]) -> Vec<&'a String> {
    seen.iter()
        .filter(|l| {
            nicks.iter().any(|n| l.starts_with(&format!(":{n}!")))
                && (l.contains(" QUIT") || l.contains(" JOIN "))
        })
        .collect()
}

/// Bodies of the text messages in `room`, oldest first.
async fn bodies(user: &ferrybridge_tests::TestUser, room: &ruma::RoomId) -> Result<Vec<String>> {
    let mut events = user.messages(room, 200).await?;
    events.reverse();
    Ok(events
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| text_body(e).map(str::to_owned))
        .collect())
}

/// nate on IRC and mia on Matrix, both in `#pooled` through the bridge.
async fn conversation(setup: &Setup) -> Result<(RawIrc, TestUser, OwnedRoomId)> {
    let mut nate = RawIrc::connect(setup.ircd.port, "nate").await?;
    nate.join("#pooled").await?;
    let (mia, dm) = setup.user("mia").await?;
    let room = join_channel(&mia, &dm, "#pooled").await?;
    nate.expect(|l| l.starts_with(":mia[m]!") && l.contains(" JOIN "))
        .await?;
    Ok((nate, mia, room))
}

/// Reads everything the server sent nate so far (a PING round trip); how many lines he saw.
async fn read_all(nate: &mut RawIrc, token: &str) -> Result<usize> {
    nate.send(&format!("PING :{token}")).await?;
    nate.expect(|l| l.contains("PONG") && l.contains(token))
        .await?;
    Ok(nate.seen.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_restart_keeps_irc_connections_and_loses_no_line() {
    let config = pool_config();
    let mut pool = Pool::start(config.clone());
    let mut setup = start(&config).await.unwrap();
    let (mut nate, mia, room) = conversation(&setup).await.unwrap();

    // A conversation both ways before the restart.
    mia.send_text(&room, "before 1").await.unwrap();
    nate.expect(|l| l.contains("PRIVMSG #pooled :before 1"))
        .await
        .unwrap();
    nate.send("PRIVMSG #pooled :hello 1").await.unwrap();
    mia.wait_for(&room, T, |e| text_body(e) == Some("hello 1"))
        .await
        .unwrap();

    // Everything the server sent before the restart is read (a PING round trip).
    let restart_at = read_all(&mut nate, "before-restart").await.unwrap();

    // The bridge stops; IRC goes on talking; the bridge comes back.
    setup.bridge.take().unwrap().stop().await;
    for i in 0..5 {
        nate.send(&format!("PRIVMSG #pooled :while away {i}"))
            .await
            .unwrap();
    }
    // Synapse holds this one until the bridge is back.
    mia.send_text(&room, "sent while the bridge was down")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let running = start_with(setup.config.clone(), IrcBridge::init)
        .await
        .unwrap();
    setup.irc = running.network().clone();
    setup.bridge = Some(running);
    mia.wait_for(&room, T, |e| text_body(e) == Some("while away 4"))
        .await
        .unwrap();
    nate.send("PRIVMSG #pooled :hello 2").await.unwrap();
    mia.wait_for(&room, T, |e| text_body(e) == Some("hello 2"))
        .await
        .unwrap();
    mia.send_text(&room, "after 1").await.unwrap();
    nate.expect(|l| l.contains("PRIVMSG #pooled :after 1"))
        .await
        .unwrap();
    read_all(&mut nate, "after-restart").await.unwrap();

    // Every line once and in order, and nobody left or rejoined IRC.
    let got: Vec<String> = bodies(&mia, &room)
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.starts_with("hello") || b.starts_with("while away"))
        .collect();
    let want: Vec<String> = std::iter::once("hello 1".to_owned())
        .chain((0..5).map(|i| format!("while away {i}")))
        .chain(std::iter::once("hello 2".to_owned()))
        .collect();
    assert_eq!(got, want);
    let echoed = nate
        .seen
        .iter()
        .filter(|l| {
            l.contains("PRIVMSG #pooled :before 1")
                || l.contains("PRIVMSG #pooled :sent while the bridge was down")
                || l.contains("PRIVMSG #pooled :after 1")
        })
        .count();
    assert_eq!(
        echoed, 3,
        "each Matrix message once on IRC: {:#?}",
        nate.seen
    );
    let churn = quits_and_joins(&nate.seen[restart_at..], &["mia[m]", "ferrybridge"]);
    assert!(
        churn.is_empty(),
        "QUIT/JOIN on IRC across the restart: {churn:#?}"
    );

    setup.stop().await;
    pool.stop().await;
    cleanup(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_restart_and_garbage_in_redis() {
    let config = pool_config();
    let mut pool = Pool::start(config.clone());
    let setup = start(&config).await.unwrap();
    let (mut nate, mia, room) = conversation(&setup).await.unwrap();

    // Garbage on both streams: skipped, nothing breaks.
    let client = redis::Client::open(REDIS).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for stream in ["cmd", "events"] {
        let key = format!("{}:{stream}", config.key_prefix);
        let _: String = redis::cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg("t")
            .arg("lines")
            .arg("k")
            .arg("not-a-key")
            .query_async(&mut conn)
            .await
            .unwrap();
        let _: String = redis::cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg("junk")
            .arg(vec![0xffu8, 0, 1])
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    nate.send("PRIVMSG #pooled :after garbage").await.unwrap();
    mia.wait_for(&room, T, |e| text_body(e) == Some("after garbage"))
        .await
        .unwrap();

    // The pool restarts: its sockets QUIT; the bridge notices, reconnects through the new
    // pool and rejoins.
    pool.stop().await;
    nate.expect(|l| l.starts_with(":mia[m]!") && l.contains(" QUIT"))
        .await
        .unwrap();
    pool = Pool::start(config.clone());
    let (mut puppet, mut bot) = (false, false);
    while !(puppet && bot) {
        let line = nate.expect(|l| l.contains(" JOIN ")).await.unwrap();
        puppet |= line.starts_with(":mia[m]!");
        bot |= line.starts_with(":ferrybridge");
    }
    mia.send_text(&room, "after pool restart").await.unwrap();
    nate.expect(|l| l.contains("PRIVMSG #pooled :after pool restart"))
        .await
        .unwrap();
    nate.send("PRIVMSG #pooled :back again").await.unwrap();
    mia.wait_for(&room, T, |e| text_body(e) == Some("back again"))
        .await
        .unwrap();
    setup.stop().await;
    pool.stop().await;
    cleanup(&config).await;
}

/// A Redis of the test's own (so it can be killed), on a free port; killed on drop.
struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> Result<PrivateRedis> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdout(std::process::Stdio::null())
            .spawn()?;
        let mut r = PrivateRedis {
            port,
            child: Some(child),
        };
        r.wait_up()?;
        Ok(r)
    }

    fn wait_up(&mut self) -> Result<()> {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::bail!("redis-server did not come up on {}", self.port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills it as a crash would (it keeps nothing: it comes back empty).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_loses_nothing_and_drops_no_connection() {
    let port = ferrybridge_tests::free_port().unwrap();
    let mut redis_server = PrivateRedis::start(port).unwrap();
    let config = PoolConfig::new(redis_server.url(), "fbtest:outage");
    let mut pool = Pool::start(config.clone());
    let mut setup = start(&config).await.unwrap();
    let (mut nate, mia, room) = conversation(&setup).await.unwrap();
    nate.send("PRIVMSG #pooled :hello 1").await.unwrap();
    mia.wait_for(&room, T, |e| text_body(e) == Some("hello 1"))
        .await
        .unwrap();
    let outage_at = read_all(&mut nate, "before-outage").await.unwrap();

    // Redis dies (and comes back empty); both sides talk meanwhile.
    redis_server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    nate.send("PRIVMSG #pooled :during outage").await.unwrap();
    mia.send_text(&room, "matrix during outage").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _redis_again = PrivateRedis::start(port).unwrap();
    mia.wait_for(&room, T, |e| text_body(e) == Some("during outage"))
        .await
        .unwrap();
    nate.expect(|l| l.contains("PRIVMSG #pooled :matrix during outage"))
        .await
        .unwrap();

    // The pool wrote its sockets' state again: a bridge restart still takes them over.
    setup.restart_bridge().await.unwrap();
    nate.send("PRIVMSG #pooled :hello 2").await.unwrap();
    mia.wait_for(&room, T, |e| text_body(e) == Some("hello 2"))
        .await
        .unwrap();
    mia.send_text(&room, "after all that").await.unwrap();
    nate.expect(|l| l.contains("PRIVMSG #pooled :after all that"))
        .await
        .unwrap();
    let churn = quits_and_joins(&nate.seen[outage_at..], &["mia[m]", "ferrybridge"]);
    assert!(churn.is_empty(), "QUIT/JOIN on IRC: {churn:#?}");
    let got: Vec<String> = bodies(&mia, &room)
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.starts_with("hello") || b.starts_with("during"))
        .collect();
    assert_eq!(got, ["hello 1", "during outage", "hello 2"]);
    setup.stop().await;
    pool.stop().await;
}

/// With a pool, the pool holds the sockets, so its identd answers InspIRCd's ident lookups
/// (binds 127.0.0.1:113: needs root, as `irc_auth`'s identd test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_answers_ident_lookups() {
    let config = pool_config();
    let identd = ferrybridge_irc::config::IdentdConfig {
        enabled: true,
        address: "127.0.0.1".into(),
        port: 113,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let c = config.clone();
    let pool = tokio::spawn(async move {
        server::run(c, Some(identd), async {
            let _ = stopped.await;
        })
        .await
    });
    let ports = IrcdPorts {
        ident: true,
        ..IrcdPorts::default()
    };
    let pool_config = config.clone();
    let setup = Setup::start_configured(ports, move |c, _| {
        c.network.pool = Some(pool_config);
        // Ignored by the bridge with a pool: the pool runs it.
        c.network.identd.enabled = true;
        c.network.identd.address = "127.0.0.1".into();
    })
    .await
    .unwrap();
    let mut nate = RawIrc::connect(setup.ircd.port, "nate").await.unwrap();
    nate.join("#ident").await.unwrap();
    let (mia, dm) = setup.user("mia").await.unwrap();
    join_channel(&mia, &dm, "#ident").await.unwrap();
    nate.expect(|l| l.starts_with(":mia[m]!mia@") && l.contains(" JOIN "))
        .await
        .unwrap();
    setup.stop().await;
    let _ = stop.send(());
    pool.await.unwrap().unwrap();
    cleanup(&config).await;
}
