//! Connection pool benchmark (ignored by default; run with
//! `FB_BENCH_POOLED=1000 cargo test -p ferrybridge-tests --test irc_pool_bench -- --ignored --nocapture`):
//! `FB_BENCH_POOLED` puppets (default 1000) connected through the pool and sitting in one
//! channel, then a bridge restart: how long until every puppet is taken over and a message
//! goes through again, and how many QUITs and JOINs a plain IRC client in the channel saw
//! (should be none). The pool runs in this process (its own task set), Redis on 6379.

#[path = "irc/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use ferrybridge_irc::pool::{PoolConfig, server};
use futures::StreamExt;
use ruma::OwnedUserId;
use support::{IrcdPorts, RawIrc, Setup};

const CHANNEL: &str = "#poolbench";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn bridge_restart_with_pooled_connections() {
    let n: usize = std::env::var("FB_BENCH_POOLED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let config = PoolConfig::new(
        "redis://127.0.0.1:6379/0",
        format!("fbbench:{}", std::process::id()),
    );
    let (stop_pool, stopped) = tokio::sync::oneshot::channel::<()>();
    let pool = tokio::spawn(server::run(config.clone(), None, async {
        let _ = stopped.await;
    }));
    let pool_config = config.clone();
    let mut setup = Setup::start_configured(IrcdPorts::default(), move |c, _| {
        c.network.pool = Some(pool_config);
        if let Some(s) = c.network.servers.get_mut("localhost") {
            s.max_connections = 100_000;
        }
    })
    .await
    .unwrap();
    let mut watcher = RawIrc::connect(setup.ircd.port, "poolwatch").await.unwrap();
    watcher.join(CHANNEL).await.unwrap();
    let users: Vec<OwnedUserId> = (0..n)
        .map(|i| format!("@pooled{i}:localhost").try_into().unwrap())
        .collect();
    let net = setup.irc.networks.get("localhost").unwrap().clone();
    let start = Instant::now();
    futures::stream::iter(&users)
        .map(|u| {
            let net = net.clone();
            async move {
                let conn = net.ensure_puppet(u).await.unwrap();
                conn.wait_registered(Duration::from_secs(600))
                    .await
                    .unwrap();
                conn.join(CHANNEL, None, Duration::from_secs(120))
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(100)
        .collect::<Vec<_>>()
        .await;
    let connect = start.elapsed();
    watcher.send("PING :all-in").await.unwrap();
    watcher
        .expect(|l| l.contains("PONG") && l.contains("all-in"))
        .await
        .unwrap();
    let before = watcher.seen.len();

    let restart = Instant::now();
    setup.restart_bridge().await.unwrap();
    let started = restart.elapsed();
    setup.all_registered(&users, Duration::from_secs(600)).await;
    let taken_over = restart.elapsed();
    let net = setup.irc.networks.get("localhost").unwrap().clone();
    let last = users.last().unwrap();
    let conn = net.puppet(last).unwrap();
    conn.send_confirmed(
        CHANNEL,
        vec![format!("PRIVMSG {CHANNEL} :flowing again")],
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    watcher
        .expect(|l| l.contains("flowing again"))
        .await
        .unwrap();
    let flowing = restart.elapsed();
    let churn = |what: &str| {
        watcher.seen[before..]
            .iter()
            .filter(|l| l.contains(what))
            .count()
    };
    println!(
        "BENCH pooled={n} connect_and_join_all={:.1}s bridge_restart: started={:.2}s \
         all_taken_over={:.2}s message_through={:.2}s irc_quits={} irc_joins={}",
        connect.as_secs_f64(),
        started.as_secs_f64(),
        taken_over.as_secs_f64(),
        flowing.as_secs_f64(),
        churn(" QUIT"),
        churn(" JOIN ")
    );
    setup.stop().await;
    let _ = stop_pool.send(());
    let _ = pool.await;
}
