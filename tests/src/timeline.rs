//! A room's messages as backfill tests check them: bodies with a prefix, oldest first, with
//! their timestamps (`origin_server_ts`, which backfill sets to the remote time).

use std::time::Duration;

use anyhow::Result;
use ruma::RoomId;
use serde_json::Value;

use crate::{TestUser, text_body, wait_until};

/// How long [`wait_texts`] waits.
const WAIT: Duration = Duration::from_secs(30);

/// The bodies of `room`'s last 200 messages starting with `prefix`, oldest first, with their
/// timestamps.
pub async fn texts(user: &TestUser, room: &RoomId, prefix: &str) -> Result<Vec<(String, u64)>> {
    let mut found: Vec<(String, u64)> = user
        .messages(room, 200)
        .await?
        .iter()
        .filter_map(|ev: &Value| {
            let body = text_body(ev)?.to_owned();
            let ts = ev["origin_server_ts"].as_u64()?;
            body.starts_with(prefix).then_some((body, ts))
        })
        .collect();
    found.reverse();
    Ok(found)
}

/// Waits until `room` shows `want` messages starting with `prefix` (or 30 s pass), then
/// returns them as [`texts`] does.
pub async fn wait_texts(
    user: &TestUser,
    room: &RoomId,
    prefix: &str,
    want: usize,
) -> Result<Vec<(String, u64)>> {
    let _ = wait_until(WAIT, || async {
        texts(user, room, prefix)
            .await
            .is_ok_and(|h| h.len() >= want)
    })
    .await;
    texts(user, room, prefix).await
}

/// Just the bodies.
pub fn bodies(h: &[(String, u64)]) -> Vec<&str> {
    h.iter().map(|(b, _)| b.as_str()).collect()
}
