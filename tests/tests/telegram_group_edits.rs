//! Matrix-side changes to a Telegram group portal, through a real Synapse with the fake
//! Telegram: the room name, topic and picture become the group's title, description and
//! photo, a kick or ban
//! of a ghost removes that member (a ban keeps them out), an invite of a ghost adds that person
//! and the ghost joins; what Telegram refuses comes back as a notice (a refused invite is
//! turned down by the ghost), and a private chat's room name stays on Matrix.

mod telegram_common;

use anyhow::Result;
use ferrybridge_telegram::fake::Sent;
use ferrybridge_telegram::network::{ChatEdit, ChatRef, TgError, TgUpdate};
use ferrybridge_tests::wait_until;
use reqwest::Method;
use ruma::UserId;
use serde_json::json;
use telegram_common::*;

#[tokio::test]
async fn room_name_topic_and_kicks_reach_the_group() -> Result<()> {
    let world = world();
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    let open = command(&alice, &dm, "open g500").await?;
    assert!(open.starts_with("Invited you to"), "{open}");
    let room = accept(&alice).await?;
    // Room admins may rename the room (Telegram decides whether the group follows).
    let host = env.host().expect("running");
    host.matrix()
        .bot_intent()
        .set_power_level(&room, &alice.user_id, 50)
        .await?;
    let group = ChatRef::group(GROUP);

    alice
        .put_state(&room, "m.room.name", "", json!({"name": "Reading circle"}))
        .await?;
    wait_sent(&world, |s| {
        *s == Sent::EditChat {
            chat: group,
            edit: ChatEdit::Title("Reading circle".into()),
        }
    })
    .await?;
    alice
        .put_state(&room, "m.room.topic", "", json!({"topic": "Novels only"}))
        .await?;
    wait_sent(&world, |s| {
        *s == Sent::EditChat {
            chat: group,
            edit: ChatEdit::About("Novels only".into()),
        }
    })
    .await?;

    // The room's picture becomes the group's; removing it removes the group's.
    let picture = b"\x89PNG\r\n any picture".to_vec();
    let mxc = alice.upload(picture.clone(), "image/png").await?;
    alice
        .put_state(&room, "m.room.avatar", "", json!({"url": mxc}))
        .await?;
    wait_sent(&world, |s| {
        *s == Sent::EditChat {
            chat: group,
            edit: ChatEdit::Photo(Some(picture.clone().into())),
        }
    })
    .await?;
    // Telegram reports that change back as the account's own: the room keeps Alice's picture
    // (a title change after it shows the report was handled).
    let echo = world.add_file("echo-photo", b"\x89PNG\r\n any picture");
    world
        .inject(
            ME,
            TgUpdate::ChatPhoto {
                chat: group,
                photo: Some(echo),
                by_me: true,
            },
        )
        .await;
    world
        .inject(
            ME,
            TgUpdate::ChatTitle {
                chat: group,
                title: "After the echo".into(),
            },
        )
        .await;
    wait_until(T, || async {
        alice
            .get_state(&room, "m.room.name", "")
            .await
            .is_ok_and(|n| n["name"] == "After the echo")
    })
    .await?;
    let avatar = alice.get_state(&room, "m.room.avatar", "").await?;
    assert_eq!(avatar["url"].as_str(), Some(mxc.as_str()), "{avatar}");
    alice
        .put_state(&room, "m.room.avatar", "", json!({}))
        .await?;
    wait_sent(&world, |s| {
        *s == Sent::EditChat {
            chat: group,
            edit: ChatEdit::Photo(None),
        }
    })
    .await?;
    // Someone on Telegram sets a picture and then removes it: so does the room.
    let theirs = world.add_file("their-photo", b"\xff\xd8\xfftheir photo");
    for photo in [Some(theirs), None] {
        let set = photo.is_some();
        world
            .inject(
                ME,
                TgUpdate::ChatPhoto {
                    chat: group,
                    photo,
                    by_me: false,
                },
            )
            .await;
        wait_until(T, || async {
            alice
                .get_state(&room, "m.room.avatar", "")
                .await
                .is_ok_and(|a| a["url"].is_string() == set)
        })
        .await?;
    }

    // A kick of Bob's ghost removes Bob; a ban of Carol's keeps her out.
    for (who, path) in [(BOB, "kick"), (CAROL, "ban")] {
        alice
            .call(
                Method::POST,
                &["rooms", room.as_str(), path],
                &[],
                Some(&json!({"user_id": ghost(&env, who), "reason": "spoilers"})),
            )
            .await?;
    }
    wait_sent(&world, |s| {
        *s == Sent::RemoveMember {
            chat: group,
            user: BOB,
            ban: false,
        }
    })
    .await?;
    wait_sent(&world, |s| {
        *s == Sent::RemoveMember {
            chat: group,
            user: CAROL,
            ban: true,
        }
    })
    .await?;

    // Inviting Bob's ghost back adds Bob; his ghost joins.
    alice
        .invite(&room, &UserId::parse(ghost(&env, BOB))?)
        .await?;
    wait_sent(&world, |s| {
        *s == Sent::AddMember {
            chat: group,
            user: BOB,
        }
    })
    .await?;
    alice
        .wait_for(&room, T, |ev| {
            ev["type"] == "m.room.member"
                && ev["state_key"] == ghost(&env, BOB).as_str()
                && ev["content"]["membership"] == "join"
        })
        .await?;

    // Telegram says no (not an admin): the sender is told, the room keeps what they set.
    world.refuse_sends(Some(TgError::NotAllowed));
    alice
        .put_state(&room, "m.room.name", "", json!({"name": "Mine now"}))
        .await?;
    let notice = wait_notice(&alice, &room, "Your change was not delivered to Telegram").await?;
    assert!(notice.contains("does not allow you"), "{notice}");
    // A refused invite: the ghost turns it down, with the reason.
    let dave = user(6000, "Dave", "+4400000006", "dave");
    world.add_user(dave);
    let dave_ghost = ghost(&env, 6000);
    alice.invite(&room, &UserId::parse(&dave_ghost)?).await?;
    wait_notice(&alice, &room, "was not added on Telegram").await?;
    alice
        .wait_for(&room, T, |ev| {
            ev["type"] == "m.room.member"
                && ev["state_key"] == dave_ghost.as_str()
                && ev["content"]["membership"] == "leave"
        })
        .await?;
    world.refuse_sends(None);

    // A private chat's room name is Alice's own business.
    let pm = command(&alice, &dm, "pm @bob_tg").await?;
    assert!(!pm.is_empty());
    let bob_room = accept(&alice).await?;
    let sent_before = world.sent(ME).len();
    alice
        .put_state(
            &bob_room,
            "m.room.name",
            "",
            json!({"name": "Bob from the club"}),
        )
        .await?;
    alice.send_text(&bob_room, "after the rename").await?;
    wait_until(T, || async {
        world
            .sent(ME)
            .iter()
            .any(|s| matches!(s, Sent::Message { msg, .. } if msg.text == "after the rename"))
    })
    .await?;
    let edits = world.sent(ME)[sent_before..]
        .iter()
        .filter(|s| matches!(s, Sent::EditChat { .. }))
        .count();
    assert_eq!(edits, 0, "{:?}", world.sent(ME));
    Ok(())
}
