//! Receiving: /sync long-polls feed a per-user log that `wait_for` and `wait_for_invite`
//! consume, so a test can act first and wait afterwards without racing the homeserver.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use reqwest::Method;
use ruma::{OwnedRoomId, RoomId};
use serde_json::{Value, json};

use super::{TestUser, field};

/// What /sync has delivered so far; `wait_for` consumes matches from it.
#[derive(Debug, Default)]
pub(super) struct SyncState {
    pub(super) since: Option<String>,
    pub(super) events: Vec<(OwnedRoomId, Value)>,
    pub(super) consumed: HashSet<String>,
    pub(super) invites: Vec<OwnedRoomId>,
    pub(super) invites_returned: HashSet<OwnedRoomId>,
    /// Read receipts seen: (room, event, reader).
    pub(super) receipts: HashSet<(OwnedRoomId, String, String)>,
    /// Who was typing in each room, in the order /sync told it.
    pub(super) typing: Vec<(OwnedRoomId, Vec<String>)>,
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        format!("{}…", &s[..s.floor_char_boundary(200)])
    } else {
        s
    }
}

impl TestUser {
    /// Waits until an event in `room` matching `pred` arrives through /sync and returns it.
    /// Each event is returned at most once per user (a matched event is consumed), and events
    /// that arrived before the call (since this user's first sync) count, so there is no race
    /// between acting and waiting. On timeout the error lists the room's recent events.
    pub async fn wait_for(
        &self,
        room: &RoomId,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ev) = self.take_matching(room, &pred) {
                return Ok(ev);
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "{} saw no matching event in {room} within {timeout:?}; recent events:\n{}",
                    self.user_id,
                    self.recent(room, 15)
                );
            }
            self.sync_once((deadline - now).min(Duration::from_secs(1)))
                .await?;
        }
    }

    /// Waits for an invite to a room not returned by an earlier call; returns the room ID.
    pub async fn wait_for_invite(&self, timeout: Duration) -> Result<OwnedRoomId> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut st = self.lock();
                let next = st
                    .invites
                    .iter()
                    .find(|r| !st.invites_returned.contains(*r))
                    .cloned();
                if let Some(room) = next {
                    st.invites_returned.insert(room.clone());
                    return Ok(room);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("{} got no invite within {timeout:?}", self.user_id);
            }
            self.sync_once((deadline - now).min(Duration::from_secs(1)))
                .await?;
        }
    }

    /// Waits until /sync shows `user` typing (or, with `typing` false, not typing after having
    /// been) in `room`.
    pub async fn wait_for_typing(
        &self,
        room: &RoomId,
        user: &str,
        typing: bool,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let st = self.lock();
                let mut was = false;
                for (_, users) in st.typing.iter().filter(|(r, _)| r == room) {
                    let now = users.iter().any(|u| u == user);
                    if now == typing && (typing || was) {
                        return Ok(());
                    }
                    was |= now;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("{user} not seen typing={typing} in {room} within {timeout:?}");
            }
            self.sync_once((deadline - now).min(Duration::from_secs(1)))
                .await?;
        }
    }

    /// Waits until /sync shows `reader`'s read receipt on `event` in `room`.
    pub async fn wait_for_receipt(
        &self,
        room: &RoomId,
        event: &str,
        reader: &str,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let key = (room.to_owned(), event.to_owned(), reader.to_owned());
        loop {
            if self.lock().receipts.contains(&key) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("no read receipt of {reader} on {event} in {room} within {timeout:?}");
            }
            self.sync_once((deadline - now).min(Duration::from_secs(1)))
                .await?;
        }
    }

    /// Every event /sync has delivered so far for `room` (state then timeline, in order).
    pub fn seen_events(&self, room: &RoomId) -> Vec<Value> {
        let st = self.lock();
        st.events
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, e)| e.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.sync.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_matching(&self, room: &RoomId, pred: &impl Fn(&Value) -> bool) -> Option<Value> {
        let mut st = self.lock();
        let st = &mut *st;
        for (r, ev) in &st.events {
            if r != room {
                continue;
            }
            let id = ev["event_id"].as_str().unwrap_or_default();
            if !st.consumed.contains(id) && pred(ev) {
                st.consumed.insert(id.to_owned());
                return Some(ev.clone());
            }
        }
        None
    }

    fn recent(&self, room: &RoomId, n: usize) -> String {
        let st = self.lock();
        let evs: Vec<&Value> = st
            .events
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, e)| e)
            .collect();
        if evs.is_empty() {
            return "  (none: is the user in the room?)".to_owned();
        }
        evs[evs.len().saturating_sub(n)..]
            .iter()
            .map(|e| {
                format!(
                    "  {} {} {} {}",
                    e["type"].as_str().unwrap_or("?"),
                    e["sender"].as_str().unwrap_or("?"),
                    e["state_key"]
                        .as_str()
                        .map(|k| format!("[{k}]"))
                        .unwrap_or_default(),
                    short(&e["content"])
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// One /sync long-poll of at most `timeout`; records events and invites.
    pub async fn sync_once(&self, timeout: Duration) -> Result<()> {
        let since = self.lock().since.clone();
        let ms = timeout.as_millis().to_string();
        let filter = r#"{"room":{"timeline":{"limit":100}},"presence":{"types":[]}}"#;
        let mut query = vec![
            ("timeout", ms.as_str()),
            ("filter", filter),
            ("set_presence", "offline"),
        ];
        if let Some(s) = &since {
            query.push(("since", s));
        }
        let r = self.call(Method::GET, &["sync"], &query, None).await?;
        if self.lock().since != since {
            return Ok(()); // a concurrent sync already advanced; drop ours to avoid duplicates
        }
        // Room keys first, so this batch's encrypted events can be read.
        self.crypto_sync(&r).await?;
        let mut fresh = Vec::new();
        let mut receipts = Vec::new();
        let mut typing = Vec::new();
        for section in ["join", "leave"] {
            let Some(rooms) = r["rooms"][section].as_object() else {
                continue;
            };
            for (room_id, room) in rooms {
                let room_id = RoomId::parse(room_id.as_str())?;
                for ev in room["ephemeral"]["events"].as_array().into_iter().flatten() {
                    if ev["type"] == "m.typing" {
                        let users = ev["content"]["user_ids"].as_array().into_iter().flatten();
                        let users = users.filter_map(|u| u.as_str().map(str::to_owned));
                        typing.push((room_id.clone(), users.collect()));
                        continue;
                    }
                    if ev["type"] != "m.receipt" {
                        continue;
                    }
                    for (event, by_type) in ev["content"].as_object().into_iter().flatten() {
                        for reader in by_type["m.read"].as_object().into_iter().flatten() {
                            receipts.push((room_id.clone(), event.clone(), reader.0.clone()));
                        }
                    }
                }
                for part in ["state", "timeline"] {
                    for ev in room[part]["events"].as_array().into_iter().flatten() {
                        let mut ev = self.readable(&room_id, ev.clone()).await;
                        ev["room_id"] = json!(room_id);
                        fresh.push((room_id.clone(), ev));
                    }
                }
            }
        }
        let mut st = self.lock();
        if st.since != since {
            return Ok(());
        }
        st.receipts.extend(receipts);
        st.typing.extend(typing);
        st.events.extend(fresh);
        if let Some(invites) = r["rooms"]["invite"].as_object() {
            for room_id in invites.keys() {
                let room_id = RoomId::parse(room_id.as_str())?;
                if !st.invites.contains(&room_id) {
                    st.invites.push(room_id);
                }
            }
        }
        st.since = Some(field(&r, "next_batch")?);
        Ok(())
    }
}
