//! Message-map lookups made ahead of an event's turn. A remote message is checked against the
//! message map (so a redelivered one is not posted twice) when it is queued, while the
//! messages before it on its portal queue are still being posted, instead of on the queue
//! itself, where each lookup was a database round trip that nothing else could overlap.
//!
//! What such a lookup cannot see is a row committed after it read the database. So the
//! bookkeeper numbers its commits and remembers what the last few thousand recorded (as hashes:
//! 16 bytes each); at the event's turn, [`Recent::settles`] says whether the lookup still
//! holds, or that the database must be asked again (a hash seen since, or more commits since
//! than remembered). Rows not yet committed are in `Pending` and checked there.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

use crate::ids::{PortalKey, RemoteMessageId};

/// Most remembered keys: more than a portal queue holds by default (`remote_queue_depth`), so a
/// lookup made when its event was queued is still answerable at its turn under full load.
const REMEMBERED: usize = 4_096;

/// A message-map lookup made ahead of time: whether the row was there, and after which commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyLookup {
    pub(super) after_commit: u64,
    pub(super) found: bool,
}

/// Keys committed lately, by commit number.
pub(super) struct Recent {
    hasher: RandomState,
    /// The last commit's number.
    commit: u64,
    /// Keys in the order committed, with their commit's number.
    order: VecDeque<(u64, u64)>,
    /// How many times each key hash is in `order`.
    counts: HashMap<u64, u32>,
    /// Commits up to this number may have keys no longer remembered.
    forgotten_up_to: u64,
}

impl Default for Recent {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            commit: 0,
            order: VecDeque::new(),
            counts: HashMap::new(),
            forgotten_up_to: 0,
        }
    }
}

impl Recent {
    /// The number of the last commit: a lookup reading the database after this sees it.
    pub(super) fn mark(&self) -> u64 {
        self.commit
    }

    /// Notes one commit that recorded `keys` (possibly none: a failed one counts too).
    pub(super) fn committed<'a>(
        &mut self,
        keys: impl IntoIterator<Item = (&'a PortalKey, &'a RemoteMessageId)>,
    ) {
        self.commit += 1;
        for (portal, remote) in keys {
            let hash = self.hash(portal, remote);
            self.order.push_back((self.commit, hash));
            *self.counts.entry(hash).or_default() += 1;
        }
        while self.order.len() > REMEMBERED {
            let Some((commit, hash)) = self.order.pop_front() else {
                break;
            };
            self.forgotten_up_to = commit;
            if let Some(n) = self.counts.get_mut(&hash) {
                *n -= 1;
                if *n == 0 {
                    self.counts.remove(&hash);
                }
            }
        }
    }

    /// Whether the message `lookup` was made for is bridged, as far as committed rows tell:
    /// `Some(true)` if the lookup found it, `Some(false)` if no commit since may have recorded
    /// it, `None` when memory cannot tell (ask the database).
    pub(super) fn settles(
        &self,
        lookup: EarlyLookup,
        portal: &PortalKey,
        remote: &RemoteMessageId,
    ) -> Option<bool> {
        if lookup.found {
            return Some(true);
        }
        if lookup.after_commit == self.commit {
            return Some(false);
        }
        if self.forgotten_up_to > lookup.after_commit
            || self.counts.contains_key(&self.hash(portal, remote))
        {
            return None;
        }
        Some(false)
    }

    /// Forgets every key (a lookup made before now is then answered by the database again):
    /// for an idle bridge, so that it holds no memory here.
    pub(super) fn forget_all(&mut self) {
        self.forgotten_up_to = self.commit;
        self.order = VecDeque::new();
        self.counts = HashMap::new();
    }

    fn hash(&self, portal: &PortalKey, remote: &RemoteMessageId) -> u64 {
        self.hasher.hash_one((portal, remote))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> (PortalKey, RemoteMessageId) {
        (
            PortalKey::shared("chat"),
            RemoteMessageId::new(format!("m{n}")),
        )
    }

    fn early(recent: &Recent) -> EarlyLookup {
        EarlyLookup {
            after_commit: recent.mark(),
            found: false,
        }
    }

    #[test]
    fn a_lookup_holds_until_its_key_is_committed() {
        let mut recent = Recent::default();
        let (p, m1) = key(1);
        let (_, m2) = key(2);
        let lookup = early(&recent);
        assert_eq!(recent.settles(lookup, &p, &m1), Some(false));
        recent.committed([(&p, &m2)]);
        assert_eq!(recent.settles(lookup, &p, &m1), Some(false));
        recent.committed([(&p, &m1)]);
        assert_eq!(recent.settles(lookup, &p, &m1), None, "ask the database");
        let found = EarlyLookup {
            found: true,
            ..lookup
        };
        assert_eq!(recent.settles(found, &p, &m2), Some(true));
    }

    #[test]
    fn too_many_commits_since_means_ask_again() {
        let mut recent = Recent::default();
        let (p, m0) = key(0);
        let lookup = early(&recent);
        let keys: Vec<_> = (1..=REMEMBERED + 1).map(key).collect();
        for (portal, remote) in &keys {
            recent.committed([(portal, remote)]);
        }
        assert_eq!(recent.order.len(), REMEMBERED);
        assert_eq!(recent.settles(lookup, &p, &m0), None);
        // A lookup made after the forgotten commits is answered from memory again.
        let later = early(&recent);
        assert_eq!(recent.settles(later, &p, &m0), Some(false));
        recent.committed([(&p, &m0)]);
        recent.forget_all();
        assert_eq!(recent.settles(later, &p, &m0), None);
        assert!(recent.order.is_empty() && recent.counts.is_empty());
    }
}
