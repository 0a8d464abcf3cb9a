//! A room's whole timeline through `/messages`, for tests that check thousands of messages
//! (a /sync timeline is capped and gappy; the history is not).

use anyhow::Result;
use reqwest::Method;
use ruma::RoomId;
use serde_json::{Value, json};

use super::TestUser;

/// Events per `/messages` page.
const PAGE: u32 = 1000;

impl TestUser {
    /// Every event of `room` this user may see, oldest first (`/messages?dir=f` from the
    /// start, page by page), with `room_id` filled in.
    pub async fn history(&self, room: &RoomId) -> Result<Vec<Value>> {
        let limit = PAGE.to_string();
        let mut events = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let mut query = vec![("dir", "f"), ("limit", limit.as_str())];
            if let Some(f) = &from {
                query.push(("from", f.as_str()));
            }
            let r = self
                .call(
                    Method::GET,
                    &["rooms", room.as_str(), "messages"],
                    &query,
                    None,
                )
                .await?;
            let chunk = r["chunk"].as_array().cloned().unwrap_or_default();
            let end = r["end"].as_str().map(str::to_owned);
            if chunk.is_empty() || end.is_none() || end == from {
                events.extend(chunk);
                break;
            }
            events.extend(chunk);
            from = end;
        }
        for ev in &mut events {
            ev["room_id"] = json!(room);
        }
        Ok(events)
    }
}
