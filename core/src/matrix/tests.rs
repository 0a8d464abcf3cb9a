//! Request-level tests against the local homeserver fake: the retry policy end to end, and the
//! exact paths and bodies each method sends.

use std::time::Duration;

use axum::{body::Bytes, http::Method};
use ruma::{OwnedMxcUri, OwnedRoomId, event_id, owned_room_alias_id, owned_room_id, user_id};
use serde_json::{Value, json};

use super::test_fake::{fast_policy, start};
use super::*;
use crate::events::MessageContent;

fn room() -> OwnedRoomId {
    owned_room_id!("!room")
}

const SEND: &str = "/_matrix/client/v3/rooms/!room/send/m.room.message/*";

fn ok_event() -> (u16, Value) {
    (200, json!({"event_id": "$sent:hs"}))
}

async fn send_text(client: &MatrixClient) -> Result<ruma::OwnedEventId, MatrixError> {
    client
        .bot_intent()
        .send_message(&room(), &MessageContent::text("hi"), None, None)
        .await
}

#[tokio::test]
async fn retries_429_then_succeeds_with_same_txn() {
    let (fake, client) = start().await;
    fake.on(
        Method::PUT,
        SEND,
        vec![
            (
                429,
                json!({"errcode": "M_LIMIT_EXCEEDED", "error": "slow", "retry_after_ms": 30}),
            ),
            ok_event(),
        ],
    );
    let started = std::time::Instant::now();
    assert_eq!(send_text(&client).await.unwrap(), event_id!("$sent:hs"));
    assert!(started.elapsed() >= Duration::from_millis(30));
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].path, seen[1].path,
        "a retry must reuse the transaction ID"
    );
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(seen[0].auth.as_deref(), Some("Bearer as_secret"));
}

#[tokio::test]
async fn retries_500_then_succeeds() {
    let (fake, client) = start().await;
    fake.on(
        Method::PUT,
        SEND,
        vec![(500, Value::String("<html>oops</html>".into())), ok_event()],
    );
    assert!(send_text(&client).await.is_ok());
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn does_not_retry_400() {
    let (fake, client) = start().await;
    fake.on(
        Method::PUT,
        SEND,
        vec![
            (400, json!({"errcode": "M_BAD_JSON", "error": "bad"})),
            ok_event(),
        ],
    );
    let err = send_text(&client).await.unwrap_err();
    assert!(
        matches!(&err, MatrixError::Api { status: 400, errcode, error }
        if errcode == "M_BAD_JSON" && error == "bad")
    );
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let (fake, client) = start().await;
    fake.on(Method::PUT, SEND, vec![(503, Value::String("down".into()))]);
    let err = send_text(&client).await.unwrap_err();
    assert!(
        matches!(&err, MatrixError::Api { status: 503, errcode, error }
        if errcode == "M_UNKNOWN" && error == "down")
    );
    assert_eq!(fake.seen().len(), fast_policy().max_attempts as usize);
}

#[tokio::test]
async fn unreachable_homeserver_is_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = url::Url::parse(&format!("http://{addr}/")).unwrap();
    let client = MatrixClient::new(&url, "t", user_id!("@bot:hs").to_owned(), false)
        .unwrap()
        .with_retry_policy(fast_policy());
    let err = send_text(&client).await.unwrap_err();
    assert!(matches!(err, MatrixError::Transport(_)), "{err:?}");
}

#[test]
fn new_rejects_non_http_urls() {
    let url = url::Url::parse("mailto:x@y").unwrap();
    assert!(MatrixClient::new(&url, "t", user_id!("@bot:hs").to_owned(), false).is_err());
}

