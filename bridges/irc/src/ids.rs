//! How IRC names become the core's opaque IDs, and back.
//!
//! * a user: `<network>/<nick lowercased>` (nicks are case-insensitive, so `Alice` and `alice`
//!   are one ghost);
//! * a channel: `<network>/<#channel lowercased>`, shared by everyone;
//! * a private chat: `<network>/<nick lowercased>` with the Matrix user as the portal receiver.

use ferrybridge_core::ghost::GhostNaming;
use ferrybridge_core::ids::{RemoteChatId, RemoteUserId};

/// Case-folds an IRC name the way the ghost and portal IDs, and every comparison of names, use
/// it: RFC 1459 casemapping, IRC's default (`A`–`Z` and `[]\~` fold to `a`–`z` and `{}|^`), so
/// `Dan[1]` and `dan{1}`, one user to the server, are one ghost. IDs must not change with the
/// server a connection happens to reach, so this does not follow each server's ISUPPORT; a
/// server announcing another mapping is logged (see `relay`).
pub fn fold(name: &str) -> String {
    crate::nick::irc_lowercase(name, crate::nick::CaseMapping::Rfc1459)
}

/// Whether `target` names a channel rather than a nick.
pub fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}

/// The remote user ID of `nick` on `network`.
pub fn user_id(network: &str, nick: &str) -> RemoteUserId {
    RemoteUserId::new(format!("{network}/{}", fold(nick)))
}

/// The chat ID of a channel, or of a private chat with `nick`.
pub fn chat_id(network: &str, target: &str) -> RemoteChatId {
    RemoteChatId::new(format!("{network}/{}", fold(target)))
}

/// `(network, channel-or-nick)` of a chat ID; `None` if it is not one of ours.
pub fn split_chat(chat: &RemoteChatId) -> Option<(&str, &str)> {
    split(chat.as_str())
}

/// `(network, nick)` of a user ID.
pub fn split_user(user: &RemoteUserId) -> Option<(&str, &str)> {
    split(user.as_str())
}

fn split(id: &str) -> Option<(&str, &str)> {
    let (net, rest) = id.split_once('/')?;
    (!net.is_empty() && !rest.is_empty()).then_some((net, rest))
}

/// Ghost naming: `{network}` and `{nick}` for the username template.
pub struct IrcNaming;

impl GhostNaming for IrcNaming {
    fn vars(&self, id: &RemoteUserId) -> Vec<(String, String)> {
        match split_user(id) {
            Some((net, nick)) => vec![
                ("network".into(), net.to_owned()),
                ("nick".into(), fold(nick)),
            ],
            None => vec![("nick".into(), id.as_str().to_owned())],
        }
    }

    fn from_vars(&self, vars: &[(String, String)]) -> Option<RemoteUserId> {
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (net, nick) = (get("network")?, get("nick")?);
        (nick == fold(nick)).then(|| user_id(net, nick))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let u = user_id("oftc", "Alice");
        assert_eq!(u.as_str(), "oftc/alice");
        assert_eq!(split_user(&u), Some(("oftc", "alice")));
        let c = chat_id("oftc", "#Chan");
        assert_eq!(split_chat(&c), Some(("oftc", "#chan")));
        assert!(split_chat(&RemoteChatId::new("nonet")).is_none());
        let vars = IrcNaming.vars(&u);
        assert_eq!(IrcNaming.from_vars(&vars), Some(u));
    }

    #[test]
    fn names_fold_by_rfc1459() {
        assert_eq!(user_id("n", "Dan[1]"), user_id("n", "dan{1}"));
        assert_eq!(user_id("n", "a\\b~"), user_id("n", "A|B^"));
        assert_eq!(chat_id("n", "#Chan[x]"), chat_id("n", "#chan{x}"));
        assert_ne!(user_id("n", "dan1"), user_id("n", "dan{1}"));
    }
}
