//! Who was active in a channel, per network: in `half` channels the nicks that spoke (their
//! ghosts leave with their PART or QUIT; the silent majority stays), in `lazy` channels the
//! nicks whose ghost was joined by speaking or being mentioned.
//!
//! Speakers in `half` channels are kept in the store (key-value namespace [`KV_SPOKE`], one row
//! per channel and nick), so a ghost that spoke before a bridge restart still leaves after it.
//! The rows stay bounded by the channels' current speakers: a row goes when its nick leaves the
//! channel (or moves with a nick change), and the member list the bot gets when it (re)joins
//! drops the rows of nicks that left while the bridge was away (their ghosts leave then).
//! `lazy` entries live in memory only: forgetting one costs one repeated, idempotent join.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::SyncMode;
use crate::ids::fold;
use crate::net::{IrcNetwork, lock};

/// Key-value namespace: `<network> <channel> <nick>` (folded) → `true` for a nick that spoke
/// in a `half` channel and is still in it.
pub const KV_SPOKE: &str = "irc_spoke";

/// Most entries per network; past it a new speaker counts as silent (a `half` ghost that then
/// stays joined), so memory and store stay bounded whatever the channels do.
const MAX_ACTIVE: usize = 100_000;

/// Folded `(channel, nick)` → whether the store has a row for it.
#[derive(Default)]
pub struct Active {
    entries: Mutex<HashMap<(String, String), bool>>,
}

