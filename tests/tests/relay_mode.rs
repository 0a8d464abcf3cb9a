//! Relay mode end to end through a real Synapse with the fake WhatsApp: in a group portal whose
//! relay is set, a member without a login talks through the relay's login, named in front of
//! each message; without the relay they are told to log in.

mod whatsapp_common;

use anyhow::Result;
use ferrybridge_core::seam::PermissionLevel;
use ferrybridge_tests::BridgeEnv;
use ferrybridge_tests::bot_chat::{bot_dm, command, is_notice_containing};
use ferrybridge_whatsapp::fake::Sent;
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::Outgoing;
use serde_json::json;
use whatsapp_common::*;

/// Whether the fake WhatsApp got `text` in the Office party group, sent by my account.
fn sent_to_group(wa: &ferrybridge_whatsapp::fake::FakeWhatsApp, text: &str) -> bool {
    wa.sent().iter().any(|r| {
        r.account == phone(ME)
            && matches!(&r.what, Sent::Message { chat: ChatJid::Group(g), message: Outgoing::Text { text: t, .. } } if g == "1203-1" && t == text)
    })
}

#[tokio::test]
async fn a_member_without_login_talks_through_the_relay() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let env = BridgeEnv::start_tuned(
        &yaml(sessions.path()),
        None,
        |config| {
            config.bridge.relay.enabled = true;
            config.bridge.relay.message_format = "<{displayname}> {message}".into();
            let alice = format!("@alice:{}", config.homeserver.domain);
            config
                .bridge
                .permissions
                .insert(alice, PermissionLevel::Admin);
        },
        bridge(sessions.path(), &wa),
    )
    .await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    qr_login(&wa, &alice, &dm).await?;
    command(&alice, &dm, "open 1203-1").await?;
    let office = accept_invite(&alice).await?;
    let carol = env.user("carol").await?;
    alice.invite(&office, &carol.user_id).await?;
    carol.join(office.as_str()).await?;

    // No relay yet: Carol is told to log in.
    let first = carol.send_text(&office, "hello").await?;
    carol
        .wait_for(&office, T, |ev| {
            is_notice_containing(ev, "not logged in")
                && ev["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == first.as_str()
        })
        .await?;

    // Not for everyone: a relay needs a logged-in user.
    let carol_dm = bot_dm(&env, &carol).await?;
    let refused = command(&carol, &carol_dm, &format!("set-relay {office}")).await?;
    assert!(
        refused.contains("moderator") || refused.contains("Log in"),
        "{refused}"
    );
    let set = command(&alice, &dm, &format!("set-relay {office}")).await?;
    assert!(set.contains("now talk through your login"), "{set}");

    // Through Alice's login, named; formatted text too; a reaction is not relayed.
    carol.send_text(&office, "hello again").await?;
    wait_sent(&wa, |_| sent_to_group(&wa, "<carol> hello again")).await?;
    carol
        .send_json(
            &office,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "bold move",
                   "format": "org.matrix.custom.html", "formatted_body": "<b>bold</b> move"}),
        )
        .await?;
    wait_sent(&wa, |_| sent_to_group(&wa, "<carol> *bold* move")).await?;
    // Alice's own messages go as hers, unprefixed.
    let from_alice = alice.send_text(&office, "from alice").await?;
    wait_sent(&wa, |_| sent_to_group(&wa, "from alice")).await?;
    carol
        .send_json(
            &office,
            "m.reaction",
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": from_alice, "key": "👍"}}),
        )
        .await?;

    // Unset: Carol is told to log in again.
    let unset = command(&alice, &dm, &format!("unset-relay {office}")).await?;
    assert!(unset.contains("no relay any more"), "{unset}");
    let last = carol.send_text(&office, "still there?").await?;
    carol
        .wait_for(&office, T, |ev| {
            is_notice_containing(ev, "not logged in")
                && ev["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == last.as_str()
        })
        .await?;
    assert!(
        !wa.sent()
            .iter()
            .any(|r| matches!(&r.what, Sent::Reaction { .. }))
    );
    Ok(())
}
