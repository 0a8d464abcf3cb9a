//! Disappearing messages through the WhatsApp bridge, with the fake WhatsApp behind a real
//! Synapse: a message sent with a timer is redacted on Matrix when the timer runs out (counted
//! from its WhatsApp time), one without stays, and one whose timer ran out while the bridge was
//! down is redacted when it is back.

mod whatsapp_common;

use anyhow::{Context, Result};
use ferrybridge_tests::{TestUser, text_body, wait_until};
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::{WaEvent, WaMessage};
use reqwest::Method;
use ruma::RoomId;
use serde_json::Value;
use std::time::Duration;
use whatsapp_common::*;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A text message from Bob, sent now, disappearing after `expires_in` seconds when given.
fn from_bob(id: &str, body: &str, expires_in: Option<u32>) -> WaEvent {
    WaEvent::Message(WaMessage {
        id: id.into(),
        chat: ChatJid::Direct(phone(BOB)),
        sender: phone(BOB),
        from_me: false,
        push_name: Some("Bob".into()),
        timestamp: now(),
        body: text(body),
        expires_in,
    })
}

/// The event `id` of `room` as `user` sees it now.
async fn event(user: &TestUser, room: &RoomId, id: &str) -> Result<Value> {
    user.call(
        Method::GET,
        &["rooms", room.as_str(), "event", id],
        &[],
        None,
    )
    .await
}

/// Whether the event has been redacted (Synapse strips its content and says why).
fn redacted(ev: &Value) -> bool {
    ev["unsigned"]["redacted_because"].is_object()
}

/// Waits until the event with `body` is in `room`; returns its ID.
async fn arrived(user: &TestUser, room: &RoomId, body: &str) -> Result<String> {
    let ev = user
        .wait_for(room, T, |ev| text_body(ev) == Some(body))
        .await?;
    ev["event_id"]
        .as_str()
        .map(str::to_owned)
        .context("event without an ID")
}

/// Waits until `id` is redacted.
async fn wait_redacted(user: &TestUser, room: &RoomId, id: &str) -> Result<Value> {
    wait_until(T, || async {
        event(user, room, id).await.is_ok_and(|ev| redacted(&ev))
    })
    .await
    .with_context(|| format!("{id} was not redacted"))?;
    event(user, room, id).await
}

#[tokio::test]
async fn timed_messages_are_redacted_when_they_expire_also_across_a_restart() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let me = phone(ME);
    let (mut env, alice, _dm) = logged_in(&wa, sessions.path()).await?;

    // A message without a timer opens the portal and stays; one with a 3 s timer goes.
    assert!(wa.inject(&me, from_bob("K1", "kept", None)).await);
    let room = accept_invite(&alice).await?;
    let kept = arrived(&alice, &room, "kept").await?;
    assert!(wa.inject(&me, from_bob("D1", "disappears", Some(3))).await);
    let gone = arrived(&alice, &room, "disappears").await?;
    let ev = wait_redacted(&alice, &room, &gone).await?;
    assert_eq!(
        ev["unsigned"]["redacted_because"]["content"]["reason"],
        "disappearing message expired"
    );

    // A timer that runs out while the bridge is down: redacted once it is back.
    assert!(
        wa.inject(&me, from_bob("D2", "expires while down", Some(4)))
            .await
    );
    let down = arrived(&alice, &room, "expires while down").await?;
    env.stop().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !redacted(&event(&alice, &room, &down).await?),
        "nothing redacts while the bridge is down"
    );
    env.run(bridge(sessions.path(), &wa)).await?;
    wait_redacted(&alice, &room, &down).await?;

    assert!(
        !redacted(&event(&alice, &room, &kept).await?),
        "a message without a timer stays"
    );
    Ok(())
}