impl Active {
    /// Adds an entry (`stored`: it has, or is about to get, a row); whether a row must be
    /// written now (a new stored entry, or one that had none).
    fn insert(&self, key: (String, String), stored: bool) -> Insert {
        let mut entries = lock(&self.entries);
        let full = entries.len() >= MAX_ACTIVE;
        match entries.get_mut(&key) {
            Some(had) if *had || !stored => Insert::Known,
            Some(had) => {
                *had = true;
                Insert::NewRow
            }
            None if full => Insert::Full,
            None => {
                entries.insert(key, stored);
                if stored { Insert::NewRow } else { Insert::New }
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Insert {
    Known,
    New,
    NewRow,
    Full,
}

fn row_key(network: &str, channel: &str, nick: &str) -> String {
    format!("{network} {channel} {nick}")
}

impl IrcNetwork {
    /// Whether `nick` was active in `channel` (spoke; in `lazy` channels also: was mentioned).
    pub(crate) fn is_active(&self, channel: &str, nick: &str) -> bool {
        lock(&self.membership.active.entries).contains_key(&(fold(channel), fold(nick)))
    }

    /// Records that `nick` spoke in `channel`; in a `half` channel durably. (`full` channels
    /// mirror everyone alike: nothing to remember.)
    pub(crate) async fn spoke(&self, channel: &str, nick: &str) {
        let stored = match self.sync_mode(channel) {
            SyncMode::Full => return,
            SyncMode::Half => true,
            SyncMode::Lazy => false,
        };
        let (channel, nick) = (fold(channel), fold(nick));
        match self
            .membership
            .active
            .insert((channel.clone(), nick.clone()), stored)
        {
            Insert::NewRow => {
                let key = row_key(&self.name, &channel, &nick);
                if let Err(e) = self.host().store().kv_set(KV_SPOKE, &key, &true).await {
                    tracing::warn!(network = %self.name, %channel, %nick, error = %e, "could not record a speaker; after a restart their ghost stays when they leave");
                }
            }
            Insert::Full => {
                tracing::debug!(network = %self.name, %channel, %nick, "too many active nicks remembered; this one counts as silent");
            }
            Insert::Known | Insert::New => {}
        }
    }

    /// Marks `nick`'s ghost as joined to a `lazy` channel's portal (memory only); whether it
    /// was not yet.
    pub(crate) fn activate(&self, channel: &str, nick: &str) -> bool {
        self.membership
            .active
            .insert((fold(channel), fold(nick)), false)
            == Insert::New
    }

    /// `nick` left `channel` (PART, KICK, QUIT, the old side of a NICK): forgets it.
    pub(crate) async fn forget_active(&self, channel: &str, nick: &str) {
        let (channel, nick) = (fold(channel), fold(nick));
        let removed =
            lock(&self.membership.active.entries).remove(&(channel.clone(), nick.clone()));
        if removed == Some(true) {
            let key = row_key(&self.name, &channel, &nick);
            if let Err(e) = self.host().store().kv_delete(KV_SPOKE, &key).await {
                tracing::warn!(network = %self.name, %channel, %nick, error = %e, "could not forget a speaker");
            }
        }
    }

    /// `old` is now called `new`: what `old` did in `channels` counts for `new`.
    pub(crate) async fn rename_active(&self, channels: &[String], old: &str, new: &str) {
        for channel in channels {
            let was = lock(&self.membership.active.entries)
                .get(&(fold(channel), fold(old)))
                .copied();
            let Some(stored) = was else { continue };
            self.forget_active(channel, old).await;
            if stored {
                self.spoke(channel, new).await;
            } else {
                self.activate(channel, new);
            }
        }
    }

    /// Loads the speakers of `half` channels recorded before this start.
    pub(crate) async fn load_active(&self) {
        let prefix = format!("{} ", self.name);
        let rows = match self.host().store().kv_list(KV_SPOKE, &prefix).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(network = %self.name, error = %e, "cannot read who spoke before the restart; their ghosts stay when they leave");
                return;
            }
        };
        let mut entries = lock(&self.membership.active.entries);
        for (key, _) in rows {
            let Some((channel, nick)) = key
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split_once(' '))
            else {
                continue;
            };
            if entries.len() >= MAX_ACTIVE {
                break;
            }
            entries.insert((channel.to_owned(), nick.to_owned()), true);
        }
    }

    /// After `channel`'s member list (folded nicks): forgets the active nicks that are not in
    /// it any more, and returns those whose ghosts should leave (they spoke in a `half`
    /// channel and left while the bridge was away).
    pub(crate) async fn prune_active(
        &self,
        channel: &str,
        members: &BTreeMap<String, (String, String)>,
    ) -> Vec<String> {
        let folded = fold(channel);
        let gone: Vec<String> = lock(&self.membership.active.entries)
            .keys()
            .filter(|(c, n)| *c == folded && !members.contains_key(n))
            .map(|(_, n)| n.clone())
            .collect();
        let mut leave = Vec::new();
        for nick in gone {
            if self.mirrors_leave(channel, &nick) {
                leave.push(nick.clone());
            }
            self.forget_active(channel, &nick).await;
        }
        leave
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: &str, n: &str) -> (String, String) {
        (c.to_owned(), n.to_owned())
    }

    #[test]
    fn a_row_is_written_once_and_memory_entries_can_become_stored() {
        let a = Active::default();
        assert_eq!(a.insert(key("#c", "bob"), false), Insert::New);
        assert_eq!(a.insert(key("#c", "bob"), false), Insert::Known);
        assert_eq!(a.insert(key("#c", "bob"), true), Insert::NewRow);
        assert_eq!(a.insert(key("#c", "bob"), true), Insert::Known);
        assert_eq!(a.insert(key("#c", "bob"), false), Insert::Known);
        assert_eq!(a.insert(key("#d", "bob"), true), Insert::NewRow);
    }

    #[test]
    fn past_the_bound_new_nicks_are_not_remembered() {
        let a = Active::default();
        {
            let mut entries = lock(&a.entries);
            for i in 0..MAX_ACTIVE {
                entries.insert(key("#c", &i.to_string()), false);
            }
        }
        assert_eq!(a.insert(key("#c", "late"), true), Insert::Full);
        assert_eq!(
            a.insert(key("#c", "7"), true),
            Insert::NewRow,
            "known ones still count"
        );
        assert_eq!(lock(&a.entries).len(), MAX_ACTIVE);
    }
}
