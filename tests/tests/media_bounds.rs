//! `limits.media_max_bytes` end to end, on the fake Telegram and WhatsApp networks against a
//! real Synapse (issue 14): files over the cap never stop a message. Telegram → Matrix, a file announced
//! too large is not downloaded, one that turns out too large is cut off, and either shows as a
//! notice from the sender naming the file; Matrix → Telegram, a file over the cap is refused
//! with a notice to its sender; the core refuses to upload bytes a network hands over past the
//! cap, the same way.

mod telegram_common;
mod whatsapp_common;

use anyhow::Result;
use ferrybridge_core::events::{Media, MessageContent, MessageKind, RemoteEvent, RemoteEventKind};
use ferrybridge_core::ids::RemoteMessageId;
use ferrybridge_telegram::TelegramBridge;
use ferrybridge_telegram::fake::Sent;
use ferrybridge_telegram::network::{ChatRef, MediaKind, TgMedia, TgUpdate};
use ferrybridge_tests::BridgeEnv;
use serde_json::json;
use telegram_common::*;

/// The cap in these tests.
const CAP: u64 = 1000;

fn file(
    handle: &ferrybridge_telegram::network::MediaRef,
    name: &str,
    size: Option<u64>,
) -> TgMedia {
    TgMedia {
        kind: MediaKind::Document,
        handle: handle.clone(),
        file_name: Some(name.into()),
        mime: Some("application/octet-stream".into()),
        size,
    }
}

