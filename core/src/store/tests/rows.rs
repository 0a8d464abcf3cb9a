//! Bridge users, ghosts, portals and the message map.

use ruma::OwnedMxcUri;
use serde_json::json;

use super::{event, for_each_backend, room, user};
use crate::ids::{LoginSlot, PortalKey, PortalKind, RemoteMessageId, RemoteUserId};
use crate::store::{BridgeUser, GhostRow, MessageRow, PortalRow, StoreError};

#[tokio::test]
async fn bridge_users() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let alice = user("@alice:example.org");
        let bob = user("@bob:example.org");
        assert_eq!(store.get_user(&alice).await.unwrap(), None);

        store
            .set_management_room(&alice, Some(&room("!dm:example.org")))
            .await
            .unwrap();
        store
            .set_login_state(&alice, Some(&json!({"nick": "alice", "n": 1})))
            .await
            .unwrap();
        store
            .set_login_state(&bob, Some(&json!("token")))
            .await
            .unwrap();
        // Setting one field keeps the other.
        assert_eq!(
            store.get_user(&alice).await.unwrap(),
            Some(BridgeUser {
                mxid: alice.clone(),
                management_room: Some(room("!dm:example.org")),
                login_state: Some(json!({"nick": "alice", "n": 1})),
            })
        );
        assert_eq!(
            store
                .user_by_management_room(&room("!dm:example.org"))
                .await
                .unwrap()
                .map(|u| u.mxid),
            Some(alice.clone())
        );
        assert_eq!(
            store
                .user_by_management_room(&room("!other:example.org"))
                .await
                .unwrap(),
            None
        );
        let logged_in: Vec<_> = store
            .logged_in_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.mxid)
            .collect();
        assert_eq!(logged_in, vec![alice.clone(), bob.clone()]);

        store.set_login_state(&alice, None).await.unwrap();
        store.set_management_room(&bob, None).await.unwrap();
        let logged_in: Vec<_> = store.logged_in_users().await.unwrap();
        assert_eq!(logged_in.len(), 1);
        assert_eq!(logged_in[0].mxid, bob);
        assert_eq!(logged_in[0].management_room, None);
        let alice_row = store.get_user(&alice).await.unwrap().unwrap();
        assert_eq!(alice_row.login_state, None);
        assert_eq!(alice_row.management_room, Some(room("!dm:example.org")));
    })
    .await;
}

fn ghost(remote: &str, mxid: &str) -> GhostRow {
    GhostRow {
        remote_id: RemoteUserId::new(remote),
        mxid: user(mxid),
        displayname: None,
        avatar: None,
        registered: false,
    }
}

#[tokio::test]
async fn ghosts() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let mut bob = ghost("bob", "@irc_bob:example.org");
        store.upsert_ghost(&bob).await.unwrap();
        assert_eq!(
            store.ghost_by_remote(&bob.remote_id).await.unwrap(),
            Some(bob.clone())
        );

        bob.displayname = Some("Bob (IRC)".into());
        bob.avatar = Some(OwnedMxcUri::from("mxc://example.org/abc"));
        bob.registered = true;
        store.upsert_ghost(&bob).await.unwrap();
        assert_eq!(
            store.ghost_by_mxid(&bob.mxid).await.unwrap(),
            Some(bob.clone())
        );
        assert_eq!(
            store
                .ghost_by_remote(&RemoteUserId::new("carol"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .ghost_by_mxid(&user("@irc_carol:example.org"))
                .await
                .unwrap(),
            None
        );

        // Another remote user cannot take bob's Matrix ID.
        let thief = ghost("mallory", "@irc_bob:example.org");
        assert!(matches!(
            store.upsert_ghost(&thief).await,
            Err(StoreError::Database(_))
        ));
        assert_eq!(store.ghost_by_mxid(&bob.mxid).await.unwrap(), Some(bob));
    })
    .await;
}

fn portal(key: PortalKey, room_id: &str) -> PortalRow {
    PortalRow {
        key,
        room_id: room(room_id),
        kind: PortalKind::Channel,
        plumbed: false,
        name: Some("#rust".into()),
        topic: None,
        avatar: None,
    }
}

