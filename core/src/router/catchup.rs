//! Catch-up after a homeserver outage. A homeserver that stops can lose events it accepted
//! but had not yet pushed to us: Synapse queues appservice pushes in memory and records its
//! stream position before the push is written down, so a restart in that window skips them
//! for good (seen in our Synapse-restart crash test, about one message in a thousand). When
//! the homeserver answers again after being unreachable, the router reads back the events of
//! every portal that was active lately, from two minutes before the first failed request (page
//! by page, at most 2,000 per room) and routes the ones it never handled, in timeline
//! order, through the inbox like any pushed event. Copies the homeserver does push later are
//! dropped by the recent-events check, so nothing is bridged twice.
//!
//! The trigger is the bridge's own failed requests: an outage the bridge did not notice
//! (nothing to send while the homeserver was down) is not caught up. From that first failure
//! until the catch-up is done, freshly pushed events wait (see `MatrixClient::settled`), so a
//! lost event comes back before the ones sent after it; the first push after an outage also
//! counts as the homeserver's recovery.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ruma::OwnedRoomId;
use tokio::sync::watch;

use super::{RawEvent, Router};
use crate::lru::LruMap;
use crate::store::{InboxEvent, TxnOutcome};

/// Portals with Matrix activity in this window are caught up.
const ACTIVE_WINDOW: Duration = Duration::from_secs(600);
/// At most this many rooms are remembered as active (the oldest go first).
const MAX_ACTIVE: usize = 10_000;
/// At most this many rooms (the most recently active) are read back per recovery: a
/// homeserver that was only slow (a request timed out) costs a bounded number of requests.
const MAX_CAUGHT_UP: usize = 500;
/// Events read back per room at most (the newest).
const MAX_EVENTS: usize = 2_000;
/// How far before the first failed request the catch-up reaches back: the homeserver may
/// have accepted (and then lost) events for a while before the bridge noticed it was down.
const REACH_BACK_MS: u64 = 120_000;
/// Event types worth bringing back (state changes are re-read from the room when needed).
const BRIDGED: [&str; 6] = [
    "m.room.message",
    "m.sticker",
    "m.reaction",
    "m.room.redaction",
    crate::matrix::polls::POLL_START,
    crate::matrix::polls::POLL_RESPONSE,
];

/// Portal rooms with recent Matrix activity (the least recently active go first past
/// [`MAX_ACTIVE`]).
pub(crate) struct ActiveRooms {
    rooms: Mutex<LruMap<OwnedRoomId, Instant>>,
}

impl Default for ActiveRooms {
    fn default() -> Self {
        Self {
            rooms: Mutex::new(LruMap::new(MAX_ACTIVE)),
        }
    }
}

impl ActiveRooms {
    /// Notes activity in `room`.
    pub fn touch(&self, room: &OwnedRoomId) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.insert(room.clone(), Instant::now());
    }

    /// Rooms active within [`ACTIVE_WINDOW`], the most recently active first, at most
    /// [`MAX_CAUGHT_UP`].
    fn recent(&self) -> Vec<OwnedRoomId> {
        let now = Instant::now();
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.retain(|_, at| now.duration_since(*at) < ACTIVE_WINDOW);
        let all: Vec<OwnedRoomId> = rooms.iter().map(|(room, _)| room.clone()).collect();
        all.into_iter().rev().take(MAX_CAUGHT_UP).collect()
    }
}

/// How long a freshly pushed event waits for the catch-up at most.
pub(crate) const HOLD_AT_MOST: Duration = Duration::from_secs(60);

/// Catches up after each recovery of the homeserver, until the bridge stops.
pub(crate) async fn run(router: Router, mut recoveries: watch::Receiver<u64>) {
    loop {
        // Checked before waiting: a recovery before this task subscribed is not missed.
        let outages = router.host.matrix().outages();
        if outages.owes_catch_up() {
            router.catch_up().await;
            outages.settle();
        }
        if recoveries.changed().await.is_err() {
            return;
        }
    }
}