#[tokio::test]
async fn files_over_the_cap_become_notices_both_ways() -> Result<()> {
    let world = world();
    let small = world.add_file("small-1", b"small file");
    let big = world.add_file_data("big-1", bytes::Bytes::from(vec![b'x'; 2000]));
    let env = BridgeEnv::start_tuned(
        YAML,
        None,
        |c| c.limits.media_max_bytes = CAP,
        bridge(&world),
    )
    .await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    command(&alice, &dm, "pm @bob_tg").await?;
    let room = accept(&alice).await?;
    let bob_ghost = ghost(&env, BOB);
    let chat = ChatRef::user(BOB);

    // Within the cap: bridged as a file.
    let mut m = incoming(200, chat, bob(), "");
    m.media = Some(file(&small, "small.txt", Some(10)));
    world.inject(ME, TgUpdate::NewMessage(m)).await;
    let ev = wait_text(&alice, &room, "small.txt").await?;
    assert_eq!(ev["content"]["msgtype"], "m.file", "{ev}");
    assert_eq!(world.downloads(), 1);

    // Announced over the cap: not even downloaded; a notice from Bob names it.
    let mut m = incoming(201, chat, bob(), "the film");
    m.media = Some(file(&big, "film.mp4", Some(2_469_606_195)));
    world.inject(ME, TgUpdate::NewMessage(m)).await;
    let ev = wait_text(
        &alice,
        &room,
        "📎 film.mp4 (2.3 GiB) was too large to bridge (limit 1000 B)\nthe film",
    )
    .await?;
    assert_eq!(sender(&ev), bob_ghost);
    assert_eq!(ev["content"]["msgtype"], "m.notice", "{ev}");
    assert_eq!(
        world.downloads(),
        1,
        "an announced oversize file is not downloaded"
    );

    // Announced small (or not at all) but bigger: the download is cut at the cap.
    let mut m = incoming(202, chat, bob(), "");
    m.media = Some(file(&big, "liar.bin", None));
    world.inject(ME, TgUpdate::NewMessage(m)).await;
    let ev = wait_text(
        &alice,
        &room,
        "📎 liar.bin was too large to bridge (over the 1000 B limit)",
    )
    .await?;
    assert_eq!(sender(&ev), bob_ghost);

    // The core's upload path: bytes a network hands over past the cap are not uploaded.
    let host = env.host().expect("running");
    host.send(RemoteEvent {
        portal: TelegramBridge::portal_key(chat, &alice.user_id, Default::default()),
        kind: RemoteEventKind::Message {
            id: RemoteMessageId::new("203"),
            sender: TelegramBridge::remote_user(BOB),
            content: MessageContent {
                kind: MessageKind::File,
                body: "handed.bin".into(),
                html: None,
                media: Some(Media {
                    mxc: None,
                    url: None,
                    filename: "handed.bin".into(),
                    mimetype: None,
                    size: None,
                    data: Some(bytes::Bytes::from(vec![b'z'; 1500])),
                }),
                mentions: vec![],
                poll: None,
            },
            reply_to: None,
            sent_at: None,
        },
    })
    .await;
    let ev = wait_text(
        &alice,
        &room,
        "📎 handed.bin (1.5 KiB) was too large to bridge (limit 1000 B)",
    )
    .await?;
    assert_eq!(sender(&ev), bob_ghost);

    // Matrix → Telegram: over the cap by the size the event announces, and by the bytes.
    let mxc = host
        .matrix()
        .upload(
            bytes::Bytes::from(vec![b'm'; 2000]),
            "application/octet-stream",
            Some("big.bin"),
        )
        .await?;
    for (body, info) in [
        ("announced.bin", json!({"size": 2000})),
        ("unannounced.bin", json!({})),
    ] {
        let event = alice
            .send_json(
                &room,
                "m.room.message",
                json!({"msgtype": "m.file", "body": body, "url": mxc, "info": info}),
            )
            .await?;
        let notice = alice
            .wait_for(&room, T, |ev| {
                is_notice_containing(ev, "too large to bridge") && replies_to(ev, &event)
            })
            .await?;
        let text = notice["content"]["body"].as_str().unwrap_or_default();
        assert!(
            text.contains("limit 1000 B") || text.contains("over the 1000 B limit"),
            "{text}"
        );
    }
    assert!(
        !world
            .sent(ME)
            .iter()
            .any(|s| matches!(s, Sent::Media { .. })),
        "nothing over the cap went to Telegram"
    );
    // A small file still goes.
    let small_mxc = host
        .matrix()
        .upload(
            bytes::Bytes::from_static(b"tiny"),
            "text/plain",
            Some("tiny.txt"),
        )
        .await?;
    alice
        .send_json(
            &room,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "tiny.txt", "url": small_mxc, "info": {"size": 4}}),
        )
        .await?;
    wait_sent(
        &world,
        |s| matches!(s, Sent::Media { media, .. } if &media.data[..] == b"tiny"),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn whatsapp_files_over_the_cap_become_notices_both_ways() -> Result<()> {
    use ferrybridge_whatsapp::jid::ChatJid;
    use ferrybridge_whatsapp::network::{MediaKind as WaKind, WaMedia, WaMessageBody};
    use whatsapp_common as wc;

    let sessions = tempfile::tempdir()?;
    let wa = wc::world();
    wa.put_media(b"big-1", bytes::Bytes::from(vec![b'x'; 2000]));
    let env = BridgeEnv::start_tuned(
        &wc::yaml(sessions.path()),
        None,
        |c| c.limits.media_max_bytes = CAP,
        wc::bridge(sessions.path(), &wa),
    )
    .await?;
    let server = env.synapse.server_name().to_owned();
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    wc::qr_login(&wa, &alice, &dm).await?;
    command(&alice, &dm, "pm +441111111").await?;
    let room = wc::accept_invite(&alice).await?;
    let bob_ghost = format!("@whatsapp_441111111:{server}");
    let bob_chat = ChatJid::Direct(wc::phone(wc::BOB));
    let media = |name: &str, size: Option<u64>| WaMessageBody::Media {
        media: WaMedia {
            kind: WaKind::Document,
            mimetype: "application/pdf".into(),
            filename: Some(name.into()),
            size,
            handle: b"big-1".to_vec(),
        },
        caption: "the report".into(),
        reply_to: None,
    };

    // Announced over the cap: not downloaded, a notice from Bob.
    wa.inject(
        &wc::phone(wc::ME),
        wc::incoming(
            "M1",
            bob_chat.clone(),
            wc::BOB,
            media("big.pdf", Some(5000)),
        ),
    )
    .await;
    let ev = wait_text(
        &alice,
        &room,
        "📎 big.pdf (4.9 KiB) was too large to bridge (limit 1000 B)\nthe report",
    )
    .await?;
    assert_eq!(sender(&ev), bob_ghost);
    assert_eq!(
        wa.downloads(),
        0,
        "an announced oversize file is not downloaded"
    );

    // Not announced: cut while downloading.
    wa.inject(
        &wc::phone(wc::ME),
        wc::incoming("M2", bob_chat.clone(), wc::BOB, media("quiet.pdf", None)),
    )
    .await;
    let ev = wait_text(
        &alice,
        &room,
        "📎 quiet.pdf was too large to bridge (over the 1000 B limit)\nthe report",
    )
    .await?;
    assert_eq!(sender(&ev), bob_ghost);

    // Matrix → WhatsApp: refused with a notice to the sender.
    let mxc = env
        .host()
        .expect("running")
        .matrix()
        .upload(
            bytes::Bytes::from(vec![b'm'; 2000]),
            "application/pdf",
            Some("out.pdf"),
        )
        .await?;
    let event = alice
        .send_json(
            &room,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "out.pdf", "url": mxc}),
        )
        .await?;
    alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "too large to bridge") && replies_to(ev, &event)
        })
        .await?;
    assert!(
        !wa.sent().iter().any(|s| matches!(
            &s.what,
            ferrybridge_whatsapp::fake::Sent::Message {
                message: ferrybridge_whatsapp::network::Outgoing::Media { .. },
                ..
            }
        )),
        "nothing over the cap went to WhatsApp: {:?}",
        wa.sent()
    );
    Ok(())
}
