//! Telegram chats end to end through Synapse on the fake network: recent chats after login,
//! `pm`, `search`, `list groups`, `open`, group changes, portals from incoming messages,
//! restarts with catch-up, `logout` and `delete-all-portals`.

mod telegram_common;

use anyhow::Result;
use ferrybridge_telegram::fake::Sent;
use ferrybridge_telegram::network::{ChatRef, TgChat, TgUpdate};
use ferrybridge_tests::wait_until;
use telegram_common::*;

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
                by_me: false,
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