impl Router {
    /// Routes the recent events of active portals that were never handled.
    async fn catch_up(&self) {
        let bot = self.host.matrix().bot_intent();
        let since = self
            .host
            .matrix()
            .last_outage_start_ms()
            .saturating_sub(REACH_BACK_MS);
        let mut found = 0;
        for room in self.active.recent() {
            let events = match bot.events_since(&room, since, MAX_EVENTS).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(%room, error = %e, "catch-up: cannot read the room");
                    continue;
                }
            };
            let missed = self.missed(events);
            if missed.is_empty() {
                continue;
            }
            found += missed.len();
            let txn = format!("catchup-{}", uuid::Uuid::new_v4().simple());
            match self.host.store().record_transaction(&txn, &missed).await {
                Ok(TxnOutcome::New(ids)) => {
                    tracing::warn!(%room, count = missed.len(), "catch-up: routing events not received from the homeserver (lost, or not pushed yet; later copies are dropped)");
                    // As replayed: the message map is asked too, since reaching back before
                    // the outage brings events this process may have handled and forgotten.
                    for (id, json) in ids.into_iter().zip(missed) {
                        self.route_replayed(InboxEvent {
                            id,
                            txn_id: txn.clone(),
                            json,
                        })
                        .await;
                    }
                }
                Ok(TxnOutcome::Duplicate) => {}
                Err(e) => tracing::error!(%room, error = %e, "catch-up: cannot record events"),
            }
        }
        tracing::info!(
            rooms_events = found,
            "catch-up after the homeserver outage done"
        );
    }

    /// Of `events` (raw JSON, oldest first), the bridgeable ones from real users that this
    /// run has not handled.
    fn missed(&self, events: Vec<String>) -> Vec<String> {
        unhandled(events, |id| self.recent.seen(id), |user| self.is_ours(user))
    }
}

/// The events worth routing again: bridged types, not `seen`, not sent by `ours`.
fn unhandled(
    events: Vec<String>,
    seen: impl Fn(&ruma::EventId) -> bool,
    ours: impl Fn(&ruma::UserId) -> bool,
) -> Vec<String> {
    events
        .into_iter()
        .filter(|json| match RawEvent::parse(json) {
            Ok(e) => BRIDGED.contains(&e.kind.as_str()) && !seen(&e.event_id) && !ours(&e.sender),
            Err(_) => false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unhandled_bridgeable_events_from_real_users_come_back() {
        let event = |id: &str, sender: &str, kind: &str| {
            serde_json::json!({
                "event_id": id, "room_id": "!r:x", "sender": sender, "type": kind,
                "content": {"body": "hi"}, "origin_server_ts": 1
            })
            .to_string()
        };
        let events = vec![
            event("$handled", "@alice:x", "m.room.message"),
            event("$lost", "@alice:x", "m.room.message"),
            event("$ghost", "@_irc_bob:x", "m.room.message"),
            event("$state", "@alice:x", "m.room.topic"),
            event("$react", "@alice:x", "m.reaction"),
            "{not json".to_owned(),
        ];
        let back = unhandled(
            events,
            |id| id.as_str() == "$handled",
            |user| user.localpart().starts_with("_irc_"),
        );
        let ids: Vec<String> = back
            .iter()
            .map(|j| RawEvent::parse(j).unwrap().event_id.to_string())
            .collect();
        assert_eq!(ids, ["$lost", "$react"]);
    }

    #[test]
    fn active_rooms_are_bounded_and_listed() {
        let active = ActiveRooms::default();
        let a: OwnedRoomId = "!a:x".try_into().unwrap();
        active.touch(&a);
        active.touch(&a);
        assert_eq!(active.recent(), vec![a]);
        for i in 0..MAX_ACTIVE + 5 {
            active.touch(&format!("!r{i}:x").try_into().unwrap());
        }
        let recent = active.recent();
        assert_eq!(recent.len(), MAX_CAUGHT_UP);
        let newest: OwnedRoomId = format!("!r{}:x", MAX_ACTIVE + 4).try_into().unwrap();
        assert_eq!(recent[0], newest, "the most recently active first");
    }
}
