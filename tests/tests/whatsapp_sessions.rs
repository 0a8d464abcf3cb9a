//! WhatsApp sessions end to end against a real Synapse, with the fake WhatsApp: login with a
//! pairing code, QR codes running out, two users sharing a group portal, restarts, a session
//! file that vanished, and `delete-session`.

mod whatsapp_common;

use anyhow::Result;
use ferrybridge_tests::bot_chat::{bot_dm, command, is_notice_containing};
use ferrybridge_tests::{BridgeEnv, text_body};
use ferrybridge_whatsapp::fake::Sent;
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::{Outgoing, WaEvent};
use whatsapp_common::*;

#[tokio::test]
async fn pairing_code_session_restart_and_delete_session() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    wa.on_connect(WaEvent::ChatActive {
        chat: ChatJid::Direct(phone(CAROL)),
        last_active: now - 3600,
    });
    let mut env =
        BridgeEnv::start(&yaml(sessions.path()), None, bridge(sessions.path(), &wa)).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;

    let bad = command(&alice, &dm, "login phone call-me").await?;
    assert!(bad.contains("not a phone number"), "{bad}");
    alice.send_text(&dm, "login phone +447000000001").await?;
    let code = alice
        .wait_for(&dm, T, |ev| {
            is_notice_containing(ev, "Link with phone number")
        })
        .await?;
    assert!(
        text_body(&code).unwrap_or_default().contains("FAKEC0DE"),
        "{code}"
    );
    assert!(wa.scan(ME).await);
    alice
        .wait_for(&dm, T, |ev| {
            is_notice_containing(ev, "Successfully logged in")
        })
        .await?;

    // The recent chat from the history sync got a portal.
    let carol_room = accept_invite(&alice).await?;

    // QR codes running out is a clear failure.
    let bob = env.user("bob").await?;
    let bob_dm = bot_dm(&env, &bob).await?;
    wa.set_qr_count(1);
    bob.send_text(&bob_dm, "login").await?;
    bob.wait_for(&bob_dm, T, |ev| ev["content"]["msgtype"] == "m.image")
        .await?;
    wa.rotate_qr().await;
    bob.wait_for(&bob_dm, T, |ev| {
        is_notice_containing(ev, "QR codes ran out")
    })
    .await?;

    // Bob links his own number: a group both are in reaches both devices, and is shown once.
    bob.send_text(&bob_dm, "login").await?;
    bob.wait_for(&bob_dm, T, |ev| ev["content"]["msgtype"] == "m.image")
        .await?;
    assert!(wa.scan(BOB).await);
    bob.wait_for(&bob_dm, T, |ev| {
        is_notice_containing(ev, "Successfully logged in")
    })
    .await?;
    let club = ChatJid::Group("1203-2".into());
    for account in [ME, BOB] {
        wa.inject(
            &phone(account),
            incoming("G1", club.clone(), CAROL, text("once")),
        )
        .await;
    }
    let alice_club = accept_invite(&alice).await?;
    // Bob's invites: his recent chat from the history sync, and the same shared group portal.
    let mut invites = vec![];
    while !invites.contains(&alice_club) && invites.len() < 3 {
        invites.push(bob.wait_for_invite(T).await?);
    }
    assert!(
        invites.contains(&alice_club),
        "one shared portal: {invites:?}"
    );
    alice
        .wait_for(&alice_club, T, |ev| text_body(ev) == Some("once"))
        .await?;
    // Alice's message reaches Bob's device too: not relayed back into the room.
    alice.send_text(&alice_club, "from alice").await?;
    wait_sent(&wa, |s| {
        matches!(s, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "from alice")
    })
    .await?;
    let alice_msg_id = wa
        .sent()
        .into_iter()
        .rev()
        .find(|s| matches!(&s.what, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == "from alice"))
        .map(|s| s.id)
        .unwrap_or_default();
    wa.inject(
        &phone(BOB),
        incoming(&alice_msg_id, club.clone(), ME, text("from alice")),
    )
    .await;
    wa.inject(
        &phone(ME),
        incoming("G2", club.clone(), CAROL, text("marker")),
    )
    .await;
    alice
        .wait_for(&alice_club, T, |ev| text_body(ev) == Some("marker"))
        .await?;
    let msgs = alice.messages(&alice_club, 50).await?;
    let count = |body: &str| msgs.iter().filter(|ev| text_body(ev) == Some(body)).count();
    assert_eq!(
        (count("once"), count("from alice")),
        (1, 1),
        "no duplicates"
    );

    // Restart: still linked, portals intact, messages flow.
    env.stop().await;
    env.run(bridge(sessions.path(), &wa)).await?;
    ferrybridge_tests::wait_until(T, || async { wa.is_connected(&phone(ME)) }).await?;
    assert_eq!(
        command(&alice, &dm, "ping").await?,
        "You are logged in as +447000000001.\nWhatsApp: connected."
    );
    wa.inject(
        &phone(ME),
        incoming(
            "R1",
            ChatJid::Direct(phone(CAROL)),
            CAROL,
            text("after restart"),
        ),
    )
    .await;
    alice
        .wait_for(&carol_room, T, |ev| text_body(ev) == Some("after restart"))
        .await?;
    let sync = command(&alice, &dm, "sync").await?;
    assert!(sync.starts_with("Synced: 3 groups"), "{sync}");

    // A session that vanished while the bridge was down: the user is told at start; once the
    // file is back, `login` reconnects it.
    env.stop().await;
    let file = ferrybridge_whatsapp::sessions::session_path(
        sessions.path(),
        &ferrybridge_core::ids::UserLogin::first(alice.user_id.clone()),
    );
    assert!(file.exists(), "alice's session file");
    let aside = sessions.path().join("aside");
    std::fs::rename(&file, &aside)?;
    env.run(bridge(sessions.path(), &wa)).await?;
    alice
        .wait_for(&dm, T, |ev| {
            is_notice_containing(ev, "You were logged out of WhatsApp")
        })
        .await?;
    let ping = command(&alice, &dm, "ping").await?;
    assert!(ping.contains("not logged in"), "{ping}");
    std::fs::rename(&aside, &file)?;
    // `login` with a session that is still linked reuses it instead of showing a QR code.
    alice.send_text(&dm, "login").await?;
    alice
        .wait_for(&dm, T, |ev| {
            is_notice_containing(ev, "Successfully logged in as +447000000001")
        })
        .await?;
    let sync = command(&alice, &dm, "sync").await?;
    assert!(sync.starts_with("Synced"), "{sync}");
    assert_eq!(
        command(&alice, &dm, "ping").await?,
        "You are logged in as +447000000001.\nWhatsApp: connected."
    );

    // delete-session forgets the session here (the file goes) but WhatsApp still lists it.
    assert_eq!(
        std::fs::read_dir(sessions.path())?.count(),
        2,
        "alice's and bob's"
    );
    let deleted = command(&alice, &dm, "delete-session").await?;
    assert!(deleted.starts_with("Session deleted"), "{deleted}");
    assert!(!file.exists(), "alice's session file is gone");
    assert_eq!(
        std::fs::read_dir(sessions.path())?.count(),
        1,
        "bob's stays"
    );
    assert!(!wa.linked().is_empty(), "WhatsApp was not told");
    let ping = command(&alice, &dm, "ping").await?;
    assert!(ping.contains("not logged in"), "{ping}");
    Ok(())
}
