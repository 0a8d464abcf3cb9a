//! The event IDs the router handled lately. A homeserver repeats a transaction under the same
//! ID (the transaction table catches that); the same event under a *new* transaction ID would
//! be a homeserver fault, but costs nothing to stop when it is recent, without a database
//! lookup per message. Events replayed from the inbox at start-up are checked against the
//! message map instead.

use std::sync::Mutex;

use ruma::{EventId, OwnedEventId};

use crate::lru::LruSet;

/// How many event IDs are remembered (about 1 MiB).
const KEEP: usize = 8192;

pub(crate) struct RecentEvents {
    inner: Mutex<LruSet<OwnedEventId>>,
}

impl Default for RecentEvents {
    fn default() -> Self {
        Self {
            inner: Mutex::new(LruSet::new(KEEP)),
        }
    }
}

impl RecentEvents {
    /// Whether `id` was handled lately (without recording it).
    pub fn seen(&self, id: &EventId) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// Records `id`; `false` if it was already there (a duplicate).
    pub fn first_time(&self, id: &EventId) -> bool {
        let mut set = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if set.touch(id) {
            return false;
        }
        set.insert(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_is_caught_and_the_window_is_bounded() {
        let recent = RecentEvents::default();
        let first = EventId::parse("$first").unwrap();
        assert!(recent.first_time(&first));
        assert!(!recent.first_time(&first));
        for i in 0..KEEP {
            let id = EventId::parse(format!("$e{i}")).unwrap();
            assert!(recent.first_time(&id));
        }
        // Pushed out of the window: remembered no more.
        assert!(recent.first_time(&first));
    }
}
