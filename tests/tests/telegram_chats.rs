//! Telegram chats end to end through Synapse on the fake network: recent chats after login,
//! `pm`, `search`, `list groups`, `open`, portals from incoming messages, every message kind
//! both ways, restarts with catch-up, `delete-all-portals`.

mod telegram_common;

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use ferrybridge_telegram::fake::Sent;
use ferrybridge_telegram::network::{
    ChatRef, EntityKind, MediaKind, TgChat, TgEntity, TgMedia, TgMessage, TgUpdate, TgUser,
};
use ferrybridge_tests::{TestUser, text_body, wait_until};
use ruma::{OwnedRoomId, RoomId};
use serde_json::{Value, json};
use telegram_common::*;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn ghost(
    env: &ferrybridge_tests::BridgeEnv<ferrybridge_telegram::TelegramBridge>,
    id: i64,
) -> String {
    format!("@_telegram_{id}:{}", env.synapse.server_name())
}

fn incoming(id: i32, chat: ChatRef, from: TgUser, text: &str) -> TgMessage {
    TgMessage {
        id,
        chat,
        sender: from,
        outgoing: false,
        text: text.into(),
        entities: vec![],
        reply_to: None,
        media: None,
    }
}

fn bob() -> TgUser {
    user(BOB, "Bob", "+4400000002", "bob_tg")
}

async fn accept(user: &TestUser) -> Result<OwnedRoomId> {
    let room = user.wait_for_invite(T).await?;
    user.join(room.as_str()).await?;
    Ok(room)
}

async fn wait_text(user: &TestUser, room: &RoomId, body: &str) -> Result<Value> {
    user.wait_for(room, T, |ev| {
        ev["type"] == "m.room.message" && text_body(ev) == Some(body)
    })
    .await
}

async fn wait_sent(
    world: &ferrybridge_telegram::fake::FakeWorld,
    pred: impl Fn(&Sent) -> bool,
) -> Result<Sent> {
    wait_until(T, || async { world.sent(ME).iter().any(&pred) }).await?;
    Ok(world
        .sent(ME)
        .into_iter()
        .find(|s| pred(s))
        .expect("just seen"))
}

#[tokio::test]
async fn recent_chats_pm_search_list_open_and_incoming_portals() -> Result<()> {
    let world = world();
    world.add_chat(TgChat {
        chat: ChatRef::user(BOB),
        title: "Bob".into(),
        about: None,
        photo: None,
        members: vec![bob()],
        last_message_at: Some(now() - 60),
    });
    let mut group = TgChat {
        chat: ChatRef::group(GROUP),
        title: "Book club".into(),
        about: Some("We read".into()),
        photo: None,
        members: vec![
            user(ME, "Alice", "4412345678", "alice_tg"),
            bob(),
            user(CAROL, "Carol", "+4400000003", "carol_tg"),
        ],
        last_message_at: Some(now() - 90 * 86_400),
    };
    world.add_chat(group.clone());
    let mut carol = user(CAROL, "Carol", "+4400000003", "carol_tg");
    carol.photo = Some(world.add_file("carol-photo", b"\xff\xd8\xffcarol"));
    world.add_user(carol);
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;

    // The recent DM with Bob is opened; the old group is not.
    let bob_room = accept(&alice).await?;
    let member = alice
        .get_state(&bob_room, "m.room.member", &ghost(&env, BOB))
        .await?;
    assert_eq!(member["displayname"], "Bob (Telegram)");

    // pm by phone number and by username.
    let pm = command(&alice, &dm, "pm +4400000003").await?;
    assert!(pm.starts_with("Opened a chat with Carol"), "{pm}");
    let carol_room = accept(&alice).await?;
    let profile = alice
        .call(
            reqwest::Method::GET,
            &["profile", &ghost(&env, CAROL)],
            &[],
            None,
        )
        .await?;
    assert!(
        profile["avatar_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("mxc://")),
        "ghost avatar from the Telegram photo: {profile}"
    );
    let again = command(&alice, &dm, "pm @carol_tg").await?;
    assert!(again.contains(carol_room.as_str()), "same portal: {again}");
    let nobody = command(&alice, &dm, "pm +4400000999").await?;
    assert!(nobody.contains("is not on Telegram"), "{nobody}");
    let bad = command(&alice, &dm, "pm 12ab").await?;
    assert!(bad.contains("international format"), "{bad}");

    let list = command(&alice, &dm, "list groups").await?;
    assert!(
        list.contains("Book club") && list.contains("open g500"),
        "{list}"
    );
    let search = command(&alice, &dm, "search book").await?;
    assert!(search.contains("Book club (g500)"), "{search}");

    // open: the group becomes a room with its title, topic and members.
    let open = command(&alice, &dm, "open g500").await?;
    assert!(open.starts_with("Invited you to"), "{open}");
    let group_room = accept(&alice).await?;
    assert_eq!(
        alice.get_state(&group_room, "m.room.name", "").await?["name"],
        "Book club"
    );
    assert_eq!(
        alice.get_state(&group_room, "m.room.topic", "").await?["topic"],
        "We read"
    );
    let members = alice.joined_members(&group_room).await?;
    for id in [BOB, CAROL] {
        assert!(
            members.iter().any(|m| m.as_str() == ghost(&env, id)),
            "{members:?}"
        );
    }
    assert!(
        command(&alice, &dm, "open g999")
            .await?
            .contains("no Telegram chat")
    );
    assert!(
        command(&alice, &dm, "open nonsense")
            .await?
            .contains("not a Telegram chat ID")
    );

    // Title changes and joins on Telegram show up.
    world
        .inject(
            ME,
            TgUpdate::ChatTitle {
                chat: ChatRef::group(GROUP),
                title: "Book club 2".into(),
            },
        )
        .await;
    wait_until(T, || async {
        alice
            .get_state(&group_room, "m.room.name", "")
            .await
            .is_ok_and(|n| n["name"] == "Book club 2")
    })
    .await?;
    group.title = "Book club 2".into();
    world.add_chat(group);
    let photo = world.add_file("group-photo", b"\xff\xd8\xffgroup photo");
    world
        .inject(
            ME,
            TgUpdate::ChatPhoto {
                chat: ChatRef::group(GROUP),
                photo: Some(photo),
            },
        )
        .await;
    wait_until(T, || async {
        alice
            .get_state(&group_room, "m.room.avatar", "")
            .await
            .is_ok_and(|a| a["url"].as_str().is_some_and(|u| u.starts_with("mxc://")))
    })
    .await?;
    let dave = user(6000, "Dave", "+4400000006", "dave");
    world
        .inject(
            ME,
            TgUpdate::Member {
                chat: ChatRef::group(GROUP),
                user: dave.clone(),
                joined: true,
            },
        )
        .await;
    let dave_ghost = ghost(&env, 6000);
    wait_until(T, || async {
        alice
            .joined_members(&group_room)
            .await
            .is_ok_and(|m| m.iter().any(|u| u.as_str() == dave_ghost))
    })
    .await?;
    world
        .inject(
            ME,
            TgUpdate::Member {
                chat: ChatRef::group(GROUP),
                user: dave,
                joined: false,
            },
        )
        .await;
    wait_until(T, || async {
        alice
            .joined_members(&group_room)
            .await
            .is_ok_and(|m| m.iter().all(|u| u.as_str() != dave_ghost))
    })
    .await?;

    // A message from someone new creates their portal and invites us.
    let eve = user(5000, "Eve", "+4400000005", "eve");
    world.add_user(eve.clone());
    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(7, ChatRef::user(5000), eve, "hi from eve")),
        )
        .await;
    let eve_room = accept(&alice).await?;
    let msg = wait_text(&alice, &eve_room, "hi from eve").await?;
    assert_eq!(sender(&msg), ghost(&env, 5000));

    // `sync` re-opens recent chats without duplicates.
    assert!(
        command(&alice, &dm, "sync")
            .await?
            .starts_with("Synced 1 recent chats")
    );
    Ok(())
}

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