#[tokio::test]
async fn register_is_idempotent_and_cached() {
    let (fake, client) = start().await;
    fake.on(
        Method::POST,
        "/_matrix/client/v3/register",
        vec![
            (200, json!({"user_id": "@_irc_a:hs"})),
            (400, json!({"errcode": "M_USER_IN_USE", "error": "taken"})),
        ],
    );
    let a = client.as_user(user_id!("@_irc_a:hs"));
    a.ensure_registered().await.unwrap();
    a.ensure_registered().await.unwrap();
    let b = client.as_user(user_id!("@_irc_b:hs"));
    b.ensure_registered().await.unwrap();
    b.ensure_registered().await.unwrap();
    let seen = fake.seen_at("/_matrix/client/v3/register");
    assert_eq!(seen.len(), 2, "one request per user");
    assert_eq!(
        seen[0].json(),
        json!({"type": "m.login.application_service", "username": "_irc_a", "inhibit_login": true})
    );
    assert_eq!(seen[0].auth.as_deref(), Some("Bearer as_secret"));
    assert!(!seen[0].query.contains("user_id"));
}

#[tokio::test]
async fn register_other_errors_propagate() {
    let (fake, client) = start().await;
    fake.on(
        Method::POST,
        "/_matrix/client/v3/register",
        vec![(400, json!({"errcode": "M_EXCLUSIVE", "error": "not yours"}))],
    );
    let err = client
        .as_user(user_id!("@other:hs"))
        .ensure_registered()
        .await
        .unwrap_err();
    assert_eq!(err.errcode(), Some("M_EXCLUSIVE"));
}

#[tokio::test]
async fn profile_requests_assert_the_ghost() {
    let (fake, client) = start().await;
    fake.on(
        Method::PUT,
        "/_matrix/client/v3/profile/@_irc_a:hs/displayname",
        vec![(200, json!({}))],
    );
    fake.on(
        Method::PUT,
        "/_matrix/client/v3/profile/@_irc_a:hs/avatar_url",
        vec![(200, json!({}))],
    );
    let ghost = client.as_user(user_id!("@_irc_a:hs"));
    ghost.set_displayname("Alice (IRC)").await.unwrap();
    let mxc = OwnedMxcUri::from("mxc://hs/av");
    ghost.set_avatar(Some(&mxc)).await.unwrap();
    ghost.set_avatar(None).await.unwrap();
    let seen = fake.seen();
    assert_eq!(seen[0].json(), json!({"displayname": "Alice (IRC)"}));
    assert_eq!(seen[0].query, "user_id=@_irc_a:hs");
    assert_eq!(seen[1].json(), json!({"avatar_url": "mxc://hs/av"}));
    assert_eq!(seen[2].json(), json!({"avatar_url": ""}));
}

#[tokio::test]
async fn send_message_body_and_relations() {
    let (fake, client) = start().await;
    fake.on(Method::PUT, SEND, vec![ok_event()]);
    let ghost = client.as_user(user_id!("@_irc_a:hs"));
    let orig = event_id!("$orig:hs").to_owned();
    ghost
        .send_message(&room(), &MessageContent::emote("waves"), Some(&orig), None)
        .await
        .unwrap();
    ghost
        .send_message(&room(), &MessageContent::text("fixed"), None, Some(&orig))
        .await
        .unwrap();
    let seen = fake.seen();
    assert_eq!(seen[0].method, Method::PUT);
    assert_eq!(seen[0].query, "user_id=@_irc_a:hs");
    assert_ne!(seen[0].path, seen[1].path, "fresh transaction IDs");
    let first = seen[0].json();
    assert_eq!(first["msgtype"], "m.emote");
    assert_eq!(
        first["m.relates_to"]["m.in_reply_to"]["event_id"],
        "$orig:hs"
    );
    let second = seen[1].json();
    assert_eq!(second["m.relates_to"]["rel_type"], "m.replace");
    assert_eq!(second["m.new_content"]["body"], "fixed");
}

