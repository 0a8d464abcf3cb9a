//! The IRC bridge's bounds end to end (`limits:`): a real Synapse and InspIRCd, the bridge
//! in-process.

#[path = "irc/support.rs"]
#[allow(dead_code)] // each test file uses a different part
mod support;

use ferrybridge_tests::text_body;
use support::{IrcdPorts, RawIrc, Setup, T, join_channel};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_past_the_paced_backlog_are_refused_with_a_notice() {
    // A crawl of a flood rate and a tiny backlog: a quick burst of messages must hit the cap.
    let setup = Setup::start_configured(IrcdPorts::default(), |config, _| {
        config.limits.remote_backlog = 2;
        if let Some(server) = config.network.servers.get_mut("localhost") {
            server.flood.burst = 4;
            server.flood.per_second = 0.1;
        }
    })
    .await
    .unwrap();
    let mut watcher = RawIrc::connect(setup.ircd.port, "watcher").await.unwrap();
    watcher.join("#crawl").await.unwrap();
    let (gina, dm) = setup.user("gina").await.unwrap();
    let room = join_channel(&gina, &dm, "#crawl").await.unwrap();
    for i in 0..8 {
        gina.send_text(&room, &format!("line {i}")).await.unwrap();
    }
    let notice = gina
        .wait_for(&room, T, |e| {
            e["sender"] == "@ircbot:localhost"
                && text_body(e).is_some_and(|b| b.contains("lines behind"))
        })
        .await
        .unwrap();
    assert!(
        text_body(&notice).is_some_and(|b| b.contains("was not sent")),
        "{notice}"
    );
    watcher
        .expect(|l| l.contains("PRIVMSG #crawl :line 0"))
        .await
        .unwrap();
    setup.stop().await;
}
