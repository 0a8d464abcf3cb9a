//! Backfill through the Telegram bridge, with the fake Telegram behind a real Synapse: a new
//! portal gets the chat's history, a restarted bridge gets what was said while it was down
//! (whether Telegram's update catch-up brings it or only the chat's history has it), each
//! message once, in order, with Telegram's time, and none of it goes back to Telegram.

mod telegram_common;

use anyhow::{Context, Result};
use ferrybridge_telegram::fake::Sent;
use ferrybridge_telegram::network::{ChatRef, TgUpdate};
use ferrybridge_tests::text_body;
use ferrybridge_tests::timeline::{bodies, texts, wait_texts};
use telegram_common::*;

/// Whether our account sent a message or file starting with `prefix` to Telegram.
fn sent_text(world: &ferrybridge_telegram::fake::FakeWorld, prefix: &str) -> bool {
    world.sent(ME).iter().any(|s| match s {
        Sent::Message { msg, .. } => msg.text.starts_with(prefix),
        Sent::Media { media, .. } => media.caption.text.starts_with(prefix),
        _ => false,
    })
}

#[tokio::test]
async fn a_new_portal_gets_the_chats_history_once_and_in_order() -> Result<()> {
    let world = world();
    let chat = ChatRef::user(BOB);
    // Bob and Alice talked an hour ago, before the bridge knew either.
    let an_hour_ago = now() - 3600;
    for i in 1..=3 {
        let mut m = incoming(100 + i, chat, bob(), &format!("early {i}"));
        m.date = an_hour_ago + i64::from(i);
        world.add_history(m);
    }
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    command(&alice, &dm, "pm @bob_tg").await?;
    let room = accept(&alice).await?;

    let got = wait_texts(&alice, &room, "early", 3).await?;
    assert_eq!(bodies(&got), ["early 1", "early 2", "early 3"]);
    let events = alice.messages(&room, 200).await?;
    let first = events
        .iter()
        .find(|ev| text_body(ev) == Some("early 1"))
        .context("early 1 is gone")?;
    assert_eq!(sender(first), ghost(&env, BOB), "posted by Bob's ghost");
    // With Telegram's time: from before the room existed, a second apart.
    let created = events
        .iter()
        .find(|ev| ev["type"] == "m.room.create")
        .context("no create event")?;
    let created_ts = created["origin_server_ts"].as_u64().unwrap_or(0);
    assert!(
        got.iter().all(|(_, ts)| *ts < created_ts),
        "backfilled messages keep their time: {got:?}, room created at {created_ts}"
    );
    let first_ts = u64::try_from(an_hour_ago + 1)? * 1000;
    assert_eq!(
        got.iter().map(|(_, ts)| *ts).collect::<Vec<_>>(),
        [first_ts, first_ts + 1000, first_ts + 2000]
    );

    // Live messages follow, and nothing of the history went back to Telegram.
    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(200, chat, bob(), "live 1")),
        )
        .await;
    wait_text(&alice, &room, "live 1").await?;
    alice.send_text(&room, "marker").await?;
    wait_sent(
        &world,
        |s| matches!(s, Sent::Message { msg, .. } if msg.text == "marker"),
    )
    .await?;
    assert!(
        !sent_text(&world, "early"),
        "history is not sent back to Telegram"
    );
    let again = texts(&alice, &room, "early").await?;
    assert_eq!(
        bodies(&again),
        ["early 1", "early 2", "early 3"],
        "once each"
    );
    Ok(())
}

#[tokio::test]
async fn what_a_group_said_while_the_bridge_was_down_arrives_after_restart() -> Result<()> {
    let world = world();
    let group = ChatRef::group(GROUP);
    let mut env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;

    // A conversation while the bridge is up: the first message opens the group's portal.
    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(301, group, bob(), "before 1")),
        )
        .await;
    let room = accept(&alice).await?;
    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(302, group, bob(), "before 2")),
        )
        .await;
    let before = wait_texts(&alice, &room, "before", 2).await?;
    assert_eq!(bodies(&before), ["before 1", "before 2"]);

    env.stop().await;
    // While the bridge is down: two messages Telegram's update catch-up delivers on
    // reconnection, then two only the chat's history has (catch-up gaps happen: Telegram
    // drops long update backlogs).
    let down = now();
    for i in 1..=2 {
        let mut m = incoming(400 + i, group, bob(), &format!("while {i}"));
        m.date = down + i64::from(i);
        world.inject(ME, TgUpdate::NewMessage(m)).await;
    }
    for i in 3..=4 {
        let mut m = incoming(400 + i, group, bob(), &format!("while {i}"));
        m.date = down + i64::from(i);
        world.add_history(m);
    }
    env.run(bridge(&world)).await?;

    let caught = wait_texts(&alice, &room, "while", 4).await?;
    assert_eq!(
        bodies(&caught),
        ["while 1", "while 2", "while 3", "while 4"],
        "every missed message once, in order"
    );
    let down_ms = u64::try_from(down)? * 1000;
    assert_eq!(
        caught.iter().map(|(_, ts)| *ts).collect::<Vec<_>>(),
        [
            down_ms + 1000,
            down_ms + 2000,
            down_ms + 3000,
            down_ms + 4000
        ],
        "Telegram's times"
    );
    // Live messages still flow, and nothing is repeated or sent back.
    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(500, group, bob(), "after 1")),
        )
        .await;
    wait_text(&alice, &room, "after 1").await?;
    let all = texts(&alice, &room, "").await?;
    let order: Vec<&str> = bodies(&all)
        .into_iter()
        .filter(|b| b.starts_with("before") || b.starts_with("while") || b.starts_with("after"))
        .collect();
    assert_eq!(
        order,
        [
            "before 1", "before 2", "while 1", "while 2", "while 3", "while 4", "after 1"
        ]
    );
    for prefix in ["before", "while", "after"] {
        assert!(
            !sent_text(&world, prefix),
            "{prefix}: not sent back to Telegram"
        );
    }
    Ok(())
}
