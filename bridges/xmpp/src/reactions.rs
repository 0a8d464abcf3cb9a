//! Reactions (XEP-0444) ↔ Matrix annotations. XMPP sends a user's whole reaction set for a
//! message each time; Matrix sends one event per key. [`Reactions`] remembers the current sets
//! (in memory, for the `limits.remote_cache_entries` most recently used messages: after a
//! restart or an eviction, a removal of an older reaction is not bridged) to translate.

use std::collections::BTreeSet;
use std::sync::Mutex;

use ferrybridge_core::lru::LruMap;

use tokio_xmpp::minidom::Element;
use xmpp_parsers::message::Message;

use crate::xml::{self, attr, build, text_el};

/// XEP-0444 namespace.
pub const NS_REACTIONS: &str = "urn:xmpp:reactions:0";

/// (chat, sender, message): whose reactions to what.
type SetKey = (String, String, String);

/// The reaction sets of (chat, sender, message), the least recently used forgotten first.
pub struct Reactions {
    sets: Mutex<LruMap<SetKey, BTreeSet<String>>>,
}

/// What changed in a sender's set for a message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The remote ID of one reaction, for the message map (and back, for redactions).
pub fn reaction_id(sender: &str, target: &str, key: &str) -> String {
    format!("reaction\u{1f}{sender}\u{1f}{target}\u{1f}{key}")
}

/// `(sender, target, key)` of a [`reaction_id`].
pub fn parse_reaction_id(id: &str) -> Option<(String, String, String)> {
    let mut parts = id.strip_prefix("reaction\u{1f}")?.split('\u{1f}');
    let (s, t, k) = (parts.next()?, parts.next()?, parts.next()?);
    Some((s.into(), t.into(), k.into()))
}

/// The target and keys of a reactions payload.
pub fn parse(msg: &Message) -> Option<(String, BTreeSet<String>)> {
    let r = msg
        .payloads
        .iter()
        .find(|p| p.is("reactions", NS_REACTIONS))?;
    let target = attr(r, "id")?.to_owned();
    let keys = r
        .children()
        .filter(|c| c.is("reaction", NS_REACTIONS))
        .map(|c| c.text())
        .filter(|k| !k.is_empty())
        .collect();
    Some((target, keys))
}

/// The payload that sets `keys` as the reactions to `target`.
pub fn payload(target: &str, keys: &BTreeSet<String>) -> Vec<Element> {
    let mut r = build("reactions", NS_REACTIONS, &[("id", target)]);
    for k in keys {
        r.append_child(text_el("reaction", NS_REACTIONS, k));
    }
    vec![r, build("store", xml::NS_HINTS, &[])]
}

impl Reactions {
    /// An empty memory of at most `capacity` reaction sets.
    pub fn new(capacity: usize) -> Self {
        Self {
            sets: Mutex::new(LruMap::new(capacity)),
        }
    }

    /// Replaces a sender's set, returning what changed.
    pub fn set(&self, chat: &str, sender: &str, target: &str, keys: BTreeSet<String>) -> Change {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        let entry =
            sets.get_or_insert_with((chat.into(), sender.into(), target.into()), BTreeSet::new);
        let change = Change {
            added: keys.difference(entry).cloned().collect(),
            removed: entry.difference(&keys).cloned().collect(),
        };
        *entry = keys;
        change
    }

    /// Adds or removes one key; returns the resulting set.
    pub fn toggle(
        &self,
        chat: &str,
        sender: &str,
        target: &str,
        key: &str,
        on: bool,
    ) -> BTreeSet<String> {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        let entry =
            sets.get_or_insert_with((chat.into(), sender.into(), target.into()), BTreeSet::new);
        if on {
            entry.insert(key.into());
        } else {
            entry.remove(key);
        }
        entry.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_become_changes() {
        let r = Reactions::new(100);
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let c = r.set("room", "alice", "m1", keys(&["👍", "🎉"]));
        assert_eq!(c.added.len(), 2);
        let c = r.set("room", "alice", "m1", keys(&["🎉"]));
        assert_eq!(
            c,
            Change {
                added: vec![],
                removed: vec!["👍".into()]
            }
        );
        assert_eq!(r.toggle("room", "bob", "m1", "❤", true), keys(&["❤"]));
        assert!(r.toggle("room", "bob", "m1", "❤", false).is_empty());
    }

    #[test]
    fn only_the_most_recently_used_sets_are_kept() {
        let r = Reactions::new(2);
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        r.set("room", "alice", "m1", keys(&["👍"]));
        r.set("room", "alice", "m2", keys(&["👍"]));
        r.toggle("room", "alice", "m1", "🎉", true);
        r.set("room", "alice", "m3", keys(&["👍"]));
        assert_eq!(r.sets.lock().map(|s| s.len()).unwrap_or(0), 2);
        // m1 was kept (touched by the toggle), so the removal is seen.
        let c = r.set("room", "alice", "m1", keys(&["👍"]));
        assert_eq!(c.removed, vec!["🎉".to_string()]);
        // m2 was forgotten: its removal goes unseen, as after a restart.
        assert_eq!(r.set("room", "alice", "m2", keys(&[])), Change::default());
    }

    #[test]
    fn ids_and_payloads_round_trip() {
        let id = reaction_id("alice@x", "m1", "👍");
        assert_eq!(
            parse_reaction_id(&id),
            Some(("alice@x".into(), "m1".into(), "👍".into()))
        );
        assert_eq!(parse_reaction_id("m1"), None);
        let mut msg = Message::new(None);
        let keys: BTreeSet<String> = ["👍".to_string()].into();
        msg.payloads = payload("m1", &keys);
        assert_eq!(parse(&msg), Some(("m1".into(), keys)));
    }
}
