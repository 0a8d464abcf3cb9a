//! Shared pieces of the Telegram bridge's end-to-end tests: a bridge on the fake network
//! against a real Synapse, the bot DM, commands, the login dialogue, ghosts, invites and
//! messages injected or sent.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use ferrybridge_telegram::fake::{FakeFactory, FakeWorld, Sent};
use ferrybridge_telegram::network::{ChatRef, TgChat, TgMessage, TgUser};
use ferrybridge_telegram::{TelegramBridge, TelegramConfig};
use ferrybridge_tests::{BridgeEnv, Builder, TestUser, text_body, wait_until};
use ruma::{OwnedRoomId, RoomId};
use serde_json::Value;

pub const T: Duration = Duration::from_secs(30);
pub const PHONE: &str = "+4412345678";
pub const ME: i64 = 1000;
pub const BOB: i64 = 2000;
pub const CAROL: i64 = 3000;
pub const GROUP: i64 = 500;

pub const YAML: &str =
    "  api_id: 12345\n  api_hash: 0123456789abcdef0123456789abcdef\n  connect_timeout_secs: 5\n";

pub fn config() -> TelegramConfig {
    TelegramConfig {
        api_id: Some(12345),
        api_hash: Some("0123456789abcdef0123456789abcdef".into()),
        connect_timeout_secs: 5,
        ..Default::default()
    }
}

pub fn user(id: i64, first: &str, phone: &str, username: &str) -> TgUser {
    TgUser {
        id,
        first_name: first.into(),
        last_name: None,
        username: Some(username.into()),
        phone: Some(phone.into()),
        photo: None,
    }
}

/// A fake Telegram with our account (code 12345), Bob, Carol and a group with all three.
pub fn world() -> FakeWorld {
    let w = FakeWorld::new();
    let me = user(ME, "Alice", "4412345678", "alice_tg");
    w.add_account(PHONE, me.clone(), "12345", None);
    let bob = user(BOB, "Bob", "+4400000002", "bob_tg");
    let carol = user(CAROL, "Carol", "+4400000003", "carol_tg");
    w.add_user(bob.clone());
    w.add_user(carol.clone());
    w.add_chat(TgChat {
        chat: ChatRef::group(GROUP),
        title: "Book club".into(),
        about: Some("We read".into()),
        photo: None,
        members: vec![me, bob, carol],
        last_message_at: None,
    });
    w
}

/// Builds the bridge on the fake network (for `BridgeEnv::start` and `env.run`).
pub fn bridge(world: &FakeWorld) -> impl Builder<TelegramBridge> {
    let world = world.clone();
    move |_, host| {
        Ok(TelegramBridge::with_factory(
            config(),
            Arc::new(FakeFactory { world }),
            host,
        ))
    }
}

pub async fn env(world: &FakeWorld) -> Result<BridgeEnv<TelegramBridge>> {
    BridgeEnv::start(YAML, None, bridge(world)).await
}

/// As [`env`], with `tune` changing the config first (encryption, limits, ...).
#[allow(dead_code)]
pub async fn env_tuned(
    world: &FakeWorld,
    tune: impl FnOnce(&mut ferrybridge_core::config::Config<TelegramConfig>),
) -> Result<BridgeEnv<TelegramBridge>> {
    BridgeEnv::start_tuned(YAML, None, tune, bridge(world)).await
}

pub fn sender(ev: &Value) -> &str {
    ev["sender"].as_str().unwrap_or_default()
}

pub async fn wait_notice(user: &TestUser, room: &RoomId, needle: &str) -> Result<String> {
    let ev = user
        .wait_for(room, T, |ev| is_notice_containing(ev, needle))
        .await?;
    Ok(text_body(&ev).unwrap_or_default().to_owned())
}

/// The whole happy-path login dialogue.
pub async fn login(user: &TestUser, dm: &RoomId) -> Result<()> {
    user.send_text(dm, "login").await?;
    wait_notice(user, dm, "phone number").await?;
    user.send_text(dm, PHONE).await?;
    wait_notice(user, dm, "login code").await?;
    user.send_text(dm, "12345").await?;
    wait_notice(user, dm, "Successfully logged in as Alice (+4412345678)").await?;
    Ok(())
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The Matrix ID of a Telegram user's ghost.
pub fn ghost(
    env: &ferrybridge_tests::BridgeEnv<ferrybridge_telegram::TelegramBridge>,
    id: i64,
) -> String {
    format!("@_telegram_{id}:{}", env.synapse.server_name())
}

/// A plain text message from `from` in `chat`.
pub fn incoming(id: i32, chat: ChatRef, from: TgUser, text: &str) -> TgMessage {
    TgMessage {
        id,
        chat,
        sender: from,
        outgoing: false,
        text: text.into(),
        entities: vec![],
        reply_to: None,
        media: None,
        content: None,
        date: now(),
    }
}

/// Bob, as Telegram describes him.
pub fn bob() -> TgUser {
    user(BOB, "Bob", "+4400000002", "bob_tg")
}

/// Alice logged in through her bot DM, with the portal of her private chat with Bob open:
/// (Alice, the bot DM, Bob's portal).
pub async fn alice_with_bob(
    env: &BridgeEnv<TelegramBridge>,
) -> Result<(TestUser, OwnedRoomId, OwnedRoomId)> {
    let alice = env.user("alice").await?;
    let dm = ferrybridge_tests::bot_chat::bot_dm(env, &alice).await?;
    login(&alice, &dm).await?;
    ferrybridge_tests::bot_chat::command(&alice, &dm, "pm @bob_tg").await?;
    let room = accept(&alice).await?;
    Ok((alice, dm, room))
}

/// Waits for the next invite and joins the room.
pub async fn accept(user: &TestUser) -> Result<OwnedRoomId> {
    let room = user.wait_for_invite(T).await?;
    user.join(room.as_str()).await?;
    Ok(room)
}

/// Waits for a message with this body in the room.
pub async fn wait_text(user: &TestUser, room: &RoomId, body: &str) -> Result<Value> {
    user.wait_for(room, T, |ev| {
        ev["type"] == "m.room.message" && text_body(ev) == Some(body)
    })
    .await
}

/// Waits until our account has sent something on Telegram matching `pred`.
pub async fn wait_sent(
    world: &ferrybridge_telegram::fake::FakeWorld,
    pred: impl Fn(&Sent) -> bool,
) -> Result<Sent> {
    wait_until(T, || async { world.sent(ME).iter().any(&pred) }).await?;
    Ok(world
        .sent(ME)
        .into_iter()
        .find(|s| pred(s))
        .expect("just seen"))
}

#[allow(unused_imports)]
pub use ferrybridge_tests::bot_chat::{bot_dm, command, is_notice_containing, replies_to};