#[tokio::test]
async fn restart_keeps_session_and_portals_and_catches_up() -> Result<()> {
    let world = world();
    let mut env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    command(&alice, &dm, "pm @bob_tg").await?;
    let room = accept(&alice).await?;
    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(1, ChatRef::user(BOB), bob(), "before")),
        )
        .await;
    wait_text(&alice, &room, "before").await?;

    env.stop().await;
    // Arrives while the bridge is down: caught up after the restart.
    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(2, ChatRef::user(BOB), bob(), "while away")),
        )
        .await;
    env.run(bridge(&world)).await?;
    wait_text(&alice, &room, "while away").await?;
    assert!(
        command(&alice, &dm, "ping")
            .await?
            .contains("Alice (+4412345678)")
    );
    alice.send_text(&room, "after restart").await?;
    wait_sent(
        &world,
        |s| matches!(s, Sent::Message { msg, .. } if msg.text == "after restart"),
    )
    .await?;
    let again = command(&alice, &dm, "pm @bob_tg").await?;
    assert!(
        again.contains(room.as_str()),
        "same portal after restart: {again}"
    );
    Ok(())
}

#[tokio::test]
async fn logout_and_delete_all_portals() -> Result<()> {
    let world = world();
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    command(&alice, &dm, "pm @bob_tg").await?;
    let bob_room = accept(&alice).await?;
    command(&alice, &dm, "pm @carol_tg").await?;
    let carol_room = accept(&alice).await?;

    assert_eq!(
        command(&alice, &dm, "delete-all-portals").await?,
        "Deleted 2 portal(s)."
    );
    // The bridge and its ghosts leave (a DM invitee has the creator's power, so the bot
    // cannot kick Alice: she keeps an empty room).
    for (room, id) in [(&bob_room, BOB), (&carol_room, CAROL)] {
        let gone = [env.bot().to_string(), ghost(&env, id)];
        wait_until(T, || async {
            alice
                .joined_members(room)
                .await
                .is_ok_and(|m| m.iter().all(|u| !gone.contains(&u.to_string())))
        })
        .await?;
    }
    // The chat gets a new portal when opened again.
    let reopened = command(&alice, &dm, "pm @bob_tg").await?;
    assert!(!reopened.contains(bob_room.as_str()), "{reopened}");
    accept(&alice).await?;
    assert_eq!(command(&alice, &dm, "logout").await?, "Logged out.");
    // Logged out: messages from Matrix are refused with a notice, commands say so.
    assert!(
        command(&alice, &dm, "pm @bob_tg")
            .await?
            .contains("not logged in")
    );
    login(&alice, &dm).await?;
    Ok(())
}
