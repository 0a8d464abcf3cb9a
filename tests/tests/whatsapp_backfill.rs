//! Backfill through the WhatsApp bridge, with the fake WhatsApp behind a real Synapse: the
//! history sync after login fills the new portals (kept in the bridge's store), a restarted
//! bridge shows the offline messages WhatsApp delivers on reconnection, each message once, in
//! order, with WhatsApp's time, and none of it goes back to WhatsApp.

mod whatsapp_common;

use anyhow::{Context, Result};
use ferrybridge_tests::bot_chat::{bot_dm, sender};
use ferrybridge_tests::timeline::{bodies, texts, wait_texts};
use ferrybridge_tests::{BridgeEnv, text_body};
use ferrybridge_whatsapp::fake::{FakeWhatsApp, Sent};
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::{Outgoing, WaEvent, WaMessage};
use whatsapp_common::*;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A text message from Bob to me, sent at `timestamp` (Unix seconds).
fn from_bob(id: &str, body: &str, timestamp: i64) -> WaMessage {
    WaMessage {
        id: id.into(),
        chat: ChatJid::Direct(phone(BOB)),
        sender: phone(BOB),
        from_me: false,
        push_name: Some("Bob".into()),
        timestamp,
        body: text(body),
        expires_in: None,
    }
}

/// Whether the bridge sent a text starting with `prefix` to WhatsApp.
fn sent_text(wa: &FakeWhatsApp, prefix: &str) -> bool {
    wa.sent().iter().any(|s| {
        matches!(&s.what, Sent::Message { message: Outgoing::Text { text, .. }, .. }
            if text.starts_with(prefix))
    })
}

#[tokio::test]
async fn the_history_sync_fills_a_new_portal_once_and_in_order() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let bob_chat = ChatJid::Direct(phone(BOB));
    let an_hour_ago = now() - 3600;
    // What the phone sends the new device: Bob's chat, active a minute ago, with its messages.
    wa.history_sync(vec![(
        bob_chat.clone(),
        now() - 60,
        (1..=3)
            .map(|i| from_bob(&format!("H{i}"), &format!("early {i}"), an_hour_ago + i))
            .collect(),
    )]);
    let env = BridgeEnv::start(&yaml(sessions.path()), None, bridge(sessions.path(), &wa)).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    qr_login(&wa, &alice, &dm).await?;
    let room = accept_invite(&alice).await?;

    let got = wait_texts(&alice, &room, "early", 3).await?;
    assert_eq!(bodies(&got), ["early 1", "early 2", "early 3"]);
    let events = alice.messages(&room, 200).await?;
    let first = events
        .iter()
        .find(|ev| text_body(ev) == Some("early 1"))
        .context("early 1 is gone")?;
    let bob_ghost = format!("@whatsapp_441111111:{}", env.synapse.server_name());
    assert_eq!(sender(first), bob_ghost, "posted by Bob's ghost");
    let created = events
        .iter()
        .find(|ev| ev["type"] == "m.room.create")
        .context("no create event")?;
    let created_ts = created["origin_server_ts"].as_u64().unwrap_or(0);
    let first_ts = u64::try_from(an_hour_ago + 1)? * 1000;
    assert_eq!(
        got.iter().map(|(_, ts)| *ts).collect::<Vec<_>>(),
        [first_ts, first_ts + 1000, first_ts + 2000],
        "WhatsApp's times"
    );
    assert!(first_ts + 2000 < created_ts, "older than the room");

    // Live messages follow; nothing of the history went back to WhatsApp.
    let live = from_bob("L1", "live 1", now());
    assert!(wa.inject(&phone(ME), WaEvent::Message(live)).await);
    alice
        .wait_for(&room, T, |ev| text_body(ev) == Some("live 1"))
        .await?;
    alice.send_text(&room, "marker").await?;
    wait_sent(&wa, |s| matches!(s, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "marker")).await?;
    assert!(
        !sent_text(&wa, "early"),
        "history is not sent back to WhatsApp"
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
async fn offline_messages_arrive_once_and_in_order_after_a_restart() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let me = phone(ME);
    let mut env =
        BridgeEnv::start(&yaml(sessions.path()), None, bridge(sessions.path(), &wa)).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    qr_login(&wa, &alice, &dm).await?;

    // A conversation while the bridge is up: Bob's first message opens the portal.
    let start = now();
    let before1 = from_bob("B1", "before 1", start);
    let before2 = from_bob("B2", "before 2", start + 1);
    assert!(wa.inject(&me, WaEvent::Message(before1.clone())).await);
    let room = accept_invite(&alice).await?;
    assert!(wa.inject(&me, WaEvent::Message(before2.clone())).await);
    let before = wait_texts(&alice, &room, "before", 2).await?;
    assert_eq!(bodies(&before), ["before 1", "before 2"]);

    env.stop().await;
    // While the bridge is down Bob writes three times: WhatsApp keeps them for the device.
    // On reconnection the phone also sends a history sync that overlaps what was bridged.
    for i in 1..=3 {
        let m = from_bob(&format!("W{i}"), &format!("while {i}"), start + 10 + i);
        wa.inject_or_keep(&me, WaEvent::Message(m)).await;
    }
    wa.history_sync(vec![(
        ChatJid::Direct(phone(BOB)),
        start + 1,
        vec![before1, before2],
    )]);
    env.run(bridge(sessions.path(), &wa)).await?;

    let caught = wait_texts(&alice, &room, "while", 3).await?;
    assert_eq!(
        bodies(&caught),
        ["while 1", "while 2", "while 3"],
        "every offline message once, in order"
    );
    let start_ms = u64::try_from(start)? * 1000;
    assert_eq!(
        caught.iter().map(|(_, ts)| *ts).collect::<Vec<_>>(),
        [start_ms + 11_000, start_ms + 12_000, start_ms + 13_000],
        "WhatsApp's times"
    );
    let after = from_bob("A1", "after 1", now());
    wa.inject_or_keep(&me, WaEvent::Message(after)).await;
    alice
        .wait_for(&room, T, |ev| text_body(ev) == Some("after 1"))
        .await?;
    let all = texts(&alice, &room, "").await?;
    let order: Vec<&str> = bodies(&all)
        .into_iter()
        .filter(|b| b.starts_with("before") || b.starts_with("while") || b.starts_with("after"))
        .collect();
    assert_eq!(
        order,
        [
            "before 1", "before 2", "while 1", "while 2", "while 3", "after 1"
        ]
    );
    for prefix in ["before", "while", "after"] {
        assert!(
            !sent_text(&wa, prefix),
            "{prefix}: not sent back to WhatsApp"
        );
    }
    Ok(())
}
