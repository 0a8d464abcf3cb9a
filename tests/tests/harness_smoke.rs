//! Proves the harness: a real Synapse, two registered users, a DM invite, a join and a message.

use std::time::Duration;

use ferrybridge_tests::{Synapse, TestUser, register_user, text_body};

const T: Duration = Duration::from_secs(20);

const REGISTRATION: &str = r#"
id: smoke
url: null
as_token: smoke_as_token_0123456789
hs_token: smoke_hs_token_0123456789
sender_localpart: smokebot
rate_limited: false
namespaces:
  users: [{exclusive: true, regex: "@_smoke_.*"}]
"#;

#[tokio::test]
async fn dm_invite_join_and_message() {
    // Synapse loads an appservice registration (url: null = the AS receives no transactions).
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("registration.yaml");
    std::fs::write(&reg, REGISTRATION).unwrap();
    let synapse = Synapse::start(&[reg]).await.unwrap();
    let bot_id = "@smokebot:localhost".try_into().unwrap();
    let bot = TestUser::appservice(&synapse, "smoke_as_token_0123456789", bot_id).unwrap();
    assert_eq!(bot.whoami().await.unwrap().as_str(), "@smokebot:localhost");
    let ghost = TestUser::appservice_register(&synapse, "smoke_as_token_0123456789", "_smoke_g")
        .await
        .unwrap();
    assert_eq!(
        ghost.whoami().await.unwrap().as_str(),
        "@_smoke_g:localhost"
    );

    let alice = register_user(&synapse, "alice", true).await.unwrap();
    let bob = register_user(&synapse, "bob", false).await.unwrap();
    assert_eq!(alice.user_id.as_str(), "@alice:localhost");

    let room = alice.create_dm(&bob.user_id).await.unwrap();
    let invited = bob.wait_for_invite(T).await.unwrap();
    assert_eq!(invited, room);
    assert_eq!(bob.join(room.as_str()).await.unwrap(), room);

    let sent = alice.send_text(&room, "hello bob").await.unwrap();
    let got = bob
        .wait_for(&room, T, |e| text_body(e) == Some("hello bob"))
        .await
        .unwrap();
    assert_eq!(got["event_id"], sent.as_str());
    assert_eq!(got["sender"], alice.user_id.as_str());

    let mut members = alice.joined_members(&room).await.unwrap();
    members.sort();
    assert_eq!(members, vec![alice.user_id.clone(), bob.user_id.clone()]);
    let history = bob.messages(&room, 5).await.unwrap();
    assert_eq!(text_body(&history[0]), Some("hello bob"));

    // A timeout lists what arrived, so failures are diagnosable.
    let err = bob
        .wait_for(&room, Duration::from_millis(300), |e| {
            text_body(e) == Some("never")
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("m.room.message"), "{err}");
}

#[tokio::test]
async fn shared_synapse_serves_several_tests() {
    let synapse = Synapse::shared().await.unwrap();
    let carol = register_user(synapse, "carol", false).await.unwrap();
    let room = carol
        .create_room(serde_json::json!({"room_alias_name": "smoke"}))
        .await
        .unwrap();
    assert_eq!(carol.resolve_alias("#smoke:localhost").await.unwrap(), room);
    carol.set_displayname("Carol").await.unwrap();
    let ev = carol.send_text(&room, "to be redacted").await.unwrap();
    carol.redact(&room, &ev, Some("test")).await.unwrap();
    let name = carol
        .get_state(&room, "m.room.member", carol.user_id.as_str())
        .await
        .unwrap();
    assert_eq!(name["displayname"], "Carol");
    assert!(carol.joined_rooms().await.unwrap().contains(&room));
    carol.leave(&room).await.unwrap();
}
