//! Talking to a bridge bot from a test user: the DM with the bot, commands and their replies,
//! and matchers for notices. One copy for every bridge's end-to-end tests.

use std::time::Duration;

use anyhow::Result;
use ferrybridge_core::bridge::Bridge;
use ruma::{OwnedEventId, OwnedRoomId, RoomId};
use serde_json::Value;

use crate::{BridgeEnv, TestUser, text_body};

/// How long a test waits for the bot.
pub const BOT_TIMEOUT: Duration = Duration::from_secs(30);

/// The sender of an event.
pub fn sender(ev: &Value) -> &str {
    ev["sender"].as_str().unwrap_or_default()
}

/// Whether `ev` is an `m.notice` whose body contains `needle`.
pub fn is_notice_containing(ev: &Value, needle: &str) -> bool {
    ev["type"] == "m.room.message"
        && ev["content"]["msgtype"] == "m.notice"
        && text_body(ev).is_some_and(|b| b.contains(needle))
}

/// Whether `ev` replies to `event`.
pub fn replies_to(ev: &Value, event: &OwnedEventId) -> bool {
    ev["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event.as_str()
}

/// Opens a DM with the bot and waits for its greeting.
pub async fn bot_dm<B: Bridge>(env: &BridgeEnv<B>, user: &TestUser) -> Result<OwnedRoomId> {
    let dm = user.create_dm(&env.bot()).await?;
    user.wait_for(&dm, BOT_TIMEOUT, |ev| is_notice_containing(ev, "help"))
        .await?;
    Ok(dm)
}

/// Sends a command and returns the body of the bot's notice replying to it.
pub async fn command(user: &TestUser, room: &RoomId, text: &str) -> Result<String> {
    let id = user.send_text(room, text).await?;
    let ev = user
        .wait_for(room, BOT_TIMEOUT, |ev| {
            ev["content"]["msgtype"] == "m.notice" && replies_to(ev, &id)
        })
        .await?;
    Ok(text_body(&ev).unwrap_or_default().to_owned())
}
