//! WhatsApp content beyond text and media, end to end through a real Synapse with the fake
//! WhatsApp: messages the user sent from their phone, contact cards, disappearing-message
//! timers and kinds the bridge does not know (polls: `whatsapp_polls.rs`).

mod whatsapp_common;

use anyhow::Result;
use ferrybridge_tests::bot_chat::{bot_dm, command, is_notice_containing, sender};
use ferrybridge_tests::{BridgeEnv, text_body};
use ferrybridge_whatsapp::fake::Sent;
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::{ContactCard, MediaKind, Outgoing, WaMessageBody};
use whatsapp_common::*;

#[tokio::test]
async fn own_messages_cards_and_timers_reach_matrix() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let env = BridgeEnv::start(&yaml(sessions.path()), None, bridge(sessions.path(), &wa)).await?;
    let server = env.synapse.server_name().to_owned();
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    qr_login(&wa, &alice, &dm).await?;
    let me = phone(ME);
    let bob_chat = ChatJid::Direct(phone(BOB));
    command(&alice, &dm, "pm +441111111").await?;
    let bob_room = accept_invite(&alice).await?;
    let bob_ghost = format!("@whatsapp_441111111:{server}");
    let own_ghost = format!("@whatsapp_447000000001:{server}");

    // Sent from the phone: in the portal, from the user's own number.
    wa.inject(
        &me,
        from_phone("P1", bob_chat.clone(), text("sent from my phone")),
    )
    .await;
    let own = alice
        .wait_for(&bob_room, T, |ev| {
            text_body(ev) == Some("sent from my phone")
        })
        .await?;
    assert_eq!(sender(&own), own_ghost);
    // Sent from Matrix: a copy WhatsApp hands back as the user's own is not bridged again.
    alice.send_text(&bob_room, "from matrix").await?;
    wait_sent(&wa, |s| matches!(s, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "from matrix")).await?;
    let sent_id = wa
        .sent()
        .into_iter()
        .find(|r| matches!(&r.what, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "from matrix"))
        .map(|r| r.id)
        .expect("sent");
    wa.inject(
        &me,
        from_phone(&sent_id, bob_chat.clone(), text("from matrix")),
    )
    .await;

    // A voice note from Matrix (MSC3245) is a voice note on WhatsApp, not an audio file.
    let host = env.host().expect("running");
    let ogg = bytes::Bytes::from_static(b"OggS voice");
    let mxc = host
        .matrix()
        .upload(ogg, "audio/ogg", Some("voice.ogg"))
        .await?;
    alice
        .send_json(
            &bob_room,
            "m.room.message",
            serde_json::json!({"msgtype": "m.audio", "body": "voice.ogg", "url": mxc,
                "info": {"mimetype": "audio/ogg"},
                "org.matrix.msc3245.voice": {}, "org.matrix.msc1767.audio": {}}),
        )
        .await?;
    wait_sent(&wa, |s| {
        matches!(
            s,
            Sent::Message {
                message: Outgoing::Media {
                    kind: MediaKind::Voice,
                    ..
                },
                ..
            }
        )
    })
    .await?;

    // A contact card with its numbers.
    let card = ContactCard {
        name: "Dora".into(),
        vcard: "BEGIN:VCARD\nVERSION:3.0\nFN:Dora\nitem1.TEL;waid=447000:+44 7000\nEND:VCARD"
            .into(),
    };
    wa.inject(
        &me,
        incoming(
            "C1",
            bob_chat.clone(),
            BOB,
            WaMessageBody::Contacts { cards: vec![card] },
        ),
    )
    .await;
    let contact = alice
        .wait_for(&bob_room, T, |ev| {
            text_body(ev).is_some_and(|b| b.starts_with("Contact: Dora"))
        })
        .await?;
    assert_eq!(sender(&contact), bob_ghost);
    assert!(
        text_body(&contact).is_some_and(|b| b.contains("phone: +44 7000")),
        "{contact}"
    );
    // The timer, and a kind the bridge does not know: notices, never silence.
    wa.inject(
        &me,
        incoming(
            "C3",
            bob_chat.clone(),
            BOB,
            WaMessageBody::DisappearingTimer { seconds: 86_400 },
        ),
    )
    .await;
    alice
        .wait_for(&bob_room, T, |ev| {
            is_notice_containing(ev, "new messages disappear after 1 day")
        })
        .await?;
    wa.inject(
        &me,
        incoming(
            "C4",
            bob_chat.clone(),
            BOB,
            WaMessageBody::Unsupported {
                description:
                    "a WhatsApp message of a kind the bridge does not know (keepInChatMessage)"
                        .into(),
            },
        ),
    )
    .await;
    alice
        .wait_for(&bob_room, T, |ev| {
            is_notice_containing(ev, "keepInChatMessage")
        })
        .await?;

    // Everything arrived in order, and the copy of the Matrix message only once (from Alice).
    let bodies: Vec<(String, String)> = alice
        .messages(&bob_room, 50)
        .await?
        .iter()
        .rev()
        .filter_map(|ev| Some((sender(ev).to_owned(), text_body(ev)?.to_owned())))
        .collect();
    let matrix_copies = bodies.iter().filter(|(_, b)| b == "from matrix").count();
    assert_eq!(matrix_copies, 1, "{bodies:?}");
    // Nothing from the phone was sent back to WhatsApp.
    assert!(
        !wa.sent().iter().any(|r| matches!(&r.what, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "sent from my phone")),
        "{:?}",
        wa.sent()
    );
    Ok(())
}
