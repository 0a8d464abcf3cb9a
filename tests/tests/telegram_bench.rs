//! Benchmark of the Telegram bridge on the fake network against a real Synapse (ignored by
//! default; run with `bridges/telegram/benches/relay.sh`): relay throughput each way and the
//! memory each logged-in user costs.

mod telegram_common;

use std::time::Instant;

use anyhow::Result;
use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::login::LoginStep;
use ferrybridge_telegram::fake::Sent;
use ferrybridge_telegram::network::{ChatRef, TgMessage, TgUpdate};
use ferrybridge_tests::{text_body, wait_until};
use ruma::OwnedUserId;
use telegram_common::*;

const MESSAGES: usize = 300;
const USERS: usize = 200;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run bridges/telegram/benches/relay.sh"]
async fn relay_throughput_and_memory_per_user() -> Result<()> {
    let world = world();
    let env = ferrybridge_tests::BridgeEnv::start(YAML, None, bridge(&world)).await?;
    let bridge = env.network().expect("the bridge runs");
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    command(&alice, &dm, "pm @bob_tg").await?;
    let room = alice.wait_for_invite(T).await?;
    alice.join(room.as_str()).await?;

    // Telegram → Matrix.
    let bob = user(BOB, "Bob", "+4400000002", "bob_tg");
    let start = Instant::now();
    for i in 0..MESSAGES {
        world
            .inject(
                ME,
                TgUpdate::NewMessage(TgMessage {
                    id: 10_000 + i as i32,
                    chat: ChatRef::user(BOB),
                    sender: bob.clone(),
                    outgoing: false,
                    text: format!("in {i}"),
                    entities: vec![],
                    reply_to: None,
                    media: None,
                    content: None,
                    date: 0,
                }),
            )
            .await;
    }
    let last = format!("in {}", MESSAGES - 1);
    alice
        .wait_for(&room, std::time::Duration::from_secs(300), |ev| {
            text_body(ev) == Some(last.as_str())
        })
        .await?;
    let inbound = start.elapsed();

    // Matrix → Telegram.
    let before = world.sent_count();
    let start = Instant::now();
    for i in 0..MESSAGES {
        alice.send_text(&room, &format!("out {i}")).await?;
    }
    wait_until(std::time::Duration::from_secs(300), || async {
        world
            .sent(ME)
            .iter()
            .filter(|s| matches!(s, Sent::Message { .. }))
            .count()
            >= MESSAGES
    })
    .await?;
    let outbound = start.elapsed();
    assert!(world.sent_count() >= before + MESSAGES);

    // Memory: USERS more accounts log in through the login dialogue (no Matrix round trips).
    let rss_before = rss_kib();
    for n in 0..USERS {
        let phone = format!("+4410000{n:05}");
        world.add_account(
            &phone,
            user(
                100_000 + n as i64,
                &format!("User{n}"),
                &phone[1..],
                &format!("u{n}"),
            ),
            "11111",
            None,
        );
        let mxid = OwnedUserId::try_from(format!("@bench{n}:{}", env.synapse.server_name()))?;
        let mut login = bridge.start_login(&mxid, &[]).await?;
        for input in [phone.as_str(), "11111"] {
            assert!(matches!(login.next().await, LoginStep::Input { .. }));
            login.submit(input.to_owned()).await;
        }
        assert!(matches!(login.next().await, LoginStep::Done { .. }));
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let rss_after = rss_kib();
    assert_eq!(bridge.session_count(), USERS + 1);
    let per_user = (rss_after.saturating_sub(rss_before)) as f64 / USERS as f64;

    let rate = |d: std::time::Duration| MESSAGES as f64 / d.as_secs_f64();
    println!(
        "BENCH telegram→matrix: {MESSAGES} messages in {inbound:.2?} = {:.0} msg/s",
        rate(inbound)
    );
    println!(
        "BENCH matrix→telegram: {MESSAGES} messages in {outbound:.2?} = {:.0} msg/s (includes the test client's sends)",
        rate(outbound)
    );
    println!(
        "BENCH memory: {USERS} logged-in users add {} KiB RSS = {per_user:.1} KiB/user",
        rss_after.saturating_sub(rss_before)
    );
    Ok(())
}
