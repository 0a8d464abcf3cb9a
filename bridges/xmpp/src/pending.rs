//! Messages we sent and have not heard an error about: an error stanza for one of them becomes
//! a notice in its portal, so nothing is dropped silently.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferrybridge_core::ids::PortalKey;

/// How long an error stanza may take to arrive.
const KEEP: Duration = Duration::from_secs(300);
/// Most IDs kept at once (at 2,000 msg/s, KEEP alone would hold 600,000): the oldest go first.
const MAX: usize = 100_000;

/// Outgoing stanza ID → the portal it came from.
#[derive(Default)]
pub struct Pending {
    inner: Mutex<Inner>,
}

/// The map, and its IDs in insertion (= time) order, so that expiry pops from the front
/// instead of scanning the whole map on every send.
#[derive(Default)]
struct Inner {
    map: HashMap<String, (PortalKey, Instant)>,
    order: VecDeque<(String, Instant)>,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers that `id` was sent from `portal`.
    pub fn insert(&self, id: &str, portal: &PortalKey) {
        let now = Instant::now();
        let mut inner = self.lock();
        let Inner { map, order } = &mut *inner;
        while let Some((old, at)) = order.front() {
            if now.duration_since(*at) < KEEP && order.len() < MAX {
                break;
            }
            // A re-inserted ID has a newer entry in the map: leave that one.
            if map.get(old).is_some_and(|(_, t)| t == at) {
                map.remove(old);
            }
            order.pop_front();
        }
        map.insert(id.to_owned(), (portal.clone(), now));
        order.push_back((id.to_owned(), now));
    }

    /// The portal of a message the server bounced.
    pub fn take(&self, id: &str) -> Option<PortalKey> {
        // The order entry stays until it expires; `insert` skips it once the map has moved on.
        self.lock()
            .map
            .remove(id)
            .filter(|(_, at)| at.elapsed() < KEEP)
            .map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_once() {
        let p = Pending::default();
        let key = PortalKey::shared("room@conference.localhost");
        p.insert("a", &key);
        assert_eq!(p.take("a"), Some(key));
        assert_eq!(p.take("a"), None);
    }

    #[test]
    fn bounded_oldest_first() {
        let p = Pending::default();
        let key = PortalKey::shared("room@conference.localhost");
        for i in 0..MAX + 10 {
            p.insert(&i.to_string(), &key);
        }
        assert_eq!(p.take("0"), None);
        assert_eq!(p.take(&(MAX + 9).to_string()), Some(key));
        assert!(p.lock().map.len() <= MAX);
    }
}
