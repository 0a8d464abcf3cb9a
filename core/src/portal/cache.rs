//! Portal rows in memory, by key and by room: every message in either direction looks its
//! portal up, and a database round trip per message is most of what a busy bridge spends.
//! Only [`super::Portals`] writes portal rows, and it keeps this cache in step (the bridge is
//! the database's only writer). Absent portals are not cached: a room becomes a portal
//! through the same code that fills the cache.

use std::collections::HashMap;
use std::sync::Mutex;

use ruma::OwnedRoomId;

use crate::ids::PortalKey;
use crate::store::PortalRow;

#[derive(Default)]
pub(crate) struct PortalCache {
    inner: Mutex<Maps>,
}

#[derive(Default)]
struct Maps {
    by_key: HashMap<PortalKey, PortalRow>,
    by_room: HashMap<OwnedRoomId, PortalKey>,
}

impl PortalCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Maps> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn by_key(&self, key: &PortalKey) -> Option<PortalRow> {
        self.lock().by_key.get(key).cloned()
    }

    pub fn by_room(&self, room: &OwnedRoomId) -> Option<PortalRow> {
        let maps = self.lock();
        let key = maps.by_room.get(room)?;
        maps.by_key.get(key).cloned()
    }

    /// Remembers a row as it now is in the store.
    pub fn put(&self, row: &PortalRow) {
        let mut maps = self.lock();
        if let Some(old) = maps.by_key.insert(row.key.clone(), row.clone())
            && old.room_id != row.room_id
        {
            maps.by_room.remove(&old.room_id);
        }
        maps.by_room.insert(row.room_id.clone(), row.key.clone());
    }

    /// Forgets a portal that was deleted or unlinked.
    pub fn remove(&self, key: &PortalKey) {
        let mut maps = self.lock();
        if let Some(old) = maps.by_key.remove(key) {
            maps.by_room.remove(&old.room_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PortalKind;

    fn row(key: &str, room: &str) -> PortalRow {
        PortalRow {
            key: PortalKey::shared(key),
            room_id: OwnedRoomId::try_from(room).unwrap(),
            kind: PortalKind::Group,
            plumbed: false,
            name: None,
            topic: None,
            avatar: None,
        }
    }

    #[test]
    fn put_update_and_remove_keep_both_maps_in_step() {
        let cache = PortalCache::default();
        let a = row("#a", "!one");
        cache.put(&a);
        assert_eq!(cache.by_room(&a.room_id), Some(a.clone()));
        // The same portal moved to another room: the old room no longer finds it.
        let moved = row("#a", "!two");
        cache.put(&moved);
        assert_eq!(cache.by_room(&a.room_id), None);
        assert_eq!(cache.by_key(&a.key), Some(moved.clone()));
        cache.remove(&a.key);
        assert_eq!(cache.by_key(&a.key), None);
        assert_eq!(cache.by_room(&moved.room_id), None);
    }
}
