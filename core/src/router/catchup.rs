//! Catch-up after a homeserver outage. A homeserver that stops can lose events it accepted
//! but had not yet pushed to us: Synapse queues appservice pushes in memory and records its
//! stream position before the push is written down, so a restart in that window skips them
//! for good (seen in our Synapse-restart crash test, about one message in a thousand). When
//! the homeserver answers again after being unreachable, the router reads the latest events
//! of every portal that was active lately and routes the ones it never handled, in timeline
//! order, through the inbox like any pushed event. Copies the homeserver does push later are
//! dropped by the recent-events check, so nothing is bridged twice.
//!
//! The trigger is the bridge's own failed requests: an outage the bridge did not notice
//! (nothing to send while the homeserver was down) is not caught up.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ruma::OwnedRoomId;
use tokio::sync::watch;

use super::{RawEvent, Router};
use crate::store::{InboxEvent, TxnOutcome};

/// Portals with Matrix activity in this window are caught up.
const ACTIVE_WINDOW: Duration = Duration::from_secs(600);
/// At most this many rooms are remembered as active (the oldest go first).
const MAX_ACTIVE: usize = 10_000;
/// Events read back per room.
const PAGE: u32 = 50;
/// Event types worth bringing back (state changes are re-read from the room when needed).
const BRIDGED: [&str; 4] = [
    "m.room.message",
    "m.sticker",
    "m.reaction",
    "m.room.redaction",
];

/// Portal rooms with recent Matrix activity.
#[derive(Default)]
pub(crate) struct ActiveRooms {
    rooms: Mutex<HashMap<OwnedRoomId, Instant>>,
}

impl ActiveRooms {
    /// Notes activity in `room`.
    pub fn touch(&self, room: &OwnedRoomId) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if rooms.len() >= MAX_ACTIVE && !rooms.contains_key(room) {
            let now = Instant::now();
            rooms.retain(|_, at| now.duration_since(*at) < ACTIVE_WINDOW);
            if rooms.len() >= MAX_ACTIVE
                && let Some(oldest) = rooms
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(r, _)| r.clone())
            {
                rooms.remove(&oldest);
            }
        }
        rooms.insert(room.clone(), Instant::now());
    }

    /// Rooms active within [`ACTIVE_WINDOW`].
    fn recent(&self) -> Vec<OwnedRoomId> {
        let now = Instant::now();
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.retain(|_, at| now.duration_since(*at) < ACTIVE_WINDOW);
        rooms.keys().cloned().collect()
    }
}

/// Catches up after each recovery of the homeserver, until the bridge stops.
pub(crate) async fn run(router: Router, mut recoveries: watch::Receiver<u64>) {
    while recoveries.changed().await.is_ok() {
        router.catch_up().await;
    }
}

impl Router {
    /// Routes the recent events of active portals that were never handled.
    async fn catch_up(&self) {
        let bot = self.host.matrix().bot_intent();
        let mut found = 0;
        for room in self.active.recent() {
            let events = match bot.latest_events(&room, PAGE).await {
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
                    for (id, json) in ids.into_iter().zip(missed) {
                        self.route(InboxEvent {
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
        events
            .into_iter()
            .filter(|json| match RawEvent::parse(json) {
                Ok(e) => {
                    BRIDGED.contains(&e.kind.as_str())
                        && !self.recent.seen(&e.event_id)
                        && !self.is_ours(&e.sender)
                }
                Err(_) => false,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(active.recent().len() <= MAX_ACTIVE);
    }
}
