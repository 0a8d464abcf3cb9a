//! Telegram messages end to end through Synapse on the fake network: every message kind both
//! ways (formatting and mentions, replies, edits, reactions, deletions, media), calls, and
//! refused sends as notices.

mod telegram_common;

use anyhow::Result;
use ferrybridge_telegram::fake::Sent;
use ferrybridge_telegram::network::{ChatRef, EntityKind, MediaKind, TgEntity, TgMedia, TgUpdate};
use serde_json::json;
use telegram_common::*;

#[tokio::test]
async fn message_kinds_both_ways() -> Result<()> {
    let world = world();
    let photo = world.add_file("photo-1", b"\xff\xd8\xffjpeg bytes");
    let voice = world.add_file("voice-1", b"OggS voice bytes");
    let sticker = world.add_file("sticker-1", b"RIFF webp bytes");
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    command(&alice, &dm, "pm @bob_tg").await?;
    let room = accept(&alice).await?;
    let bob_ghost = ghost(&env, BOB);
    let chat = ChatRef::user(BOB);

    // Telegram → Matrix: formatted text with a mention.
    let mut m = incoming(100, chat, bob(), "bold and Carol");
    m.entities = vec![
        TgEntity {
            offset: 0,
            length: 4,
            kind: EntityKind::Bold,
        },
        TgEntity {
            offset: 9,
            length: 5,
            kind: EntityKind::MentionName { user_id: CAROL },
        },
    ];
    world.inject(ME, TgUpdate::NewMessage(m)).await;
    let ev = wait_text(&alice, &room, "bold and Carol").await?;
    assert_eq!(sender(&ev), bob_ghost);
    let html = ev["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(html.contains("bold</"), "{html}");
    assert!(
        html.contains(&format!("https://matrix.to/#/{}", ghost(&env, CAROL))),
        "{html}"
    );
    let bob_event: ruma::OwnedEventId = ev["event_id"].as_str().unwrap_or_default().try_into()?;

    // Matrix → Telegram: HTML becomes entities.
    let first = alice
        .send_json(
            &room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "hello *you*",
                "format": "org.matrix.custom.html", "formatted_body": "hello <b>you</b>",
            }),
        )
        .await?;
    let sent = wait_sent(
        &world,
        |s| matches!(s, Sent::Message { msg, .. } if msg.text == "hello you"),
    )
    .await?;
    let Sent::Message {
        chat: to,
        id: my_id,
        msg,
    } = sent
    else {
        unreachable!()
    };
    assert_eq!(to, chat);
    assert_eq!(
        msg.entities,
        vec![TgEntity {
            offset: 6,
            length: 3,
            kind: EntityKind::Bold
        }]
    );

    // A reply to Bob's message.
    alice
        .send_json(
            &room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "answer",
                "m.relates_to": {"m.in_reply_to": {"event_id": bob_event}},
            }),
        )
        .await?;
    wait_sent(&world, |s| matches!(s, Sent::Message { msg, .. } if msg.text == "answer" && msg.reply_to == Some(100))).await?;

    // Edit, reaction, redaction.
    alice
        .send_json(
            &room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "* hello again",
                "m.new_content": {"msgtype": "m.text", "body": "hello again"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": first},
            }),
        )
        .await?;
    wait_sent(
        &world,
        |s| matches!(s, Sent::Edit { id, msg, .. } if *id == my_id && msg.text == "hello again"),
    )
    .await?;
    alice
        .send_json(&room, "m.reaction", json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": bob_event, "key": "👍"}}))
        .await?;
    wait_sent(
        &world,
        |s| matches!(s, Sent::React { id: 100, emoji: Some(e), .. } if e == "👍"),
    )
    .await?;
    alice.redact(&room, &first, None).await?;
    wait_sent(
        &world,
        |s| matches!(s, Sent::Delete { ids, .. } if ids == &vec![my_id]),
    )
    .await?;

    // An image goes up as a photo.
    let mxc = env
        .host()
        .expect("running")
        .matrix()
        .upload(
            bytes::Bytes::from_static(b"\x89PNG fake"),
            "image/png",
            Some("cat.png"),
        )
        .await?;
    alice
        .send_json(&room, "m.room.message", json!({"msgtype": "m.image", "body": "cat.png", "url": mxc, "info": {"mimetype": "image/png"}}))
        .await?;
    let sent = wait_sent(&world, |s| matches!(s, Sent::Media { .. })).await?;
    let Sent::Media { media, .. } = sent else {
        unreachable!()
    };
    assert_eq!(
        (media.kind, media.file_name.as_str(), &media.data[..]),
        (MediaKind::Photo, "cat.png", &b"\x89PNG fake"[..])
    );

    // Telegram → Matrix: reply to my message, edit, reaction, deletion.
    let mut reply = incoming(101, chat, bob(), "replying");
    reply.reply_to = Some(my_id);
    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(102, chat, bob(), "to be edited")),
        )
        .await;
    let edited = wait_text(&alice, &room, "to be edited").await?;
    world
        .inject(
            ME,
            TgUpdate::Edited(incoming(102, chat, bob(), "edited on telegram")),
        )
        .await;
    let edit = alice
        .wait_for(&room, T, |ev| {
            ev["content"]["m.relates_to"]["rel_type"] == "m.replace" && sender(ev) == bob_ghost
        })
        .await?;
    assert_eq!(
        edit["content"]["m.relates_to"]["event_id"],
        edited["event_id"]
    );
    assert_eq!(
        edit["content"]["m.new_content"]["body"],
        "edited on telegram"
    );
    world
        .inject(
            ME,
            TgUpdate::Reaction {
                chat,
                msg_id: 102,
                sender: bob(),
                emoji: Some("❤".into()),
            },
        )
        .await;
    let reaction = alice
        .wait_for(&room, T, |ev| {
            ev["type"] == "m.reaction" && sender(ev) == bob_ghost
        })
        .await?;
    assert_eq!(reaction["content"]["m.relates_to"]["key"], "❤");
    assert_eq!(sender(&reaction), bob_ghost);
    world
        .inject(
            ME,
            TgUpdate::Deleted {
                chat: None,
                ids: vec![102],
            },
        )
        .await;
    let redaction = alice
        .wait_for(&room, T, |ev| {
            ev["type"] == "m.room.redaction" && sender(ev) == bob_ghost
        })
        .await?;
    let redacts = redaction["content"]["redacts"]
        .as_str()
        .or(redaction["redacts"].as_str());
    assert_eq!(redacts, edited["event_id"].as_str());

    // Media from Telegram: photo, voice note, sticker (as an image).
    for (id, kind, handle, body, msgtype) in [
        (110, MediaKind::Photo, &photo, "photo.jpg", "m.image"),
        (111, MediaKind::Voice, &voice, "voice.ogg", "m.audio"),
        (112, MediaKind::Sticker, &sticker, "sticker.webp", "m.image"),
    ] {
        let mut m = incoming(id, chat, bob(), "");
        m.media = Some(TgMedia {
            kind,
            handle: handle.clone(),
            file_name: None,
            mime: None,
            size: None,
        });
        world.inject(ME, TgUpdate::NewMessage(m)).await;
        let ev = wait_text(&alice, &room, body).await?;
        assert_eq!(ev["content"]["msgtype"], msgtype, "{ev}");
        assert!(
            ev["content"]["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("mxc://")),
            "{ev}"
        );
    }

    // A call is not bridged but announced.
    world
        .inject(
            ME,
            TgUpdate::Call {
                from: bob(),
                video: false,
            },
        )
        .await;
    alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "Calls are not bridged")
        })
        .await?;

    // What Telegram refuses is said, not dropped.
    world.refuse_sends(Some(ferrybridge_telegram::network::TgError::Other(
        "CHAT_WRITE_FORBIDDEN".into(),
    )));
    let refused = alice.send_text(&room, "will not arrive").await?;
    let notice = alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "CHAT_WRITE_FORBIDDEN")
        })
        .await?;
    assert!(replies_to(&notice, &refused), "{notice}");
    world.refuse_sends(None);

    // The reply sent first arrives as a reply.
    world.inject(ME, TgUpdate::NewMessage(reply)).await;
    let ev = wait_text(&alice, &room, "replying").await?;
    assert!(replies_to(&ev, &first), "{ev}");
    Ok(())
}