#[tokio::test]
async fn react_redact_typing_receipt() {
    let (fake, client) = start().await;
    let ev = event_id!("$e:hs").to_owned();
    fake.on(
        Method::PUT,
        "/_matrix/client/v3/rooms/!room/send/m.reaction/*",
        vec![ok_event()],
    );
    fake.on(
        Method::PUT,
        "/_matrix/client/v3/rooms/!room/redact/$e:hs/*",
        vec![ok_event()],
    );
    fake.on(
        Method::PUT,
        "/_matrix/client/v3/rooms/!room/typing/@_irc_a:hs",
        vec![(200, json!({}))],
    );
    fake.on(
        Method::POST,
        "/_matrix/client/v3/rooms/!room/receipt/m.read/$e:hs",
        vec![(200, json!({}))],
    );
    let g = client.as_user(user_id!("@_irc_a:hs"));
    g.react(&room(), &ev, "👍").await.unwrap();
    g.redact(&room(), &ev, Some("spam")).await.unwrap();
    g.typing(&room(), true).await.unwrap();
    g.typing(&room(), false).await.unwrap();
    g.read_receipt(&room(), &ev).await.unwrap();
    let seen = fake.seen();
    assert_eq!(
        seen[0].json(),
        json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": "$e:hs", "key": "👍"}})
    );
    assert_eq!(seen[1].json(), json!({"reason": "spam"}));
    assert_eq!(seen[2].json(), json!({"typing": true, "timeout": 30000}));
    assert_eq!(seen[3].json(), json!({"typing": false}));
    assert_eq!(seen[4].json(), json!({}));
}

#[tokio::test]
async fn state_get_and_set() {
    let (fake, client) = start().await;
    fake.on(
        Method::GET,
        "/_matrix/client/v3/rooms/!room/state/m.room.topic/",
        vec![(200, json!({"topic": "hello"}))],
    );
    fake.on(
        Method::GET,
        "/_matrix/client/v3/rooms/!room/state/m.bridge/k",
        vec![(404, json!({"errcode": "M_NOT_FOUND", "error": "no"}))],
    );
    fake.on(
        Method::PUT,
        "/_matrix/client/v3/rooms/!room/state/m.bridge/k",
        vec![ok_event()],
    );
    let bot = client.bot_intent();
    assert_eq!(
        bot.get_state(&room(), "m.room.topic", "").await.unwrap(),
        Some(json!({"topic": "hello"}))
    );
    assert_eq!(bot.get_state(&room(), "m.bridge", "k").await.unwrap(), None);
    bot.send_state(&room(), "m.bridge", "k", &json!({"x": 1}))
        .await
        .unwrap();
    let put = fake.seen().pop().unwrap();
    assert_eq!(put.json(), json!({"x": 1}));
    assert!(!put.query.contains("user_id"), "the bot needs no assertion");
}

#[tokio::test]
async fn membership_requests() {
    let (fake, client) = start().await;
    for action in ["join", "leave", "invite", "kick", "ban"] {
        fake.on(
            Method::POST,
            &format!("/_matrix/client/v3/rooms/!room/{action}"),
            vec![(200, json!({"room_id": "!room"}))],
        );
    }
    fake.on(
        Method::GET,
        "/_matrix/client/v3/rooms/!room/joined_members",
        vec![(
            200,
            json!({"joined": {"@a:hs": {}, "@b:hs": {"display_name": "B"}}}),
        )],
    );
    let g = client.as_user(user_id!("@_irc_a:hs"));
    let u = user_id!("@u:hs");
    g.join(&room()).await.unwrap();
    g.leave(&room(), Some("bye")).await.unwrap();
    g.invite(&room(), u).await.unwrap();
    g.kick(&room(), u, None).await.unwrap();
    g.ban(&room(), u, Some("flood")).await.unwrap();
    let mut members = g.joined_members(&room()).await.unwrap();
    members.sort();
    assert_eq!(
        members,
        vec![user_id!("@a:hs").to_owned(), user_id!("@b:hs").to_owned()]
    );
    let seen = fake.seen();
    assert_eq!(seen[0].json(), json!({}));
    assert_eq!(seen[1].json(), json!({"reason": "bye"}));
    assert_eq!(seen[2].json(), json!({"user_id": "@u:hs"}));
    assert_eq!(seen[3].json(), json!({"user_id": "@u:hs"}));
    assert_eq!(
        seen[4].json(),
        json!({"user_id": "@u:hs", "reason": "flood"})
    );
    assert!(seen.iter().all(|s| s.query == "user_id=@_irc_a:hs"));
}

