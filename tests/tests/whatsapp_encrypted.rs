//! WhatsApp in an encrypted group portal (fake WhatsApp, real Synapse, encrypting test
//! client): text both ways, a reply, and a member of the group joining later.

mod whatsapp_common;

use anyhow::Result;
use ferrybridge_tests::BridgeEnv;
use ferrybridge_tests::bot_chat::command;
use ferrybridge_whatsapp::fake::Sent;
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::{Outgoing, WaMessageBody};
use whatsapp_common::*;

#[tokio::test]
async fn encrypted_group_portal_both_ways() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let env = BridgeEnv::start_tuned(
        &yaml(sessions.path()),
        None,
        |c| {
            c.encryption.allow = true;
            c.encryption.default = true;
        },
        bridge(sessions.path(), &wa),
    )
    .await?;
    let alice = env.user("alice").await?;
    alice.enable_e2ee().await?;
    // The bot DM is encrypted too, as Element X makes it: the QR code is an encrypted image,
    // and so is the rotated one that replaces it.
    let dm = alice.create_encrypted_dm(&env.bot()).await?;
    alice
        .wait_for(&dm, T, |ev| {
            ferrybridge_tests::bot_chat::is_notice_containing(ev, "help")
        })
        .await?;
    qr_login(&wa, &alice, &dm).await?;
    let images: Vec<_> = alice
        .seen_events(&dm)
        .into_iter()
        .filter(|ev| ev["content"]["msgtype"] == "m.image")
        .collect();
    assert!(!images.is_empty());
    for image in &images {
        assert_eq!(image["fb_encrypted"], true, "{image}");
        assert!(image["content"]["url"].is_null(), "plaintext QR: {image}");
    }
    assert!(alice.media_bytes(&images[0]).await?.starts_with(b"\x89PNG"));
    let rotated = alice
        .seen_events(&dm)
        .into_iter()
        .find(|ev| ev["content"]["m.new_content"]["msgtype"] == "m.image")
        .expect("the rotated QR");
    assert!(
        rotated["content"]["m.new_content"]["file"]["key"].is_object(),
        "{rotated}"
    );
    let opened = command(&alice, &dm, "open 1203-1").await?;
    assert!(
        opened.starts_with("Invited you to Office party"),
        "{opened}"
    );
    let office = accept_invite(&alice).await?;
    let encryption = alice.get_state(&office, "m.room.encryption", "").await?;
    assert_eq!(encryption["algorithm"], "m.megolm.v1.aes-sha2");

    let me = phone(ME);
    let group = ChatJid::Group("1203-1".into());
    wa.inject(
        &me,
        incoming(
            "W1",
            group.clone(),
            BOB,
            WaMessageBody::Text {
                text: "hello from the group".into(),
                reply_to: None,
            },
        ),
    )
    .await;
    let ev = alice
        .wait_for(&office, T, |ev| {
            ferrybridge_tests::text_body(ev) == Some("hello from the group")
        })
        .await?;
    assert_eq!(ev["fb_encrypted"], true, "{ev}");
    let bob_event: ruma::OwnedEventId = ev["event_id"].as_str().unwrap_or_default().try_into()?;

    alice
        .send_encrypted(
            &office,
            "m.room.message",
            serde_json::json!({
                "msgtype": "m.text", "body": "hi bob",
                "m.relates_to": {"m.in_reply_to": {"event_id": bob_event}},
            }),
        )
        .await?;
    wait_sent(&wa, |s| {
        matches!(s, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "hi bob")
    })
    .await?;

    // A second Matrix user joins the portal later and reads new messages.
    let carol = env.user("carol-mx").await?;
    carol.enable_e2ee().await?;
    alice.invite(&office, &carol.user_id).await?;
    carol.join(office.as_str()).await?;
    wa.inject(
        &me,
        incoming(
            "W2",
            group,
            BOB,
            WaMessageBody::Text {
                text: "welcome".into(),
                reply_to: None,
            },
        ),
    )
    .await;
    let seen = carol
        .wait_for(&office, T, |ev| {
            ferrybridge_tests::text_body(ev) == Some("welcome")
        })
        .await?;
    assert_eq!(seen["fb_encrypted"], true, "{seen}");
    Ok(())
}
