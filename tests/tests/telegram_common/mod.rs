//! Shared pieces of the Telegram bridge's end-to-end tests: a bridge on the fake network
//! against a real Synapse, the bot DM, commands and the login dialogue.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use ferrybridge_telegram::fake::{FakeFactory, FakeWorld};
use ferrybridge_telegram::network::{ChatRef, TgChat, TgUser};
use ferrybridge_telegram::{TelegramBridge, TelegramConfig};
use ferrybridge_tests::{BridgeEnv, TestUser, text_body};
use ruma::RoomId;
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

pub fn bridge(world: &FakeWorld) -> Arc<TelegramBridge> {
    Arc::new(TelegramBridge::with_factory(
        config(),
        Arc::new(FakeFactory {
            world: world.clone(),
        }),
    ))
}

pub async fn env(world: &FakeWorld) -> Result<BridgeEnv<TelegramBridge>> {
    BridgeEnv::start(YAML, None, bridge(world)).await
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

#[allow(unused_imports)]
pub use ferrybridge_tests::bot_chat::{bot_dm, command, is_notice_containing, replies_to};
