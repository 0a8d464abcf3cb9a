//! Personal spaces end to end through a real Synapse with the fake WhatsApp: the user's portals
//! are gathered in a space of their own, made with their first portal, added to as portals
//! come and taken out when they are deleted.

mod whatsapp_common;

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use ferrybridge_tests::bot_chat::{bot_dm, command};
use ferrybridge_tests::{BridgeEnv, TestUser, wait_until};
use ruma::OwnedRoomId;
use whatsapp_common::*;

/// The rooms `space` holds (its `m.space.child` events with content).
async fn children(user: &TestUser, space: &OwnedRoomId) -> Result<BTreeSet<String>> {
    let state = user.room_state(space).await?;
    Ok(state
        .iter()
        .filter(|e| {
            e["type"] == "m.space.child"
                && e["content"]["via"]
                    .as_array()
                    .is_some_and(|v| !v.is_empty())
        })
        .filter_map(|e| e["state_key"].as_str().map(str::to_owned))
        .collect())
}

#[tokio::test]
async fn portals_gather_in_the_users_space() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let env = BridgeEnv::start_tuned(
        &yaml(sessions.path()),
        None,
        |config| config.bridge.personal_spaces = true,
        bridge(sessions.path(), &wa),
    )
    .await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    qr_login(&wa, &alice, &dm).await?;

    // The first portal brings the space: two invites, the chat and the space.
    command(&alice, &dm, "pm +441111111").await?;
    let (mut space, mut bob_room) = (None, None);
    for _ in 0..2 {
        let room = accept_invite(&alice).await?;
        let create = alice.get_state(&room, "m.room.create", "").await?;
        if create["type"] == "m.space" {
            space = Some(room);
        } else {
            bob_room = Some(room);
        }
    }
    let (space, bob_room) = (space.context("no space")?, bob_room.context("no chat")?);
    assert_eq!(
        alice.get_state(&space, "m.room.name", "").await?["name"],
        "WhatsApp"
    );
    assert_eq!(
        children(&alice, &space).await?,
        BTreeSet::from([bob_room.to_string()])
    );

    // A group portal joins it; no second space.
    command(&alice, &dm, "open 1203-1").await?;
    let office = accept_invite(&alice).await?;
    let expected = BTreeSet::from([bob_room.to_string(), office.to_string()]);
    let (a, s) = (&alice, &space);
    wait_until(T, || {
        let expected = expected.clone();
        async move { children(a, s).await.is_ok_and(|c| c == expected) }
    })
    .await
    .context("the group in the space")?;

    // Deleted portals leave it.
    let deleted = command(&alice, &dm, "delete-all-portals").await?;
    assert_eq!(deleted, "Deleted 1 portal(s).");
    let only_office = BTreeSet::from([office.to_string()]);
    wait_until(T, || {
        let only_office = only_office.clone();
        async move { children(a, s).await.is_ok_and(|c| c == only_office) }
    })
    .await
    .context("the deleted chat out of the space")?;
    assert!(
        alice
            .wait_for_invite(std::time::Duration::from_secs(2))
            .await
            .is_err(),
        "one space only"
    );
    Ok(())
}
