//! Contact pictures on WhatsApp ghosts, through a real Synapse with the fake WhatsApp: a
//! contact's picture is looked up when the bridge first sees them and again when WhatsApp says
//! it changed (new picture, or removed); a restart does not look up what is already known.

mod whatsapp_common;

use anyhow::{Context, Result};
use ferrybridge_tests::{TestUser, text_body, wait_until};
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::{ContactPicture, WaEvent};
use ruma::UserId;
use whatsapp_common::*;

fn picture(id: &str, data: &'static [u8]) -> Option<ContactPicture> {
    Some(ContactPicture {
        id: id.into(),
        data: bytes::Bytes::from_static(data),
    })
}

/// Waits until `ghost`'s avatar is the image `want` (or gone, for `None`).
async fn wait_avatar(alice: &TestUser, ghost: &UserId, want: Option<&[u8]>) -> Result<()> {
    wait_until(T, || async {
        match (alice.avatar_url(ghost).await, want) {
            (Ok(None), None) => true,
            (Ok(Some(mxc)), Some(want)) => alice
                .download(&mxc)
                .await
                .is_ok_and(|got| got.as_ref() == want),
            _ => false,
        }
    })
    .await
    .with_context(|| format!("{ghost}'s avatar is not {want:?}"))
}

#[tokio::test]
async fn ghosts_get_contact_pictures_and_follow_their_changes() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let me = phone(ME);
    let bob = phone(BOB);
    wa.set_picture(&bob, picture("P1", b"\xff\xd8\xffbob one"));
    let (mut env, alice, _dm) = logged_in(&wa, sessions.path()).await?;
    let server = env.synapse.server_name().to_owned();
    let ghost = UserId::parse(format!("@whatsapp_441111111:{server}"))?;
    let chat = ChatJid::Direct(bob.clone());

    // Bob's first message: his ghost gets his picture, looked up once.
    assert!(
        wa.inject(&me, incoming("M1", chat.clone(), BOB, text("hello")))
            .await
    );
    let room = accept_invite(&alice).await?;
    wait_avatar(&alice, &ghost, Some(b"\xff\xd8\xffbob one")).await?;
    let lookups = wa.picture_lookups();
    assert!(
        wa.inject(&me, incoming("M2", chat.clone(), BOB, text("again")))
            .await
    );
    alice
        .wait_for(&room, T, |ev| text_body(ev) == Some("again"))
        .await?;
    assert_eq!(wa.picture_lookups(), lookups, "no lookup per message");

    // He changes it, then removes it.
    wa.set_picture(&bob, picture("P2", b"\xff\xd8\xffbob two"));
    assert!(
        wa.inject(&me, WaEvent::PictureChanged { phone: bob.clone() })
            .await
    );
    wait_avatar(&alice, &ghost, Some(b"\xff\xd8\xffbob two")).await?;
    wa.set_picture(&bob, None);
    assert!(
        wa.inject(&me, WaEvent::PictureChanged { phone: bob.clone() })
            .await
    );
    wait_avatar(&alice, &ghost, None).await?;

    // After a restart, what is known is not looked up again.
    env.stop().await;
    env.run(bridge(sessions.path(), &wa)).await?;
    let lookups = wa.picture_lookups();
    wait_until(T, || async {
        wa.inject(&me, incoming("M3", chat.clone(), BOB, text("back")))
            .await
    })
    .await?;
    alice
        .wait_for(&room, T, |ev| text_body(ev) == Some("back"))
        .await?;
    assert_eq!(wa.picture_lookups(), lookups, "known after a restart");
    Ok(())
}