#[tokio::test]
async fn create_room_uses_capabilities_once() {
    let (fake, client) = start().await;
    fake.on(
        Method::GET,
        "/_matrix/client/v3/capabilities",
        vec![(200, json!({"capabilities": {"m.room_versions": {"default": "12", "available": {"12": "stable"}}}}))],
    );
    fake.on(
        Method::POST,
        "/_matrix/client/v3/createRoom",
        vec![(200, json!({"room_id": "!new"}))],
    );
    let req = CreateRoom {
        name: Some("#chan".into()),
        power_users: vec![
            (user_id!("@bot:hs").to_owned(), 100),
            (user_id!("@op:hs").to_owned(), 50),
        ],
        ..CreateRoom::default()
    };
    let bot = client.bot_intent();
    assert_eq!(bot.create_room(&req).await.unwrap(), owned_room_id!("!new"));
    bot.create_room(&req).await.unwrap();
    assert_eq!(fake.seen_at("/_matrix/client/v3/capabilities").len(), 1);
    let body = fake.seen_at("/_matrix/client/v3/createRoom")[0].json();
    assert_eq!(body["preset"], "private_chat");
    assert_eq!(
        body["power_level_content_override"],
        json!({"users": {"@op:hs": 50}})
    );
}

#[tokio::test]
async fn power_levels_read_and_write() {
    let (fake, client) = start().await;
    let pl = "/_matrix/client/v3/rooms/!room/state/m.room.power_levels/";
    fake.on(
        Method::GET,
        pl,
        vec![(
            200,
            json!({"users": {"@a:hs": 50}, "users_default": 0, "ban": 50}),
        )],
    );
    fake.on(Method::PUT, pl, vec![ok_event()]);
    fake.on(
        Method::GET,
        "/_matrix/client/v3/rooms/!room/state/m.room.create/",
        vec![(
            200,
            json!({"type": "m.room.create", "sender": "@bot:hs", "state_key": "",
            "content": {"room_version": "12"}}),
        )],
    );
    let bot = client.bot_intent();
    assert_eq!(
        bot.power_level(&room(), user_id!("@a:hs")).await.unwrap(),
        50
    );
    assert_eq!(
        bot.power_level(&room(), user_id!("@z:hs")).await.unwrap(),
        0
    );
    assert_eq!(
        bot.power_level(&room(), user_id!("@bot:hs")).await.unwrap(),
        CREATOR_POWER_LEVEL
    );
    let create = fake.seen_at("/_matrix/client/v3/rooms/!room/state/m.room.create/");
    assert!(create[0].query.contains("format=event"));

    bot.set_power_level(&room(), user_id!("@z:hs"), 100)
        .await
        .unwrap();
    let put = fake
        .seen()
        .into_iter()
        .rfind(|s| s.method == Method::PUT)
        .unwrap();
    assert_eq!(
        put.json(),
        json!({"users": {"@a:hs": 50, "@z:hs": 100}, "users_default": 0, "ban": 50})
    );

    let puts_before = fake
        .seen()
        .iter()
        .filter(|s| s.method == Method::PUT)
        .count();
    bot.set_power_level(&room(), user_id!("@a:hs"), 50)
        .await
        .unwrap();
    bot.set_power_level(&room(), user_id!("@bot:hs"), 10)
        .await
        .unwrap();
    let puts_after = fake
        .seen()
        .iter()
        .filter(|s| s.method == Method::PUT)
        .count();
    assert_eq!(puts_before, puts_after, "no-ops send nothing");
}

