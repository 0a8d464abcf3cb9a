//! Messages we sent and have not heard an error about: an error stanza for one of them becomes
//! a notice in its portal, so nothing is dropped silently.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferrybridge_core::ids::PortalKey;

/// How long an error stanza may take to arrive.
const KEEP: Duration = Duration::from_secs(300);

/// Outgoing stanza ID → the portal it came from.
#[derive(Default)]
pub struct Pending {
    map: Mutex<HashMap<String, (PortalKey, Instant)>>,
}

impl Pending {
    /// Remembers that `id` was sent from `portal`.
    pub fn insert(&self, id: &str, portal: &PortalKey) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 1024 {
            map.retain(|_, (_, at)| now.duration_since(*at) < KEEP);
        }
        map.insert(id.to_owned(), (portal.clone(), now));
    }

    /// The portal of a message the server bounced.
    pub fn take(&self, id: &str) -> Option<PortalKey> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id)
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
}
