//! Who is identified and who is away, as the bot sees it (IRCv3 `extended-join`,
//! `account-notify`, `account-tag`, `away-notify`), kept for the nicks that have a ghost.
//!
//! Memory: an entry exists only while its nick has a ghost (a member of a `full` or `half`
//! channel, or active in a `lazy` one) *and* there is something to say (logged in or away),
//! so the silent crowd of a `lazy` channel costs nothing; about 100 bytes per entry. The
//! listening bot hears nothing about nicks that share no channel with it.
//!
//! Users see it twice: an away nick's ghost has Matrix presence `unavailable` with the away
//! message as its status (back: `online`; gone from IRC: `offline`), and `whois` adds what
//! the bridge knows when the server's own WHOIS did not say it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use irc::proto::{Command, Message};
use serde_json::json;
use tokio::sync::Notify;

use crate::ids::{fold, user_id};
use crate::net::{IrcNetwork, lock};

/// What the bot knows of one nick.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NickStatus {
    /// The services account it is logged in to.
    pub account: Option<Box<str>>,
    /// Its away message, while away.
    pub away: Option<Box<str>>,
}

impl NickStatus {
    fn is_empty(&self) -> bool {
        self.account.is_none() && self.away.is_none()
    }
}

/// A ghost's Matrix presence.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Presence {
    Online,
    Away(Box<str>),
    Offline,
}

/// Per network: the statuses (folded nick → status) and the presence updates not yet sent.
#[derive(Default)]
pub struct Statuses {
    known: Mutex<HashMap<String, NickStatus>>,
    /// Folded nick → the latest presence to publish (a burst of changes sends only the last).
    pending: Mutex<HashMap<String, Presence>>,
    wake: Arc<Notify>,
    worker: std::sync::OnceLock<()>,
}

/// The account of an `extended-join` JOIN (`*`: none), or of an `account-tag`ged line.
fn account_of(msg: &Message) -> Option<Option<&str>> {
    fn named(a: &str) -> Option<&str> {
        (a != "*" && !a.is_empty()).then_some(a)
    }
    match &msg.command {
        Command::JOIN(_, Some(account), Some(_)) => Some(named(account)),
        Command::ACCOUNT(account) => Some(named(account)),
        _ => crate::tags::get(msg, "account").map(named),
    }
}

/// `AWAY [message]` as the new away message (`Some(None)`: back).
fn away_of(msg: &Message) -> Option<Option<&str>> {
    match &msg.command {
        Command::AWAY(reason) => Some(reason.as_deref().filter(|r| !r.is_empty())),
        _ => None,
    }
}

/// Changes `nick`'s entry with `change` if it has a ghost; returns the presence to publish.
fn update(net: &IrcNetwork, nick: &str, change: impl FnOnce(&mut NickStatus)) -> Option<Presence> {
    let folded = fold(nick);
    if net.is_ours(nick) || !net.has_ghost(&folded) {
        return None;
    }
    let mut known = lock(&net.statuses.known);
    let entry = known.entry(folded.clone()).or_default();
    let was_away = entry.away.clone();
    change(entry);
    let now_away = entry.away.clone();
    if entry.is_empty() {
        known.remove(&folded);
    }
    match (was_away, now_away) {
        (a, b) if a == b => None,
        (_, Some(message)) => Some(Presence::Away(message)),
        (Some(_), None) => Some(Presence::Online),
        (None, None) => None,
    }
}

/// A line from `nick` in a channel: its `account` tag, if any.
pub fn on_message(net: &Arc<IrcNetwork>, nick: &str, msg: &Message) {
    if let Some(account) = account_of(msg) {
        let presence = update(net, nick, |s| s.account = account.map(Into::into));
        publish(net, nick, presence);
    }
}

/// A JOIN (with `extended-join`, the account), an `ACCOUNT` or an `AWAY` line; whether it was
/// one of those.
pub fn on_line(net: &Arc<IrcNetwork>, msg: &Message) -> bool {
    let Some(nick) = msg.source_nickname() else {
        return false;
    };
    let presence = if let Some(away) = away_of(msg) {
        update(net, nick, |s| s.away = away.map(Into::into))
    } else if let Some(account) = account_of(msg) {
        update(net, nick, |s| s.account = account.map(Into::into))
    } else {
        return false;
    };
    publish(net, nick, presence);
    true
}

/// `nick` left a channel: its entry goes if it has no ghost left anywhere.
pub fn left(net: &IrcNetwork, nick: &str) {
    let folded = fold(nick);
    if !net.has_ghost(&folded) {
        lock(&net.statuses.known).remove(&folded);
    }
}

