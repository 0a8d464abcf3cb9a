//! What the crypto layer knows per room: whether it is encrypted, and who its members are (the
//! users whose devices get the room key). Both are learnt from the homeserver once per room and
//! process, then kept up to date by the room's events (`m.room.encryption`, `m.room.member`),
//! so a steady stream of messages costs no extra requests.

use std::sync::{Arc, Mutex};

use ruma::{OwnedRoomId, RoomId};
use ruma16::OwnedUserId;

use crate::lru::LruMap;

/// Rooms remembered at most; a forgotten room is asked about again when next used.
const ROOMS: usize = 10_000;

#[derive(Default)]
struct RoomState {
    encrypted: Option<bool>,
    members: Option<Arc<Vec<OwnedUserId>>>,
    /// Serialises key sharing and encryption in the room (one Megolm session at a time).
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// Per-room crypto facts, bounded.
pub(super) struct Rooms {
    rooms: Mutex<LruMap<OwnedRoomId, RoomState>>,
}

impl Default for Rooms {
    fn default() -> Self {
        Self {
            rooms: Mutex::new(LruMap::new(ROOMS)),
        }
    }
}

impl Rooms {
    fn with<T>(&self, room: &RoomId, f: impl FnOnce(&mut RoomState) -> T) -> T {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        f(rooms.get_or_insert_with(room.to_owned(), RoomState::default))
    }

    /// Whether the room is encrypted, if known.
    pub fn encrypted(&self, room: &RoomId) -> Option<bool> {
        self.with(room, |s| s.encrypted)
    }

    pub fn set_encrypted(&self, room: &RoomId, encrypted: bool) {
        self.with(room, |s| s.encrypted = Some(encrypted));
    }

    /// The members to share the room key with, if known (in the crypto machine's ID type, so
    /// each send does not convert them again).
    pub fn members(&self, room: &RoomId) -> Option<Arc<Vec<OwnedUserId>>> {
        self.with(room, |s| s.members.clone())
    }

    pub fn set_members(&self, room: &RoomId, members: Vec<OwnedUserId>) {
        self.with(room, |s| s.members = Some(Arc::new(members)));
    }

    /// Membership changed: the next send asks the homeserver again.
    pub fn forget_members(&self, room: &RoomId) {
        self.with(room, |s| s.members = None);
    }

    /// The room's send lock.
    pub fn lock(&self, room: &RoomId) -> Arc<tokio::sync::Mutex<()>> {
        self.with(room, |s| s.lock.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets() {
        let rooms = Rooms::default();
        let room: OwnedRoomId = "!r:hs".try_into().unwrap();
        assert_eq!(rooms.encrypted(&room), None);
        rooms.set_encrypted(&room, true);
        assert_eq!(rooms.encrypted(&room), Some(true));
        rooms.set_members(&room, vec![ruma16::UserId::parse("@a:hs").unwrap()]);
        assert_eq!(rooms.members(&room).map(|m| m.len()), Some(1));
        rooms.forget_members(&room);
        assert!(rooms.members(&room).is_none());
        assert_eq!(rooms.encrypted(&room), Some(true));
    }
}
