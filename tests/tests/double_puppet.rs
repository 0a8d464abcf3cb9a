//! Double puppeting end to end, through a real Synapse loading the bridge's registration and a
//! double-puppet registration (`generate-double-puppet-registration`), with the fake WhatsApp:
//! what the user sends from their phone appears as sent by their own Matrix account, and none
//! of it goes back to WhatsApp.

mod whatsapp_common;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use ferrybridge_core::cli::double_puppet_registration;
use ferrybridge_tests::bot_chat::{bot_dm, command, sender};
use ferrybridge_tests::{BridgeEnv, Synapse, text_body};
use ferrybridge_whatsapp::WhatsAppBridge;
use ferrybridge_whatsapp::fake::Sent;
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::{Outgoing, WaMessageBody};
use whatsapp_common::*;

#[tokio::test]
async fn own_messages_come_from_the_users_own_account_and_are_not_echoed() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let mut prepared = BridgeEnv::<WhatsAppBridge>::prepare(&yaml(sessions.path()), None, |_| {})?;
    let domain = prepared.config.homeserver.domain.clone();
    let (registration, token) = double_puppet_registration(&domain);
    let dp_registration = prepared.dir.path().join("double-puppet-registration.yaml");
    std::fs::write(&dp_registration, registration)?;
    prepared
        .config
        .double_puppet
        .secrets
        .insert(domain, format!("as_token:{token}"));
    let synapse = Synapse::start(&[prepared.registration().to_owned(), dp_registration]).await?;
    let env =
        BridgeEnv::start_on(Arc::new(synapse), prepared, bridge(sessions.path(), &wa)).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    qr_login(&wa, &alice, &dm).await?;
    let me = phone(ME);
    let bob_chat = ChatJid::Direct(phone(BOB));
    command(&alice, &dm, "pm +441111111").await?;
    let bob_room = accept_invite(&alice).await?;

    // A message, then a reaction and a deletion, all from the phone: Alice's own account.
    wa.inject(
        &me,
        incoming("B1", bob_chat.clone(), BOB, text("hi from bob")),
    )
    .await;
    let bobs = alice
        .wait_for(&bob_room, T, |ev| text_body(ev) == Some("hi from bob"))
        .await?;
    wa.inject(
        &me,
        from_phone("P1", bob_chat.clone(), text("from my phone")),
    )
    .await;
    let own = alice
        .wait_for(&bob_room, T, |ev| text_body(ev) == Some("from my phone"))
        .await?;
    assert_eq!(sender(&own), alice.user_id.as_str(), "{own}");
    wa.inject(
        &me,
        from_phone(
            "P2",
            bob_chat.clone(),
            WaMessageBody::Reaction {
                target: "B1".into(),
                emoji: "👍".into(),
            },
        ),
    )
    .await;
    let reaction = alice
        .wait_for(&bob_room, T, |ev| ev["type"] == "m.reaction")
        .await?;
    assert_eq!(sender(&reaction), alice.user_id.as_str());
    assert_eq!(
        reaction["content"]["m.relates_to"]["event_id"],
        bobs["event_id"]
    );
    wa.inject(
        &me,
        from_phone(
            "P3",
            bob_chat.clone(),
            WaMessageBody::Revoke {
                target: "P1".into(),
            },
        ),
    )
    .await;
    let redaction = alice
        .wait_for(&bob_room, T, |ev| ev["type"] == "m.room.redaction")
        .await?;
    assert_eq!(sender(&redaction), alice.user_id.as_str());

    // Alice's next Matrix message goes out; by then the echoes above were seen and dropped.
    alice.send_text(&bob_room, "typed in Element").await?;
    wait_sent(&wa, |s| matches!(s, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "typed in Element")).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let echoed: Vec<_> = wa
        .sent()
        .into_iter()
        .filter(|r| match &r.what {
            Sent::Message {
                message: Outgoing::Text { text, .. },
                ..
            } => text == "from my phone",
            Sent::Reaction { .. } | Sent::Revoke { .. } => true,
            _ => false,
        })
        .collect();
    assert!(echoed.is_empty(), "sent back to WhatsApp: {echoed:?}");
    Ok(())
}