/// `nick` quit IRC: its entry goes, and an away ghost goes offline.
pub fn quit(net: &Arc<IrcNetwork>, nick: &str) {
    let gone = lock(&net.statuses.known).remove(&fold(nick));
    if gone.is_some_and(|s| s.away.is_some()) {
        publish(net, nick, Some(Presence::Offline));
    }
}

/// `old` is now `new`: the entry moves (the old ghost goes offline, the new one away).
pub fn renamed(net: &Arc<IrcNetwork>, old: &str, new: &str) {
    let moved = lock(&net.statuses.known).remove(&fold(old));
    let Some(status) = moved else { return };
    if status.away.is_some() {
        publish(net, old, Some(Presence::Offline));
    }
    let presence = update(net, new, |s| *s = status);
    publish(net, new, presence);
}

/// The bot lost its connection: nothing it knew holds any more.
pub fn clear(net: &IrcNetwork) {
    lock(&net.statuses.known).clear();
}

/// What the bot knows of `nick`, if anything.
pub fn of(net: &IrcNetwork, nick: &str) -> Option<NickStatus> {
    lock(&net.statuses.known).get(&fold(nick)).cloned()
}

/// Queues a presence change of `nick`'s ghost for the network's presence task.
fn publish(net: &Arc<IrcNetwork>, nick: &str, presence: Option<Presence>) {
    let Some(presence) = presence else { return };
    lock(&net.statuses.pending).insert(fold(nick), presence);
    net.statuses.worker.get_or_init(|| {
        let weak = Arc::downgrade(net);
        net.tasks().spawn(presence_task(weak));
    });
    net.statuses.wake.notify_one();
}

/// Sends the queued presence changes one at a time (a homeserver request each).
async fn presence_task(net: std::sync::Weak<IrcNetwork>) {
    loop {
        let Some(strong) = net.upgrade() else { return };
        let next = {
            let mut pending = lock(&strong.statuses.pending);
            let key = pending.keys().next().cloned();
            key.and_then(|k| pending.remove_entry(&k))
        };
        match next {
            Some((nick, presence)) => set_presence(&strong, &nick, presence).await,
            None => {
                // Not holding the network while idle (a permit from a change in between
                // wakes it at once).
                let wake = strong.statuses.wake.clone();
                drop(strong);
                wake.notified().await;
            }
        }
    }
}

async fn set_presence(net: &IrcNetwork, nick: &str, presence: Presence) {
    let host = net.host();
    let ghost = match host.ghosts().ensure(&user_id(&net.name, nick)).await {
        Ok(intent) => intent,
        Err(e) => {
            tracing::debug!(network = %net.name, %nick, error = %e, "no ghost for a presence change");
            return;
        }
    };
    let body = match &presence {
        Presence::Online => json!({"presence": "online", "status_msg": ""}),
        Presence::Away(message) => json!({"presence": "unavailable", "status_msg": &**message}),
        Presence::Offline => json!({"presence": "offline", "status_msg": ""}),
    };
    let mxid = ghost.user_id().to_string();
    let path = ["_matrix", "client", "v3", "presence", &mxid, "status"];
    if let Err(e) = ghost
        .request_json(http::Method::PUT, &path, Some(&body))
        .await
    {
        tracing::debug!(network = %net.name, %nick, error = %e, "presence change not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::parse_str;

    #[test]
    fn accounts_from_extended_join_account_notify_and_tags() {
        let m = |l: &str| parse_str(l).unwrap();
        assert_eq!(
            account_of(&m(":bob!b@h JOIN #c bob :Bob")),
            Some(Some("bob"))
        );
        assert_eq!(account_of(&m(":bob!b@h JOIN #c * :Bob")), Some(None));
        assert_eq!(account_of(&m(":bob!b@h JOIN #c")), None, "no extended-join");
        assert_eq!(account_of(&m(":bob!b@h ACCOUNT acct")), Some(Some("acct")));
        assert_eq!(account_of(&m(":bob!b@h ACCOUNT *")), Some(None));
        assert_eq!(
            account_of(&m("@account=acct :bob!b@h PRIVMSG #c :hi")),
            Some(Some("acct"))
        );
        assert_eq!(account_of(&m(":bob!b@h PRIVMSG #c :hi")), None);
    }

    #[test]
    fn away_lines() {
        let m = |l: &str| parse_str(l).unwrap();
        assert_eq!(
            away_of(&m(":bob!b@h AWAY :gone fishing")),
            Some(Some("gone fishing"))
        );
        assert_eq!(away_of(&m(":bob!b@h AWAY")), Some(None));
        assert_eq!(away_of(&m(":bob!b@h AWAY :")), Some(None));
        assert_eq!(away_of(&m(":bob!b@h PRIVMSG #c :AWAY")), None);
    }
}
