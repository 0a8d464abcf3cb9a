//! Matrix-side changes to a WhatsApp group portal, through a real Synapse with the fake
//! WhatsApp: the room name, topic and picture become the group's subject, description and
//! picture (JPEG only; another format gets a notice), a kick of a
//! ghost removes that member, an invite of a ghost adds that person and the ghost joins; what
//! WhatsApp refuses (only admins may) comes back as a notice, a refused invite is turned down.

mod whatsapp_common;

use anyhow::Result;
use ferrybridge_tests::bot_chat::{command, is_notice_containing};
use ferrybridge_tests::{text_body, wait_until};
use ferrybridge_whatsapp::fake::Sent;
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::GroupEdit;
use reqwest::Method;
use serde_json::json;
use whatsapp_common::*;

#[tokio::test]
async fn room_name_topic_and_kicks_reach_the_group() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let (env, alice, dm) = logged_in(&wa, sessions.path()).await?;
    let server = env.synapse.server_name().to_owned();
    let opened = command(&alice, &dm, "open 1203-1").await?;
    assert!(
        opened.starts_with("Invited you to Office party"),
        "{opened}"
    );
    let room = accept_invite(&alice).await?;
    env.host()
        .expect("running")
        .matrix()
        .bot_intent()
        .set_power_level(&room, &alice.user_id, 50)
        .await?;
    let group = ChatJid::Group("1203-1".into());

    alice
        .put_state(&room, "m.room.name", "", json!({"name": "Office picnic"}))
        .await?;
    alice
        .put_state(&room, "m.room.topic", "", json!({"topic": "Bring food"}))
        .await?;
    wait_sent(&wa, |s| {
        *s == Sent::GroupEdit {
            chat: group.clone(),
            edit: GroupEdit::Description("Bring food".into()),
        }
    })
    .await?;
    let now = wa.group(&group).expect("group");
    assert_eq!(now.subject, "Office picnic");
    assert_eq!(now.description.as_deref(), Some("Bring food"));

    // The room's picture becomes the group's (JPEG only: WhatsApp takes no other format), and
    // removing it removes the group's.
    let jpeg = b"\xFF\xD8\xFF\xE0 a small JPEG".to_vec();
    let mxc = alice.upload(jpeg.clone(), "image/jpeg").await?;
    alice
        .put_state(&room, "m.room.avatar", "", json!({"url": mxc}))
        .await?;
    wait_sent(&wa, |s| {
        *s == Sent::GroupEdit {
            chat: group.clone(),
            edit: GroupEdit::Picture(Some(jpeg.clone().into())),
        }
    })
    .await?;
    let png = alice.upload(b"\x89PNG\r\n".to_vec(), "image/png").await?;
    alice
        .put_state(
            &room,
            "m.room.avatar",
            "",
            json!({"url": png, "info": {"mimetype": "image/png"}}),
        )
        .await?;
    let notice = alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "JPEG group pictures only")
        })
        .await?;
    assert!(
        text_body(&notice).is_some_and(|b| b.contains("image/png")),
        "{notice}"
    );
    alice
        .put_state(&room, "m.room.avatar", "", json!({}))
        .await?;
    wait_sent(&wa, |s| {
        *s == Sent::GroupEdit {
            chat: group.clone(),
            edit: GroupEdit::Picture(None),
        }
    })
    .await?;

    // A kick of Bob's ghost removes Bob from the group.
    let bob_ghost = format!("@whatsapp_441111111:{server}");
    alice
        .call(
            Method::POST,
            &["rooms", room.as_str(), "kick"],
            &[],
            Some(&json!({"user_id": bob_ghost})),
        )
        .await?;
    wait_sent(&wa, |s| {
        *s == Sent::RemoveParticipant {
            chat: group.clone(),
            member: phone(BOB),
        }
    })
    .await?;
    assert!(
        !wa.group(&group)
            .expect("group")
            .participants
            .contains(&phone(BOB))
    );

    // Inviting Carol's ghost adds Carol; her ghost joins.
    let carol_ghost = format!("@whatsapp_442222222:{server}");
    alice
        .invite(&room, &ruma::UserId::parse(&carol_ghost)?)
        .await?;
    wait_sent(&wa, |s| {
        *s == Sent::AddParticipant {
            chat: group.clone(),
            member: phone(CAROL),
        }
    })
    .await?;
    let is_member = |ghost: &str, membership: &str| {
        let (ghost, membership) = (ghost.to_owned(), membership.to_owned());
        move |ev: &serde_json::Value| {
            ev["type"] == "m.room.member"
                && ev["state_key"] == ghost.as_str()
                && ev["content"]["membership"] == membership.as_str()
        }
    };
    alice
        .wait_for(&room, T, is_member(&carol_ghost, "join"))
        .await?;
    assert!(
        wa.group(&group)
            .expect("group")
            .participants
            .contains(&phone(CAROL))
    );

    // Only admins may change this one: the sender is told why.
    wa.admins_only(&group);
    alice
        .put_state(&room, "m.room.name", "", json!({"name": "Mine now"}))
        .await?;
    let notice = alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "Your change was not delivered to WhatsApp")
        })
        .await?;
    assert!(
        text_body(&notice).is_some_and(|b| b.contains("only group admins")),
        "{notice}"
    );
    assert_eq!(wa.group(&group).expect("group").subject, "Office picnic");
    // Bob cannot be added back either: his ghost turns the invitation down.
    alice
        .invite(&room, &ruma::UserId::parse(&bob_ghost)?)
        .await?;
    alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "was not added on WhatsApp")
                && text_body(ev).is_some_and(|b| b.contains("only group admins"))
        })
        .await?;
    // (He left once already, when kicked: his membership now says whether he turned it down.)
    wait_until(T, || async {
        alice
            .get_state(&room, "m.room.member", &bob_ghost)
            .await
            .is_ok_and(|m| m["membership"] == "leave")
    })
    .await?;
    Ok(())
}
