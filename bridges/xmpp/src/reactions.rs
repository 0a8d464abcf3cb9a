//! Reactions (XEP-0444) ↔ Matrix annotations. XMPP sends a user's whole reaction set for a
//! message each time; Matrix sends one event per key. [`Reactions`] remembers the current sets
//! (in memory: after a restart, a removal of an older reaction is not bridged) to translate.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use tokio_xmpp::minidom::Element;
use xmpp_parsers::message::Message;

use crate::xml::{self, attr, build, text_el};

/// XEP-0444 namespace.
pub const NS_REACTIONS: &str = "urn:xmpp:reactions:0";

/// The reaction sets of (chat, sender, message).
#[derive(Default)]
pub struct Reactions {
    sets: Mutex<HashMap<(String, String, String), BTreeSet<String>>>,
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
    /// Replaces a sender's set, returning what changed.
    pub fn set(&self, chat: &str, sender: &str, target: &str, keys: BTreeSet<String>) -> Change {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        let entry = sets
            .entry((chat.into(), sender.into(), target.into()))
            .or_default();
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
        let entry = sets
            .entry((chat.into(), sender.into(), target.into()))
            .or_default();
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
        let r = Reactions::default();
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
