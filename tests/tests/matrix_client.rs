//! Every Matrix client method once, against a real Synapse: registration, profiles, media,
//! rooms (public, DM, alias, avatar, `m.bridge`, power levels), state, messages with replies and
//! edits, reactions, typing, receipts, redactions, kicks, bans and leaves.

use bytes::Bytes;
use ferrybridge_core::events::MessageContent;
use ferrybridge_core::matrix::*;
use ferrybridge_registration::Registration;
use ferrybridge_tests::Synapse;
use ruma::{OwnedRoomAliasId, OwnedUserId};
use serde_json::json;

#[tokio::test]
async fn every_client_method_against_synapse() {
    let dir = tempfile::tempdir().unwrap();
    let token = ferrybridge_registration::generate_token();
    let registration = Registration::new(
        "smoke",
        "http://127.0.0.1:9",
        token.clone(),
        ferrybridge_registration::generate_token(),
        "bridgebot",
        vec![
            "^@bridgebot:localhost$".into(),
            "^@_irc_.*:localhost$".into(),
        ],
        vec!["^#_irc_.*:localhost$".into()],
    )
    .unwrap();
    let path = dir.path().join("registration.yaml");
    std::fs::write(&path, registration.to_yaml().unwrap()).unwrap();
    let synapse = Synapse::start(&[path]).await.unwrap();
    let hs = url::Url::parse(&synapse.base_url()).unwrap();
    let bot: OwnedUserId = "@bridgebot:localhost".try_into().unwrap();
    let server = bot.server_name().to_owned();
    let client = MatrixClient::new(&hs, &token, bot.clone(), true).unwrap();
    let suffix = std::process::id();

    let b = client.bot_intent();
    b.ensure_registered().await.unwrap();
    let a_id: OwnedUserId = format!("@_irc_a{suffix}:{server}").try_into().unwrap();
    let a = client.as_user(&a_id);
    a.ensure_registered().await.unwrap();
    a.ensure_registered().await.unwrap();
    a.set_displayname("Alice (IRC)").await.unwrap();
    let png = Bytes::from_static(b"\x89PNG\r\n\x1a\nnot really");
    let mxc = client
        .upload(png.clone(), "image/png", Some("a.png"))
        .await
        .unwrap();
    a.set_avatar(Some(&mxc)).await.unwrap();
    a.set_avatar(None).await.unwrap();
    let (data, ct) = client.download(&mxc, 1 << 20).await.unwrap();
    assert_eq!(data, png);
    let too_small = client.download(&mxc, 4).await.unwrap_err();
    assert!(matches!(too_small, MatrixError::TooLarge(_)), "{too_small}");
    assert_eq!(ct.as_deref(), Some("image/png"));

    let alias_local = format!("_irc_#smoke{suffix}");
    let room = b
        .create_room(&CreateRoom {
            name: Some("#smoke".into()),
            topic: Some("smoke test".into()),
            avatar: Some(mxc.clone()),
            alias_localpart: Some(alias_local.clone()),
            invite: vec![a_id.clone()],
            public: true,
            power_users: vec![(bot.clone(), 100), (a_id.clone(), 50)],
            initial_state: vec![(
                "m.bridge".into(),
                "irc".into(),
                json!({"protocol": {"id": "irc"}}),
            )],
            ..CreateRoom::default()
        })
        .await
        .unwrap();
    a.join(&room).await.unwrap();
    a.join(&room).await.unwrap();
    let alias: OwnedRoomAliasId = format!("#{alias_local}:{server}").try_into().unwrap();
    assert_eq!(
        client.resolve_alias(&alias).await.unwrap(),
        Some(room.clone())
    );
    let missing: OwnedRoomAliasId = format!("#nothing{suffix}:{server}").try_into().unwrap();
    assert_eq!(client.resolve_alias(&missing).await.unwrap(), None);

    assert_eq!(
        b.power_level(&room, &bot).await.unwrap(),
        CREATOR_POWER_LEVEL
    );
    assert_eq!(b.power_level(&room, &a_id).await.unwrap(), 50);
    b.set_power_level(&room, &a_id, 75).await.unwrap();
    assert_eq!(b.power_level(&room, &a_id).await.unwrap(), 75);
    b.set_power_level(&room, &bot, 100).await.unwrap();

    let mut members = b.joined_members(&room).await.unwrap();
    members.sort();
    assert!(members.contains(&a_id) && members.contains(&bot));
    let topic = b
        .get_state(&room, "m.room.topic", "")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(topic["topic"], "smoke test");
    assert!(
        b.get_state(&room, "m.bridge", "irc")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(b.get_state(&room, "m.bridge", "nope").await.unwrap(), None);
    b.send_state(&room, "m.bridge", "other", &json!({"x": 1}))
        .await
        .unwrap();

    let first = a
        .send_message(
            &room,
            &MessageContent::text("hello").with_html("<b>hello</b>"),
            None,
            None,
        )
        .await
        .unwrap();
    let reply = a
        .send_message(&room, &MessageContent::notice("reply"), Some(&first), None)
        .await
        .unwrap();
    a.send_message(&room, &MessageContent::text("hello!"), None, Some(&first))
        .await
        .unwrap();
    let mut image = MessageContent::text("");
    image.kind = ferrybridge_core::events::MessageKind::Image;
    image.media = Some(ferrybridge_core::events::Media {
        mxc: Some(mxc.clone()),
        url: None,
        filename: "a.png".into(),
        mimetype: Some("image/png".into()),
        size: Some(png.len() as u64),
        data: None,
    });
    a.send_message(&room, &image, None, None).await.unwrap();
    b.react(&room, &reply, "👍").await.unwrap();
    a.typing(&room, true).await.unwrap();
    a.typing(&room, false).await.unwrap();
    b.read_receipt(&room, &reply).await.unwrap();
    b.redact(&room, &reply, Some("smoke")).await.unwrap();

    let dm = a
        .create_room(&CreateRoom {
            invite: vec![bot.clone()],
            is_direct: true,
            power_users: vec![(a_id.clone(), 100), (bot.clone(), 100)],
            ..CreateRoom::default()
        })
        .await
        .unwrap();
    b.join(&dm).await.unwrap();
    assert_eq!(a.power_level(&dm, &bot).await.unwrap(), CREATOR_POWER_LEVEL);

    b.kick(&room, &a_id, Some("smoke kick")).await.unwrap();
    b.ban(&room, &a_id, Some("smoke ban")).await.unwrap();
    b.leave(&dm, None).await.unwrap();
    let err = a.join(&room).await.unwrap_err();
    assert!(matches!(err, MatrixError::Api { status: 403, .. }), "{err}");
}
