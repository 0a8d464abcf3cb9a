//! Several Telegram logins per Matrix user, through Synapse on the fake network: `login` adds
//! one, `list-logins` numbers them, each login's private chats are portals of their own (the
//! same contact seen by two accounts is two rooms), messages go out through the login whose
//! chat it is, `--login N` picks the login a command uses, `use-login N` the one that speaks in
//! a group both accounts are in, they all come back after a restart, `logout N` ends one, and
//! the same account twice is refused.

mod telegram_common;

use anyhow::Result;
use ferrybridge_telegram::fake::Sent;
use ferrybridge_telegram::network::{ChatRef, TgChat, TgUpdate, TgUser};
use ferrybridge_tests::TestUser;
use ruma::RoomId;
use telegram_common::*;

const PHONE2: &str = "+4412345679";
const ME2: i64 = 1001;
const WORK_GROUP: i64 = 600;

/// Alice's second Telegram account.
fn work() -> TgUser {
    user(ME2, "Alice Work", "4412345679", "alice_work")
}

/// The login dialogue for Alice's second account; it becomes login 2.
async fn login_work(alice: &TestUser, dm: &RoomId) -> Result<()> {
    alice.send_text(dm, "login").await?;
    wait_notice(alice, dm, "phone number").await?;
    alice.send_text(dm, PHONE2).await?;
    wait_notice(alice, dm, "login code").await?;
    alice.send_text(dm, "54321").await?;
    wait_notice(
        alice,
        dm,
        "Successfully logged in as Alice Work (+4412345679) (login 2)",
    )
    .await?;
    Ok(())
}

/// Whether `account` sent a text message `text` into `chat`.
fn sent_text(world: &ferrybridge_telegram::fake::FakeWorld, account: i64, text: &str) -> bool {
    world
        .sent(account)
        .iter()
        .any(|s| matches!(s, Sent::Message { msg, .. } if msg.text == text))
}

#[tokio::test]
async fn two_accounts_have_their_own_chats_and_survive_a_restart() -> Result<()> {
    let world = world();
    world.add_account(PHONE2, work(), "54321", None);
    let mut env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    login_work(&alice, &dm).await?;

    let list = command(&alice, &dm, "list-logins").await?;
    assert!(
        list.contains("1. Alice (+4412345678) (connected)")
            && list.contains("2. Alice Work (+4412345679) (connected)"),
        "{list}"
    );
    let ping = command(&alice, &dm, "ping").await?;
    assert!(
        ping.contains("1. Alice (+4412345678)") && ping.contains("Telegram login 2: connected."),
        "{ping}"
    );

    // Bob writes to both accounts: two private chats, two rooms.
    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(1, ChatRef::user(BOB), bob(), "to your phone")),
        )
        .await;
    let first = accept(&alice).await?;
    wait_text(&alice, &first, "to your phone").await?;
    world
        .inject(
            ME2,
            TgUpdate::NewMessage(incoming(2, ChatRef::user(BOB), bob(), "to your work")),
        )
        .await;
    let second = accept(&alice).await?;
    assert_ne!(first, second, "each login has its own chat with Bob");
    wait_text(&alice, &second, "to your work").await?;

    // Answers go out through the login whose chat it is.
    alice.send_text(&second, "work answer").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&world, ME2, "work answer") }).await?;
    alice.send_text(&first, "phone answer").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&world, ME, "phone answer") }).await?;
    assert!(!sent_text(&world, ME, "work answer"));
    assert!(!sent_text(&world, ME2, "phone answer"));
    // A private chat belongs to its login: there is nothing to choose.
    let refused = command(&alice, &dm, &format!("use-login 2 {first}")).await?;
    assert!(refused.contains("is a private chat"), "{refused}");

    // A group only the second account is in: Alice's messages there go out through it.
    world.add_chat(TgChat {
        chat: ChatRef::group(WORK_GROUP),
        title: "Work team".into(),
        about: None,
        photo: None,
        members: vec![work(), bob()],
        last_message_at: None,
    });
    world
        .inject(
            ME2,
            TgUpdate::NewMessage(incoming(4, ChatRef::group(WORK_GROUP), bob(), "standup?")),
        )
        .await;
    let team = accept(&alice).await?;
    wait_text(&alice, &team, "standup?").await?;
    alice.send_text(&team, "in five").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&world, ME2, "in five") }).await?;
    assert!(!sent_text(&world, ME, "in five"));

    // `--login N` picks the account a command acts through.
    let opened = command(&alice, &dm, "pm @bob_tg --login 2").await?;
    assert!(opened.contains(second.as_str()), "{opened}");
    let opened = command(&alice, &dm, "pm @bob_tg").await?;
    assert!(opened.contains(first.as_str()), "{opened}");
    let none = command(&alice, &dm, "pm @bob_tg --login 3").await?;
    assert!(none.contains("no Telegram login 3"), "{none}");
    let bad = command(&alice, &dm, "pm @bob_tg --login two").await?;
    assert!(bad.contains("not a login number"), "{bad}");

    // Both come back after a restart, into the same rooms.
    env.stop().await;
    env.run(bridge(&world)).await?;
    world
        .inject(
            ME2,
            TgUpdate::NewMessage(incoming(3, ChatRef::user(BOB), bob(), "after restart")),
        )
        .await;
    wait_text(&alice, &second, "after restart").await?;
    alice.send_text(&second, "still work").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&world, ME2, "still work") }).await?;
    // Before the group said anything since the restart: Telegram is asked which account is in it.
    alice.send_text(&team, "back again").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&world, ME2, "back again") }).await?;
    assert!(!sent_text(&world, ME, "back again"));

    // `logout` asks which; `logout 2` ends the second and leaves the first.
    let which = command(&alice, &dm, "logout").await?;
    assert!(which.contains("You have 2 logins"), "{which}");
    assert_eq!(
        command(&alice, &dm, "logout 2").await?,
        "Logged out of login 2 (Alice Work (+4412345679))."
    );
    let list = command(&alice, &dm, "list-logins").await?;
    assert!(
        list.contains("1. Alice (+4412345678)") && !list.contains("Alice Work"),
        "{list}"
    );
    let gone = command(&alice, &dm, "logout 2").await?;
    assert!(gone.contains("no login 2"), "{gone}");
    alice.send_text(&first, "phone still works").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&world, ME, "phone still works") })
        .await?;
    assert_eq!(command(&alice, &dm, "logout").await?, "Logged out.");
    Ok(())
}

