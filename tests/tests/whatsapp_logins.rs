//! Several linked WhatsApp accounts per Matrix user, through Synapse on the fake network:
//! `login` links another, `list-logins` numbers them, each account's private chats are
//! portals of their own, messages go out from the account whose chat it is, `--login N` picks
//! the account a command uses, `use-login N` the one that speaks in a group both are in, both
//! come back after a restart, `logout N` ends one, and the same account twice is refused.

mod whatsapp_common;

use anyhow::Result;
use ferrybridge_tests::bot_chat::{bot_dm, command, is_notice_containing};
use ferrybridge_tests::{BridgeEnv, TestUser};
use ferrybridge_whatsapp::fake::{FakeWhatsApp, Sent};
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::{GroupInfo, Outgoing};
use ruma::RoomId;
use whatsapp_common::*;

const WORK: &str = "+447000000002";

/// Links `account` as the user's next login through a QR code; returns the confirmation.
async fn link(wa: &FakeWhatsApp, alice: &TestUser, dm: &RoomId, account: &str) -> Result<String> {
    alice.send_text(dm, "login").await?;
    alice
        .wait_for(dm, T, |ev| ev["content"]["msgtype"] == "m.image")
        .await?;
    anyhow::ensure!(wa.scan(account).await, "a pairing was waiting");
    let ev = alice
        .wait_for(dm, T, |ev| {
            is_notice_containing(ev, "Successfully logged in")
                || is_notice_containing(ev, "already logged in")
        })
        .await?;
    Ok(ferrybridge_tests::text_body(&ev)
        .unwrap_or_default()
        .to_owned())
}

/// Whether `account` sent the text `body`.
fn sent_text(wa: &FakeWhatsApp, account: &str, body: &str) -> bool {
    wa.sent().iter().any(|s| {
        s.account == phone(account)
            && matches!(&s.what, Sent::Message { message: Outgoing::Text { text, .. }, .. } if text == body)
    })
}

#[tokio::test]
async fn two_linked_accounts_have_their_own_chats_and_survive_a_restart() -> Result<()> {
    let wa = world();
    wa.add_contact(WORK, "Work");
    let sessions = tempfile::tempdir()?;
    let (mut env, alice, dm): (BridgeEnv<_>, _, _) = logged_in(&wa, sessions.path()).await?;
    let done = link(&wa, &alice, &dm, WORK).await?;
    assert!(
        done.contains("+447000000002") && done.contains("(login 2)"),
        "{done}"
    );
    let list = command(&alice, &dm, "list-logins").await?;
    assert!(
        list.contains("1. +447000000001 (connected)")
            && list.contains("2. +447000000002 (connected)"),
        "{list}"
    );

    // Bob writes to both numbers: two private chats, two rooms.
    let bob = ChatJid::Direct(phone(BOB));
    wa.inject(
        &phone(ME),
        incoming("m1", bob.clone(), BOB, text("to your phone")),
    )
    .await;
    let first = accept_invite(&alice).await?;
    alice
        .wait_for(&first, T, |ev| {
            ferrybridge_tests::text_body(ev) == Some("to your phone")
        })
        .await?;
    wa.inject(
        &phone(WORK),
        incoming("m2", bob.clone(), BOB, text("to your work")),
    )
    .await;
    let second = accept_invite(&alice).await?;
    assert_ne!(first, second, "each account has its own chat with Bob");
    alice
        .wait_for(&second, T, |ev| {
            ferrybridge_tests::text_body(ev) == Some("to your work")
        })
        .await?;

    // Answers go out from the account whose chat it is.
    alice.send_text(&second, "work answer").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&wa, WORK, "work answer") }).await?;
    alice.send_text(&first, "phone answer").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&wa, ME, "phone answer") }).await?;
    assert!(!sent_text(&wa, ME, "work answer") && !sent_text(&wa, WORK, "phone answer"));

    // A group only the second number is in: Alice's messages there go out from it.
    let team = ChatJid::Group("1203-9".into());
    wa.add_group(GroupInfo {
        jid: team.clone(),
        subject: "Work team".into(),
        description: None,
        participants: vec![phone(WORK), phone(BOB)],
        picture: None,
    });
    wa.inject(
        &phone(WORK),
        incoming("g1", team.clone(), BOB, text("standup?")),
    )
    .await;
    let team_room = accept_invite(&alice).await?;
    alice
        .wait_for(&team_room, T, |ev| {
            ferrybridge_tests::text_body(ev) == Some("standup?")
        })
        .await?;
    alice.send_text(&team_room, "in five").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&wa, WORK, "in five") }).await?;
    assert!(!sent_text(&wa, ME, "in five"));

    // `--login N` picks the account a command acts through.
    let opened = command(&alice, &dm, &format!("pm {BOB} --login 2")).await?;
    assert!(opened.contains(second.as_str()), "{opened}");
    let opened = command(&alice, &dm, &format!("pm {BOB}")).await?;
    assert!(opened.contains(first.as_str()), "{opened}");
    let none = command(&alice, &dm, &format!("pm {BOB} --login 3")).await?;
    assert!(none.contains("no WhatsApp login 3"), "{none}");

    // Both come back after a restart, into the same rooms.
    env.stop().await;
    env.run(bridge(sessions.path(), &wa)).await?;
    ferrybridge_tests::wait_until(T, || async { wa.is_connected(&phone(WORK)) }).await?;
    wa.inject(
        &phone(WORK),
        incoming("m3", bob.clone(), BOB, text("after restart")),
    )
    .await;
    alice
        .wait_for(&second, T, |ev| {
            ferrybridge_tests::text_body(ev) == Some("after restart")
        })
        .await?;

    // `logout 2` ends the second account and leaves the first.
    let which = command(&alice, &dm, "logout").await?;
    assert!(which.contains("You have 2 logins"), "{which}");
    assert_eq!(
        command(&alice, &dm, "logout 2").await?,
        "Logged out of login 2 (+447000000002)."
    );
    let list = command(&alice, &dm, "list-logins").await?;
    assert!(
        list.contains("1. +447000000001") && !list.contains("+447000000002"),
        "{list}"
    );
    alice.send_text(&first, "phone still works").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&wa, ME, "phone still works") }).await?;
    Ok(())
}