#[tokio::test]
async fn media_upload_download_fallback() {
    let (fake, client) = start().await;
    fake.on(
        Method::POST,
        "/_matrix/media/v3/upload",
        vec![(200, json!({"content_uri": "mxc://hs/up"}))],
    );
    let mxc = client
        .upload(Bytes::from_static(b"PNGDATA"), "image/png", Some("cat.png"))
        .await
        .unwrap();
    assert_eq!(mxc.as_str(), "mxc://hs/up");
    let up = fake.seen_at("/_matrix/media/v3/upload").pop().unwrap();
    assert_eq!(up.content_type.as_deref(), Some("image/png"));
    assert_eq!(up.query, "filename=cat.png");
    assert_eq!(&up.body[..], b"PNGDATA");

    // The fake knows no v1 endpoint (404 M_UNRECOGNIZED): fall back, and remember it.
    fake.on(
        Method::GET,
        "/_matrix/media/v3/download/hs/up",
        vec![(200, Value::String("bytes".into()))],
    );
    let (data, _) = client.download(&mxc, 1000).await.unwrap();
    assert_eq!(&data[..], b"bytes");
    client.download(&mxc, 1000).await.unwrap();
    assert_eq!(
        fake.seen_at("/_matrix/client/v1/media/download/hs/up")
            .len(),
        1
    );
    assert_eq!(fake.seen_at("/_matrix/media/v3/download/hs/up").len(), 2);

    assert!(
        client
            .download(&OwnedMxcUri::from("https://x/y"), 1000)
            .await
            .is_err()
    );
    let url = client.public_media_url(&mxc);
    assert!(url.starts_with("http://127.0.0.1:"));
    assert!(url.ends_with("/_matrix/media/v3/download/hs/up"));
}

#[tokio::test]
async fn authenticated_download_when_supported() {
    let (fake, client) = start().await;
    fake.on(
        Method::GET,
        "/_matrix/client/v1/media/download/hs/m",
        vec![(200, Value::String("secret".into()))],
    );
    let (data, ct) = client
        .download(&OwnedMxcUri::from("mxc://hs/m"), 1000)
        .await
        .unwrap();
    assert_eq!(&data[..], b"secret");
    assert!(ct.unwrap().starts_with("text/plain"));
    assert_eq!(fake.seen().len(), 1);
    assert_eq!(fake.seen()[0].auth.as_deref(), Some("Bearer as_secret"));
}

#[tokio::test]
async fn downloads_over_the_cap_are_refused() {
    let (fake, client) = start().await;
    fake.on(
        Method::GET,
        "/_matrix/client/v1/media/download/hs/big",
        vec![(200, Value::String("x".repeat(2000)))],
    );
    let err = client
        .download(&OwnedMxcUri::from("mxc://hs/big"), 1000)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MatrixError::TooLarge(crate::media_cap::TooLarge {
                size: Some(2000),
                limit: 1000
            })
        ),
        "{err}"
    );
    // Without a Content-Length the count while reading stops it.
    let download = client
        .download_stream(&OwnedMxcUri::from("mxc://hs/big"))
        .await
        .unwrap();
    assert_eq!(download.content_length, Some(2000));
    let chunks: Vec<_> =
        futures::StreamExt::collect(download.into_stream(crate::media_cap::MediaCap::new(1000)))
            .await;
    assert!(matches!(chunks.last(), Some(Err(MatrixError::TooLarge(_)))));
}

#[tokio::test]
async fn resolve_alias_found_and_missing() {
    let (fake, client) = start().await;
    fake.on(
        Method::GET,
        "/_matrix/client/v3/directory/room/#_irc_#test:hs",
        vec![(200, json!({"room_id": "!r", "servers": ["hs"]}))],
    );
    fake.on(
        Method::GET,
        "/_matrix/client/v3/directory/room/#nope:hs",
        vec![(404, json!({"errcode": "M_NOT_FOUND", "error": "no"}))],
    );
    assert_eq!(
        client
            .resolve_alias(&owned_room_alias_id!("#_irc_#test:hs"))
            .await
            .unwrap(),
        Some(owned_room_id!("!r"))
    );
    assert_eq!(
        client
            .resolve_alias(&owned_room_alias_id!("#nope:hs"))
            .await
            .unwrap(),
        None
    );
}

#[test]
fn public_media_url_with_path_prefix() {
    let url = url::Url::parse("https://example.org/matrix").unwrap();
    let client = MatrixClient::new(&url, "t", user_id!("@bot:hs").to_owned(), false).unwrap();
    assert_eq!(
        client.public_media_url(&OwnedMxcUri::from("mxc://hs/Ab-_1")),
        "https://example.org/matrix/_matrix/media/v3/download/hs/Ab-_1"
    );
    assert_eq!(
        client.public_media_url(&OwnedMxcUri::from("garbage")),
        "garbage"
    );
}
