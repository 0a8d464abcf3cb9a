//! Telegram in an encrypted portal (fake network, real Synapse, encrypting test client): text
//! and images both ways, the files as encrypted attachments on the Matrix side.

mod telegram_common;

use anyhow::Result;
use ferrybridge_telegram::fake::Sent;
use ferrybridge_telegram::network::{ChatRef, MediaKind, TgMedia, TgUpdate};
use telegram_common::*;

#[tokio::test]
async fn encrypted_portal_text_and_images_both_ways() -> Result<()> {
    let world = world();
    let photo = world.add_file("photo-1", b"\xff\xd8\xffjpeg bytes");
    let env = env_tuned(&world, |c| {
        c.encryption.allow = true;
        c.encryption.default = true;
    })
    .await?;
    let alice = env.user("alice").await?;
    alice.enable_e2ee().await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    command(&alice, &dm, "pm @bob_tg").await?;
    let room = accept(&alice).await?;
    let encryption = alice.get_state(&room, "m.room.encryption", "").await?;
    assert_eq!(encryption["algorithm"], "m.megolm.v1.aes-sha2");
    let chat = ChatRef::user(BOB);

    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(100, chat, bob(), "hi, encrypted")),
        )
        .await;
    let ev = wait_text(&alice, &room, "hi, encrypted").await?;
    assert_eq!(ev["fb_encrypted"], true, "{ev}");

    alice.send_encrypted_text(&room, "hello bob").await?;
    wait_sent(
        &world,
        |s| matches!(s, Sent::Message { msg, .. } if msg.text == "hello bob"),
    )
    .await?;

    // Matrix → Telegram: the encrypted file arrives decrypted.
    alice
        .send_encrypted_file(&room, "m.image", "cat.png", "image/png", b"\x89PNG fake")
        .await?;
    let sent = wait_sent(&world, |s| matches!(s, Sent::Media { .. })).await?;
    let Sent::Media { media, .. } = sent else {
        unreachable!()
    };
    assert_eq!(&media.data[..], b"\x89PNG fake");

    // Telegram → Matrix: the photo is an encrypted attachment.
    let mut m = incoming(101, chat, bob(), "");
    m.media = Some(TgMedia {
        kind: MediaKind::Photo,
        handle: photo,
        file_name: None,
        mime: None,
        size: None,
    });
    world.inject(ME, TgUpdate::NewMessage(m)).await;
    let ev = wait_text(&alice, &room, "photo.jpg").await?;
    assert_eq!(ev["fb_encrypted"], true, "{ev}");
    assert!(ev["content"]["url"].is_null(), "no plaintext url: {ev}");
    assert!(ev["content"]["file"]["key"].is_object(), "{ev}");
    assert_eq!(alice.media_bytes(&ev).await?, b"\xff\xd8\xffjpeg bytes");
    Ok(())
}
