//! Short-term memory of message senders and of our own reactions: WhatsApp addresses a reaction
//! or a read receipt by the target's sender, and removes a reaction by reacting with nothing,
//! while the core only hands over remote message IDs.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::jid::Phone;

/// How many entries each map keeps before starting over.
const CAPACITY: usize = 50_000;

/// A reaction we sent: its target and the target's sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OurReaction {
    pub target: String,
    pub target_sender: Option<Phone>,
}

/// Bounded maps from message IDs.
#[derive(Default)]
pub struct Recent {
    senders: Mutex<HashMap<String, Phone>>,
    reactions: Mutex<HashMap<String, OurReaction>>,
}

fn bounded_insert<V>(map: &Mutex<HashMap<String, V>>, key: String, value: V) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(key, value);
}

impl Recent {
    pub fn sender(&self, id: &str, sender: &Phone) {
        bounded_insert(&self.senders, id.to_owned(), sender.clone());
    }
    /// Records the sender of an incoming message; false if the bridge already knows the message
    /// (it sent it, or another user's device delivered it first: groups reach every linked
    /// member).
    pub fn first_sighting(&self, id: &str, sender: &Phone) -> bool {
        let mut map = self.senders.lock().unwrap_or_else(|p| p.into_inner());
        if map.contains_key(id) {
            return false;
        }
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(id.to_owned(), sender.clone());
        true
    }
    pub fn sender_of(&self, id: &str) -> Option<Phone> {
        self.senders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }
    pub fn reaction(&self, id: &str, reaction: OurReaction) {
        bounded_insert(&self.reactions, id.to_owned(), reaction);
    }
    /// Takes our reaction `id` (it is being removed).
    pub fn take_reaction(&self, id: &str) -> Option<OurReaction> {
        self.reactions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets() {
        let r = Recent::default();
        let p = Phone::parse("4411111").unwrap();
        r.sender("A", &p);
        assert_eq!(r.sender_of("A"), Some(p.clone()));
        assert_eq!(r.sender_of("B"), None);
        assert!(!r.first_sighting("A", &p), "known already");
        assert!(r.first_sighting("B", &p));
        assert!(!r.first_sighting("B", &p), "a second device's copy");
        let ours = OurReaction {
            target: "A".into(),
            target_sender: Some(p),
        };
        r.reaction("R", ours.clone());
        assert_eq!(r.take_reaction("R"), Some(ours));
        assert_eq!(r.take_reaction("R"), None);
    }
}
