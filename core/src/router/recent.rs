//! The event IDs the router handled lately. A homeserver repeats a transaction under the same
//! ID (the transaction table catches that); the same event under a *new* transaction ID would
//! be a homeserver fault, but costs nothing to stop when it is recent, without a database
//! lookup per message. Events replayed from the inbox at start-up are checked against the
//! message map instead.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use ruma::{EventId, OwnedEventId};

/// How many event IDs are remembered (about 1 MiB).
const KEEP: usize = 8192;

#[derive(Default)]
pub(crate) struct RecentEvents {
    inner: Mutex<(HashSet<OwnedEventId>, VecDeque<OwnedEventId>)>,
}

impl RecentEvents {
    /// Whether `id` was handled lately (without recording it).
    pub fn seen(&self, id: &EventId) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .contains(id)
    }

    /// Records `id`; `false` if it was already there (a duplicate).
    pub fn first_time(&self, id: &EventId) -> bool {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (set, order) = &mut *guard;
        if !set.insert(id.to_owned()) {
            return false;
        }
        order.push_back(id.to_owned());
        if order.len() > KEEP
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
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