#[tokio::test]
async fn portals() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let alice = user("@alice:example.org");
        let carol = user("@carol:example.org");
        let shared = portal(PortalKey::shared("#rust"), "!rust:example.org");
        let mut dm_alice = portal(PortalKey::private("bob", alice.clone()), "!dm1:example.org");
        dm_alice.kind = PortalKind::Dm;
        let mut dm_carol = portal(PortalKey::private("bob", carol.clone()), "!dm2:example.org");
        dm_carol.kind = PortalKind::Group;
        // Same chat name as a private one, but shared: a different key.
        let shared_bob = portal(PortalKey::shared("bob"), "!bob:example.org");

        for p in [&shared, &dm_alice, &dm_carol, &shared_bob] {
            assert!(store.insert_portal(p).await.unwrap(), "{:?}", p.key);
        }
        // Same key, other room: refused, nothing changes.
        assert!(
            !store
                .insert_portal(&portal(PortalKey::shared("#rust"), "!rust2:example.org"))
                .await
                .unwrap()
        );
        // Other key, same room: refused.
        assert!(
            !store
                .insert_portal(&portal(PortalKey::shared("#go"), "!rust:example.org"))
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .portal_by_room(&room("!rust2:example.org"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .portal_by_key(&PortalKey::shared("#go"))
                .await
                .unwrap(),
            None
        );

        assert_eq!(
            store.portal_by_key(&shared.key).await.unwrap(),
            Some(shared.clone())
        );
        assert_eq!(
            store.portal_by_room(&dm_alice.room_id).await.unwrap(),
            Some(dm_alice.clone())
        );
        assert_eq!(
            store.portal_by_key(&dm_carol.key).await.unwrap(),
            Some(dm_carol.clone())
        );

        let mut updated = shared.clone();
        updated.name = None;
        updated.topic = Some("Rust talk".into());
        updated.avatar = Some(OwnedMxcUri::from("mxc://example.org/logo"));
        updated.plumbed = true;
        // room and kind are not changed by an update
        updated.kind = PortalKind::Group;
        updated.room_id = room("!ignored:example.org");
        store.update_portal(&updated).await.unwrap();
        let stored = store.portal_by_key(&shared.key).await.unwrap().unwrap();
        assert_eq!(stored.name, None);
        assert_eq!(stored.topic.as_deref(), Some("Rust talk"));
        assert_eq!(stored.avatar, updated.avatar);
        assert!(stored.plumbed);
        assert_eq!(stored.kind, PortalKind::Channel);
        assert_eq!(stored.room_id, shared.room_id);

        assert_eq!(
            store.portals_of_receiver(&alice).await.unwrap(),
            vec![dm_alice.clone()]
        );
        assert_eq!(
            store
                .portals_of_receiver(&user("@nobody:example.org"))
                .await
                .unwrap(),
            vec![]
        );
        let all: Vec<_> = store
            .all_portals()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(
            all,
            vec![
                shared.key.clone(),
                shared_bob.key.clone(),
                dm_alice.key.clone(),
                dm_carol.key.clone(),
            ]
        );

        // A second login's DM with the same contact is another portal, listed with the
        // user's others; a user whose ID starts like Alice's does not get them.
        let mut dm_alice_2 = portal(
            PortalKey::private_of("bob", alice.clone(), LoginSlot::new(2).unwrap()),
            "!dm3:example.org",
        );
        dm_alice_2.kind = PortalKind::Dm;
        assert!(store.insert_portal(&dm_alice_2).await.unwrap());
        let mut dm_alice_long = portal(
            PortalKey::private("bob", user("@alice:example.org.uk")),
            "!dm4:example.org",
        );
        dm_alice_long.kind = PortalKind::Dm;
        assert!(store.insert_portal(&dm_alice_long).await.unwrap());
        assert_eq!(
            store.portal_by_key(&dm_alice_2.key).await.unwrap(),
            Some(dm_alice_2.clone())
        );
        assert_eq!(
            store.portals_of_receiver(&alice).await.unwrap(),
            vec![dm_alice.clone(), dm_alice_2.clone()]
        );
        store
            .insert_message(&message(&dm_alice_2.key, "m2", "$m2"))
            .await
            .unwrap();
        assert_eq!(
            store
                .message_by_remote(&dm_alice_2.key, &RemoteMessageId::new("m2"))
                .await
                .unwrap()
                .map(|m| m.portal),
            Some(dm_alice_2.key.clone())
        );
        assert_eq!(
            store
                .message_by_remote(&dm_alice.key, &RemoteMessageId::new("m2"))
                .await
                .unwrap(),
            None
        );
        store.delete_portal(&dm_alice_2.key).await.unwrap();
        store.delete_portal(&dm_alice_long.key).await.unwrap();

        // Deleting a portal frees its key and room and drops its message map.
        store
            .insert_message(&message(&dm_alice.key, "m1", "$m1"))
            .await
            .unwrap();
        store.delete_portal(&dm_alice.key).await.unwrap();
        assert_eq!(store.portal_by_key(&dm_alice.key).await.unwrap(), None);
        assert_eq!(store.message_by_event(&event("$m1")).await.unwrap(), None);
        assert!(store.insert_portal(&dm_alice).await.unwrap());
        assert_eq!(store.all_portals().await.unwrap().len(), 4);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_portal_inserts_have_one_winner() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                let row = portal(PortalKey::shared("#race"), &format!("!r{i}:example.org"));
                tokio::spawn(async move { (store.insert_portal(&row).await, row) })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (won, row) = task.await.unwrap();
            if won.unwrap() {
                winners.push(row);
            }
        }
        assert_eq!(winners.len(), 1);
        assert_eq!(
            store
                .portal_by_key(&PortalKey::shared("#race"))
                .await
                .unwrap(),
            Some(winners.remove(0))
        );

        // Same room for different chats: one winner too.
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                let row = portal(PortalKey::shared(format!("#c{i}")), "!same:example.org");
                tokio::spawn(async move { store.insert_portal(&row).await })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            won += usize::from(task.await.unwrap().unwrap());
        }
        assert_eq!(won, 1);
        assert_eq!(store.all_portals().await.unwrap().len(), 2);
    })
    .await;
}

