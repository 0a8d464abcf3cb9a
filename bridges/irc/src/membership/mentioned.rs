//! `lazy` channels: a member mentioned in a line, from IRC or from Matrix, gets its ghost
//! joined, so Matrix users see whom the line is addressed to and can answer with a pill.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use ferrybridge_core::events::MembershipChange;
use ferrybridge_core::ids::PortalKey;

use super::SyncMode;
use crate::ids::{chat_id, fold};
use crate::mentions::nick_char;
use crate::net::{IrcNetwork, lock};

/// Most ghosts one line joins: a mass highlight of a whole channel must not become a join
/// flood on the homeserver (the rest join when they speak or are named again).
pub const MAX_MENTIONS: usize = 10;

/// The members (as spelled) whose nicks are whole words of `text`, each once, in order, at most
/// [`MAX_MENTIONS`]; `except` (folded) left out. `members` is a channel's member list (folded
/// nick → (nick, modes)).
pub fn mentioned_members(
    text: &str,
    members: &BTreeMap<String, (String, String)>,
    except: &[&str],
) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for word in text
        .split(|c: char| !nick_char(c))
        .filter(|w| !w.is_empty())
    {
        if found.len() >= MAX_MENTIONS {
            break;
        }
        let folded = fold(word);
        if except.contains(&folded.as_str()) || !seen.insert(folded.clone()) {
            continue;
        }
        if let Some((nick, _)) = members.get(&folded) {
            found.push(nick.clone());
        }
    }
    found
}

impl IrcNetwork {
    /// In a `lazy` channel, joins the ghosts of the members mentioned in `text` that have
    /// none there yet (our own connections and the `speaker` left out).
    pub(crate) async fn join_mentioned(&self, channel: &str, speaker: Option<&str>, text: &str) {
        if self.sync_mode(channel) != SyncMode::Lazy {
            return;
        }
        let speaker = speaker.map(fold);
        let except: Vec<&str> = speaker.iter().map(String::as_str).collect();
        let mentioned = {
            let channels = lock(&self.channels);
            let Some(view) = channels.get(&fold(channel)) else {
                return;
            };
            mentioned_members(text, &view.members, &except)
        };
        for nick in mentioned {
            if self.is_ours(&nick) || !self.activate(channel, &nick) {
                continue;
            }
            let portal = PortalKey::shared(chat_id(&self.name, channel));
            crate::relay::profile(self, portal, &nick).await;
            crate::relay::member(self, channel, &nick, MembershipChange::Join).await;
        }
    }

    /// [`Self::join_mentioned`] for a Matrix user's line, on a task of its own: the joins go
    /// through the very portal queue that is handling the line.
    pub(crate) fn join_mentioned_later(self: &Arc<Self>, channel: &str, text: &str) {
        if self.sync_mode(channel) != SyncMode::Lazy {
            return;
        }
        let (net, channel, text) = (self.clone(), channel.to_owned(), text.to_owned());
        self.tasks()
            .spawn(async move { net.join_mentioned(&channel, None, &text).await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(nicks: &[&str]) -> BTreeMap<String, (String, String)> {
        nicks
            .iter()
            .map(|n| (fold(n), ((*n).to_owned(), String::new())))
            .collect()
    }

    #[test]
    fn whole_nick_words_that_are_members_once_each() {
        let m = members(&["Bob", "carol", "Dan[1]"]);
        assert_eq!(
            mentioned_members("bob: ask CAROL, and bob again, not bobby", &m, &[]),
            vec!["Bob", "carol"]
        );
        assert_eq!(mentioned_members("@dan{1} hi", &m, &[]), vec!["Dan[1]"]);
        assert!(mentioned_members("nobody here", &m, &[]).is_empty());
        assert!(mentioned_members("", &m, &[]).is_empty());
        assert_eq!(mentioned_members("bob carol", &m, &["bob"]), vec!["carol"]);
    }

    #[test]
    fn a_mass_highlight_joins_a_bounded_number() {
        let nicks: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
        let refs: Vec<&str> = nicks.iter().map(String::as_str).collect();
        let text = nicks.join(" ");
        assert_eq!(
            mentioned_members(&text, &members(&refs), &[]).len(),
            MAX_MENTIONS
        );
    }

    #[test]
    fn odd_text_never_panics() {
        let m = members(&["é", "a"]);
        for text in ["\u{0}\u{1}a\u{3}", "ééé é", "a\u{200b}a", "[[[]]]"] {
            let _ = mentioned_members(text, &m, &[]);
        }
    }
}