#[tokio::test]
async fn the_same_account_twice_is_refused_and_the_first_login_stays() -> Result<()> {
    let world = world();
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    alice.send_text(&dm, "login").await?;
    wait_notice(&alice, &dm, "phone number").await?;
    alice.send_text(&dm, PHONE).await?;
    wait_notice(&alice, &dm, "login code").await?;
    alice.send_text(&dm, "12345").await?;
    let refused = wait_notice(&alice, &dm, "already logged in as Alice").await?;
    assert!(refused.contains("(login 1)"), "{refused}");
    let list = command(&alice, &dm, "list-logins").await?;
    assert!(
        list.contains("1. Alice (+4412345678) (connected)") && !list.contains("2."),
        "{list}"
    );
    Ok(())
}

/// Both accounts are in one group: the network picks the first (the one that delivered the
/// group), `use-login 2` makes Alice speak there as her second account, `use-login default`
/// gives the choice back; private chats and unknown logins are refused with a reason.
#[tokio::test]
async fn use_login_picks_the_account_in_a_group_both_are_in() -> Result<()> {
    let world = world();
    world.add_account(PHONE2, work(), "54321", None);
    world.add_chat(TgChat {
        chat: ChatRef::group(WORK_GROUP),
        title: "Both of us".into(),
        about: None,
        photo: None,
        members: vec![user(ME, "Alice", "4412345678", "alice_tg"), work(), bob()],
        last_message_at: None,
    });
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    login_work(&alice, &dm).await?;
    world
        .inject(
            ME,
            TgUpdate::NewMessage(incoming(1, ChatRef::group(WORK_GROUP), bob(), "hello both")),
        )
        .await;
    let group = accept(&alice).await?;
    wait_text(&alice, &group, "hello both").await?;
    alice.send_text(&group, "picked for me").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&world, ME, "picked for me") }).await?;

    let shown = command(&alice, &dm, &format!("use-login {group}")).await?;
    assert!(shown.contains("Telegram picks"), "{shown}");
    let set = command(&alice, &dm, &format!("use-login 2 {group}")).await?;
    assert_eq!(
        set,
        format!("You speak in {group} through login 2 (Alice Work (+4412345679)) from now on.")
    );
    alice.send_text(&group, "as work").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&world, ME2, "as work") }).await?;
    assert!(!sent_text(&world, ME, "as work"));
    let shown = command(&alice, &dm, &format!("use-login {group}")).await?;
    assert!(shown.contains("through login 2"), "{shown}");

    let none = command(&alice, &dm, &format!("use-login 3 {group}")).await?;
    assert!(none.contains("You have no login 3"), "{none}");
    let bad = command(&alice, &dm, &format!("use-login two {group}")).await?;
    assert!(bad.contains("not a login number"), "{bad}");
    let back = command(&alice, &dm, &format!("use-login default {group}")).await?;
    assert!(back.contains("picks which of your logins"), "{back}");
    alice.send_text(&group, "picked again").await?;
    ferrybridge_tests::wait_until(T, || async { sent_text(&world, ME, "picked again") }).await?;
    assert!(!sent_text(&world, ME2, "picked again"));
    Ok(())
}