fn message(portal: &PortalKey, remote: &str, event_id: &str) -> MessageRow {
    MessageRow {
        portal: portal.clone(),
        remote_id: RemoteMessageId::new(remote),
        event_id: event(event_id),
        room_id: room("!rust:example.org"),
        remote_sender: Some(RemoteUserId::new("bob")),
        sender: user("@irc_bob:example.org"),
        timestamp_ms: 1_700_000_000_123,
    }
}

#[tokio::test]
async fn message_map() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let shared = PortalKey::shared("#rust");
        let private = PortalKey::private("#rust", user("@alice:example.org"));
        let first = message(&shared, "42", "$ev42");
        let mut from_matrix = message(&shared, "43", "$ev43");
        from_matrix.remote_sender = None;
        from_matrix.sender = user("@alice:example.org");
        // Same remote ID in another portal is a different message.
        let other_portal = message(&private, "42", "$ev42b");

        for m in [&first, &from_matrix, &other_portal] {
            assert!(store.insert_message(m).await.unwrap());
        }
        // Duplicates: same portal + remote ID, or same event ID.
        assert!(
            !store
                .insert_message(&message(&shared, "42", "$new"))
                .await
                .unwrap()
        );
        assert!(
            !store
                .insert_message(&message(&shared, "99", "$ev43"))
                .await
                .unwrap()
        );
        assert_eq!(store.message_by_event(&event("$new")).await.unwrap(), None);

        assert_eq!(
            store
                .message_by_remote(&shared, &RemoteMessageId::new("42"))
                .await
                .unwrap(),
            Some(first.clone())
        );
        assert_eq!(
            store
                .message_by_remote(&private, &RemoteMessageId::new("42"))
                .await
                .unwrap(),
            Some(other_portal.clone())
        );
        assert_eq!(
            store.message_by_event(&event("$ev43")).await.unwrap(),
            Some(from_matrix.clone())
        );
        assert_eq!(
            store
                .message_by_remote(&shared, &RemoteMessageId::new("99"))
                .await
                .unwrap(),
            None
        );

        store
            .delete_message_by_event(&event("$ev42"))
            .await
            .unwrap();
        assert_eq!(store.message_by_event(&event("$ev42")).await.unwrap(), None);
        assert_eq!(
            store
                .message_by_remote(&shared, &RemoteMessageId::new("42"))
                .await
                .unwrap(),
            None
        );
        // The remote ID can be mapped again afterwards.
        assert!(store.insert_message(&first).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn corrupt_rows_are_errors_not_panics() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        sqlx::query(
            "INSERT INTO ghosts (remote_id, mxid, registered) VALUES ('x', 'not-a-user-id', $1)",
        )
        .bind(false)
        .execute(store.pool())
        .await
        .unwrap();
        let err = store
            .ghost_by_remote(&RemoteUserId::new("x"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");

        sqlx::query(
            "INSERT INTO portals (chat, receiver, room_id, kind, plumbed) \
             VALUES ('c', '', '!r:example.org', 'spaceship', $1)",
        )
        .bind(false)
        .execute(store.pool())
        .await
        .unwrap();
        let err = store
            .portal_by_key(&PortalKey::shared("c"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt(ref m) if m.contains("spaceship")),
            "{err}"
        );

        sqlx::query("INSERT INTO bridge_users (mxid, login_state) VALUES ('@u:x', '{oops')")
            .execute(store.pool())
            .await
            .unwrap();
        let err = store.get_user(&user("@u:x")).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    })
    .await;
}