#[tokio::test]
async fn the_same_account_twice_is_refused_and_the_first_stays() -> Result<()> {
    let wa = world();
    let sessions = tempfile::tempdir()?;
    let env = BridgeEnv::start(&yaml(sessions.path()), None, bridge(sessions.path(), &wa)).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    qr_login(&wa, &alice, &dm).await?;
    let refused = link(&wa, &alice, &dm, ME).await?;
    assert!(
        refused.contains("already logged in as +447000000001 (login 1)"),
        "{refused}"
    );
    let list = command(&alice, &dm, "list-logins").await?;
    assert!(
        list.contains("1. +447000000001 (connected)") && !list.contains("2."),
        "{list}"
    );
    Ok(())
}

/// Both numbers are in one group: the first known member speaks unless Alice chooses with
/// `use-login N`, and `use-login default` gives the choice back.
#[tokio::test]
async fn use_login_picks_the_number_in_a_group_both_are_in() -> Result<()> {
    let wa = world();
    wa.add_contact(WORK, "Work");
    let sessions = tempfile::tempdir()?;
    let (_env, alice, dm): (BridgeEnv<_>, _, _) = logged_in(&wa, sessions.path()).await?;
    link(&wa, &alice, &dm, WORK).await?;
    let both = ChatJid::Group("1203-10".into());
    wa.add_group(GroupInfo {
        jid: both.clone(),
        subject: "Both of us".into(),
        description: None,
        participants: vec![phone(ME), phone(WORK), phone(BOB)],
        picture: None,
    });
    wa.inject(
        &phone(ME),
        incoming("b1", both.clone(), BOB, text("hello both")),
    )
    .await;
    let room = accept_invite(&alice).await?;
    alice
        .wait_for(&room, T, |ev| {
            ferrybridge_tests::text_body(ev) == Some("hello both")
        })
        .await?;
    alice.send_text(&room, "picked for me").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&wa, ME, "picked for me") }).await?;

    let set = command(&alice, &dm, &format!("use-login 2 {room}")).await?;
    assert_eq!(
        set,
        format!("You speak in {room} through login 2 (+447000000002) from now on.")
    );
    alice.send_text(&room, "as work").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&wa, WORK, "as work") }).await?;
    assert!(!sent_text(&wa, ME, "as work"));

    let back = command(&alice, &dm, &format!("use-login default {room}")).await?;
    assert!(back.contains("picks which of your logins"), "{back}");
    alice.send_text(&room, "picked again").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&wa, ME, "picked again") }).await?;
    assert!(!sent_text(&wa, WORK, "picked again"));
    Ok(())
}
