//! Admission: before a transaction is recorded, check that the queues it would feed have room.
//! A full queue answers the homeserver with a retryable error (it sends the transaction again
//! later), so a flood into one room bounds memory and loses nothing.

use std::collections::HashMap;

use ruma::OwnedRoomId;

use crate::appservice::Busy;
use crate::config::LimitsConfig;
use crate::host::BridgeHost;
use crate::portal::QueueKey;

/// Only the room ID of each event is read (ephemeral events without one are not counted).
#[derive(serde::Deserialize)]
struct RoomOf {
    room_id: Option<OwnedRoomId>,
}

/// `Ok` if the events fit under `limits.portal_queue_depth` per room and
/// `limits.inflight_events` overall.
pub(super) fn admit(
    host: &BridgeHost,
    limits: &LimitsConfig,
    events: &[String],
) -> Result<(), Busy> {
    let portals = host.portals();
    let total = portals.queued_total();
    if total + events.len() > limits.inflight_events.max(events.len()) {
        return Err(Busy(format!(
            "{total} events are waiting to be bridged (limit {})",
            limits.inflight_events
        )));
    }
    let mut per_room: HashMap<OwnedRoomId, usize> = HashMap::new();
    for json in events {
        if let Ok(RoomOf {
            room_id: Some(room),
        }) = serde_json::from_str::<RoomOf>(json)
        {
            *per_room.entry(room).or_default() += 1;
        }
    }
    for (room, count) in per_room {
        let key = match portals.cached_by_room(&room) {
            Some(portal) => QueueKey::Portal(portal.key().clone()),
            None => QueueKey::Room(room.clone()),
        };
        let depth = portals.queue_depth(&key);
        // A transaction bigger than the limit is let into an empty queue, or it never would be.
        if depth > 0 && depth + count > limits.portal_queue_depth {
            return Err(Busy(format!(
                "{depth} events of {room} are waiting to be bridged (limit {})",
                limits.portal_queue_depth
            )));
        }
    }
    Ok(())
}
