//! The WhatsApp bridge end to end against a real Synapse, with the fake WhatsApp: QR login,
//! `pm`, `list`, `open`, group changes, portals from incoming messages, message kinds both ways,
//! calls, remote logout, `logout` and `delete-all-portals`.

mod whatsapp_common;

use anyhow::Result;
use ferrybridge_tests::bot_chat::{bot_dm, command, is_notice_containing, replies_to, sender};
use ferrybridge_tests::{BridgeEnv, text_body};
use ferrybridge_whatsapp::fake::Sent;
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::{
    GroupInfo, MediaKind, Outgoing, WaEvent, WaMedia, WaMessageBody,
};
use ruma::OwnedEventId;
use serde_json::json;
use whatsapp_common::*;

#[tokio::test]
async fn qr_login_commands_and_messages_both_ways() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    // The history sync after login brings one recent chat (Carol) and one old one.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    wa.on_connect(WaEvent::ChatActive {
        chat: ChatJid::Group("1203-3".into()),
        last_active: now - 30 * 86_400,
    });
    let env = BridgeEnv::start(&yaml(sessions.path()), None, bridge(sessions.path(), &wa)).await?;
    let server = env.synapse.server_name().to_owned();
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;

    let help = command(&alice, &dm, "help").await?;
    for cmd in [
        "pm",
        "list",
        "open",
        "delete-session",
        "sync",
        "login",
        "logout",
        "delete-all-portals",
    ] {
        assert!(help.contains(cmd), "help lacks {cmd}: {help}");
    }
    let not_yet = command(&alice, &dm, "pm +441111111").await?;
    assert!(not_yet.contains("not logged in"), "{not_yet}");

    qr_login(&wa, &alice, &dm).await?;
    assert_eq!(
        command(&alice, &dm, "ping").await?,
        "You are logged in as +447000000001.\nWhatsApp: connected."
    );
    // WhatsApp allows several linked accounts: `login` again starts adding one
    // (see whatsapp_logins); cancelled here.
    alice.send_text(&dm, "login").await?;
    alice
        .wait_for(&dm, T, |ev| ev["content"]["msgtype"] == "m.image")
        .await?;
    alice.send_text(&dm, "cancel").await?;
    alice
        .wait_for(&dm, T, |ev| is_notice_containing(ev, "Login cancelled"))
        .await?;

    // pm: on WhatsApp → a DM portal; not on WhatsApp → said so.
    let nobody = command(&alice, &dm, "pm +449999999").await?;
    assert_eq!(nobody, "+449999999 is not on WhatsApp.");
    let pm = command(&alice, &dm, "pm +441111111").await?;
    assert!(
        pm.starts_with("Invited you to the chat with +441111111"),
        "{pm}"
    );
    let bob_room = accept_invite(&alice).await?;
    let bob_ghost = format!("@whatsapp_441111111:{server}");
    let member = alice
        .get_state(&bob_room, "m.room.member", &bob_ghost)
        .await?;
    assert_eq!(member["displayname"], "Bob (WA)");

    // list, paged.
    let groups = command(&alice, &dm, "list groups").await?;
    assert!(
        groups.contains("3 groups (page 1 of 2)") && groups.contains("Book club: 1203-2"),
        "{groups}"
    );
    assert!(groups.contains("list groups 2"), "{groups}");
    let groups2 = command(&alice, &dm, "list groups 2").await?;
    assert!(
        groups2.contains("Office party: 1203-1") && !groups2.contains("Book club"),
        "{groups2}"
    );
    let contacts = command(&alice, &dm, "list contacts").await?;
    assert!(contacts.contains("Bob: +441111111"), "{contacts}");
    let bad = command(&alice, &dm, "list chairs").await?;
    assert!(bad.contains("list contacts"), "{bad}");

    // open: a group portal with subject, description and members.
    let opened = command(&alice, &dm, "open 1203-1").await?;
    assert!(
        opened.starts_with("Invited you to Office party"),
        "{opened}"
    );
    let office = accept_invite(&alice).await?;
    assert_eq!(
        alice.get_state(&office, "m.room.name", "").await?["name"],
        "Office party"
    );
    assert_eq!(
        alice.get_state(&office, "m.room.topic", "").await?["topic"],
        "All about Office party"
    );
    let unknown = command(&alice, &dm, "open 999-9").await?;
    assert!(unknown.contains("not in a WhatsApp group"), "{unknown}");

    // Matrix → WhatsApp: formatted text, reply, reaction, edit, redaction, location.
    let me = phone(ME);
    let bob_chat = ChatJid::Direct(phone(BOB));
    alice
        .send_json(
            &bob_room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "hi bold",
                "format": "org.matrix.custom.html", "formatted_body": "hi <b>bold</b>",
            }),
        )
        .await?;
    wait_sent(&wa, |s| matches!(s, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "hi *bold*")).await?;

    // A group change on WhatsApp: new subject, topic and a new member.
    wa.inject(
        &me,
        WaEvent::GroupChanged {
            group: GroupInfo {
                jid: ChatJid::Group("1203-1".into()),
                subject: "Office party 2026".into(),
                description: Some("New year".into()),
                participants: vec![phone(ME), phone(BOB), phone(CAROL)],
                picture: None,
            },
        },
    )
    .await;
    alice
        .wait_for(&office, T, |ev| {
            ev["type"] == "m.room.name" && ev["content"]["name"] == "Office party 2026"
        })
        .await?;
    let carol_ghost = format!("@whatsapp_442222222:{server}");
    ferrybridge_tests::wait_until(T, || async {
        alice
            .joined_members(&office)
            .await
            .is_ok_and(|m| m.iter().any(|u| u.as_str() == carol_ghost))
    })
    .await?;
    // Carol leaves the group: her ghost leaves the room.
    wa.inject(
        &me,
        WaEvent::GroupChanged {
            group: GroupInfo {
                jid: ChatJid::Group("1203-1".into()),
                subject: "Office party 2026".into(),
                description: Some("New year".into()),
                participants: vec![phone(ME), phone(BOB)],
                picture: None,
            },
        },
    )
    .await;
    ferrybridge_tests::wait_until(T, || async {
        alice
            .joined_members(&office)
            .await
            .is_ok_and(|m| !m.iter().any(|u| u.as_str() == carol_ghost))
    })
    .await?;

    // WhatsApp → Matrix: markup becomes HTML, from Bob's ghost.
    assert!(
        wa.inject(
            &me,
            incoming("W1", bob_chat.clone(), BOB, text("_hello_ there"))
        )
        .await
    );
    let hello = alice
        .wait_for(&bob_room, T, |ev| text_body(ev) == Some("_hello_ there"))
        .await?;
    assert_eq!(sender(&hello), bob_ghost);
    assert_eq!(hello["content"]["formatted_body"], "<em>hello</em> there");
    let hello_id: OwnedEventId = hello["event_id"].as_str().unwrap_or_default().try_into()?;

    // A Matrix reply quotes the WhatsApp message; a reaction and a read receipt reach it.
    alice
        .send_json(
            &bob_room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "answer",
                "m.relates_to": {"m.in_reply_to": {"event_id": hello_id}},
            }),
        )
        .await?;
    wait_sent(&wa, |s| matches!(s, Sent::Message { message: Outgoing::Text { text, reply_to: Some(q) }, .. } if text == "answer" && q.id == "W1")).await?;
    let thumbs = alice
        .send_json(&bob_room, "m.reaction", json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": hello_id, "key": "👍"}}))
        .await?;
    wait_sent(
        &wa,
        |s| matches!(s, Sent::Reaction { target, emoji, .. } if target == "W1" && emoji == "👍"),
    )
    .await?;
    // Redacting the reaction removes it on WhatsApp (an empty reaction), not a revoke.
    alice.redact(&bob_room, &thumbs, None).await?;
    wait_sent(
        &wa,
        |s| matches!(s, Sent::Reaction { target, emoji, .. } if target == "W1" && emoji.is_empty()),
    )
    .await?;

    // Edit and redaction of my own message.
    let mine = alice.send_text(&bob_room, "tpyo").await?;
    let sent_id = {
        wait_sent(&wa, |s| matches!(s, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "tpyo")).await?;
        wa.sent().into_iter().rev().find(|s| matches!(&s.what, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "tpyo")).map(|s| s.id).unwrap_or_default()
    };
    alice
        .send_json(
            &bob_room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "* typo",
                "m.new_content": {"msgtype": "m.text", "body": "typo"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": mine},
            }),
        )
        .await?;
    wait_sent(
        &wa,
        |s| matches!(s, Sent::Edit { target, text, .. } if *target == sent_id && text == "typo"),
    )
    .await?;
    alice.redact(&bob_room, &mine, None).await?;
    wait_sent(
        &wa,
        |s| matches!(s, Sent::Revoke { target, .. } if *target == sent_id),
    )
    .await?;

    // Location out.
    alice
        .send_json(
            &bob_room,
            "m.room.message",
            json!({"msgtype": "m.location", "body": "here", "geo_uri": "geo:51.5,-0.12"}),
        )
        .await?;
    wait_sent(&wa, |s| matches!(s, Sent::Message { message: Outgoing::Location { latitude, .. }, .. } if *latitude == 51.5)).await?;

    // Media out: the file's bytes are uploaded to WhatsApp.
    let host = env.host().expect("running");
    let png = bytes::Bytes::from_static(b"\x89PNG\r\n\x1a\nfake image");
    let mxc = host
        .matrix()
        .upload(png.clone(), "image/png", Some("cat.png"))
        .await?;
    alice
        .send_json(&bob_room, "m.room.message", json!({"msgtype": "m.image", "body": "cat.png", "url": mxc, "info": {"mimetype": "image/png"}}))
        .await?;
    wait_sent(&wa, |s| matches!(s, Sent::Message { message: Outgoing::Media { kind: MediaKind::Image, data, .. }, .. } if *data == png)).await?;

    // WhatsApp → Matrix: edit, reaction, revoke of Bob's message, media, voice note, location.
    wa.inject(
        &me,
        incoming(
            "W2",
            bob_chat.clone(),
            BOB,
            WaMessageBody::Edit {
                target: "W1".into(),
                text: "*hello* again".into(),
            },
        ),
    )
    .await;
    let edit = alice
        .wait_for(&bob_room, T, |ev| {
            ev["content"]["m.relates_to"]["rel_type"] == "m.replace" && sender(ev) == bob_ghost
        })
        .await?;
    assert_eq!(
        edit["content"]["m.relates_to"]["event_id"],
        hello_id.as_str()
    );
    assert_eq!(edit["content"]["m.new_content"]["body"], "*hello* again");
    wa.inject(
        &me,
        incoming(
            "W3",
            bob_chat.clone(),
            BOB,
            WaMessageBody::Reaction {
                target: "W1".into(),
                emoji: "❤️".into(),
            },
        ),
    )
    .await;
    let reaction = alice
        .wait_for(&bob_room, T, |ev| {
            ev["type"] == "m.reaction" && sender(ev) == bob_ghost
        })
        .await?;
    assert_eq!(reaction["content"]["m.relates_to"]["key"], "❤️");
    wa.put_media(b"voice-1", bytes::Bytes::from_static(b"OggS voice"));
    wa.put_media(b"img-1", png.clone());
    wa.inject(
        &me,
        incoming(
            "W4",
            bob_chat.clone(),
            BOB,
            WaMessageBody::Media {
                media: WaMedia {
                    kind: MediaKind::Image,
                    mimetype: "image/png".into(),
                    filename: None,
                    size: None,
                    handle: b"img-1".to_vec(),
                },
                caption: "a cat".into(),
                reply_to: None,
            },
        ),
    )
    .await;
    let image = alice
        .wait_for(&bob_room, T, |ev| {
            ev["content"]["msgtype"] == "m.image" && sender(ev) == bob_ghost
        })
        .await?;
    assert_eq!(image["content"]["body"], "a cat");
    assert!(
        image["content"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("mxc://")),
        "{image}"
    );
    wa.inject(
        &me,
        incoming(
            "W5",
            bob_chat.clone(),
            BOB,
            WaMessageBody::Media {
                media: WaMedia {
                    kind: MediaKind::Voice,
                    mimetype: "audio/ogg".into(),
                    filename: None,
                    size: None,
                    handle: b"voice-1".to_vec(),
                },
                caption: String::new(),
                reply_to: None,
            },
        ),
    )
    .await;
    let voice = alice
        .wait_for(&bob_room, T, |ev| ev["content"]["msgtype"] == "m.audio")
        .await?;
    assert!(
        voice["content"].get("org.matrix.msc3245.voice").is_some(),
        "a voice note stays one: {voice}"
    );
    wa.inject(
        &me,
        incoming(
            "W6",
            bob_chat.clone(),
            BOB,
            WaMessageBody::Media {
                media: WaMedia {
                    kind: MediaKind::Document,
                    mimetype: "application/pdf".into(),
                    filename: Some("plan.pdf".into()),
                    size: None,
                    handle: b"gone".to_vec(),
                },
                caption: String::new(),
                reply_to: None,
            },
        ),
    )
    .await;
    alice
        .wait_for(&bob_room, T, |ev| {
            is_notice_containing(ev, "plan.pdf could not be downloaded")
        })
        .await?;
    wa.inject(
        &me,
        incoming(
            "W7",
            bob_chat.clone(),
            BOB,
            WaMessageBody::Location {
                latitude: 48.85,
                longitude: 2.35,
                name: None,
            },
        ),
    )
    .await;
    alice
        .wait_for(&bob_room, T, |ev| {
            ev["content"]["msgtype"] == "m.location" && ev["content"]["geo_uri"] == "geo:48.85,2.35"
        })
        .await?;
    wa.inject(
        &me,
        incoming(
            "W8",
            bob_chat.clone(),
            BOB,
            WaMessageBody::Revoke {
                target: "W1".into(),
            },
        ),
    )
    .await;
    let redaction = alice
        .wait_for(&bob_room, T, |ev| {
            ev["type"] == "m.room.redaction" && sender(ev) == bob_ghost
        })
        .await?;
    let redacted = redaction["content"]["redacts"]
        .as_str()
        .or(redaction["redacts"].as_str())
        .unwrap_or_default();
    assert_eq!(redacted, hello_id.as_str());

    // A call gives a notice.
    wa.inject(&me, WaEvent::CallOffer { from: phone(BOB) })
        .await;
    alice
        .wait_for(&bob_room, T, |ev| {
            is_notice_containing(ev, "Calls are not bridged")
        })
        .await?;

    // A message in a chat without a portal creates one and invites me.
    wa.inject(
        &me,
        incoming(
            "W9",
            ChatJid::Direct(phone(CAROL)),
            CAROL,
            text("hi from carol"),
        ),
    )
    .await;
    let carol_room = accept_invite(&alice).await?;
    alice
        .wait_for(&carol_room, T, |ev| text_body(ev) == Some("hi from carol"))
        .await?;
    wa.inject(
        &me,
        incoming(
            "W10",
            ChatJid::Group("1203-2".into()),
            BOB,
            text("book time"),
        ),
    )
    .await;
    let club = accept_invite(&alice).await?;
    alice
        .wait_for(&club, T, |ev| text_body(ev) == Some("book time"))
        .await?;
    assert_eq!(
        alice.get_state(&club, "m.room.name", "").await?["name"],
        "Book club"
    );

    // Remote logout: the user is told, and can log in again.
    wa.remote_logout(&me).await;
    alice
        .wait_for(&dm, T, |ev| {
            is_notice_containing(ev, "You were logged out of WhatsApp")
        })
        .await?;
    let ping = command(&alice, &dm, "ping").await?;
    assert!(ping.contains("not logged in"), "{ping}");
    let undeliverable = alice.send_text(&bob_room, "are you there?").await?;
    let notice = alice
        .wait_for(&bob_room, T, |ev| {
            is_notice_containing(ev, "not logged in to WhatsApp")
        })
        .await?;
    assert!(replies_to(&notice, &undeliverable), "{notice}");
    qr_login(&wa, &alice, &dm).await?;

    // logout unlinks the device; delete-all-portals cleans up.
    assert_eq!(command(&alice, &dm, "logout").await?, "Logged out.");
    assert!(wa.linked().is_empty(), "the device is unlinked on WhatsApp");
    let deleted = command(&alice, &dm, "delete-all-portals").await?;
    // My private chat portals are cleaned up: the bot and the ghosts leave (I created them too,
    // in room v12 terms, so nobody can kick me). Shared group portals stay for other users.
    assert_eq!(deleted, "Deleted 2 portal(s).");
    for room in [&bob_room, &carol_room] {
        ferrybridge_tests::wait_until(T, || async {
            alice
                .joined_members(room)
                .await
                .is_ok_and(|m| m == vec![alice.user_id.clone()])
        })
        .await?;
    }
    assert!(alice.joined_rooms().await?.contains(&office));
    Ok(())
}
