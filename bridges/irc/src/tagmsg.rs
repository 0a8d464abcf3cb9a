//! Replies, reactions and typing through IRCv3 client tags, both ways: a Matrix reply names
//! its target with `+draft/reply`, a Matrix reaction is a `TAGMSG` with `+draft/react`, Matrix
//! typing is `+typing`; and the same tags from IRC become Matrix reactions and the ghost's
//! typing. Only where the server acknowledged `message-tags` (without it a server drops tags
//! and refuses TAGMSG), and only for messages known by their server `msgid`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrybridge_core::events::{Delivered, RemoteEvent, RemoteEventKind, ReplyTarget};
use ferrybridge_core::ids::{PortalKey, RemoteMessageId};
use irc::proto::{Command, Message};
use ruma::OwnedUserId;

use crate::conn::Conn;
use crate::ids::{fold, is_channel, user_id};
use crate::net::IrcNetwork;
use crate::tags::{self, REACT, REPLY, TYPING};

/// The capability client tags need.
pub const MESSAGE_TAGS: &str = "message-tags";

/// IRC clients repeat `+typing=active` every few seconds; a Matrix typing notification lasts
/// 30 s, so it is renewed only this often.
const TYPING_RENEW: Duration = Duration::from_secs(20);
/// Past this many typists, stale entries (a client that vanished mid-sentence) are dropped.
const TYPISTS_MAX: usize = 1000;
/// IRC forgets a typist after 6 s without `active`; Matrix says "typing" once, so a Matrix
/// user's `active` is repeated this often until they stop ...
const TYPING_REPEAT: Duration = Duration::from_secs(3);
/// ... or this long has passed (a stop that never came).
const TYPING_REPEAT_MAX: Duration = Duration::from_secs(120);

/// Who types where on IRC, as last told to Matrix (folded channel and nick).
#[derive(Default)]
pub struct Typists(Mutex<HashMap<(String, String), Instant>>);

impl Typists {
    /// Whether an `active` from `nick` in `chat` is news for Matrix (not renewed lately).
    fn start(&self, chat: &str, nick: &str) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if map.len() >= TYPISTS_MAX {
            map.retain(|_, at| now.duration_since(*at) < TYPING_RENEW * 3);
        }
        let key = (fold(chat), fold(nick));
        match map.get(&key) {
            Some(at) if now.duration_since(*at) < TYPING_RENEW => false,
            _ => {
                map.insert(key, now);
                true
            }
        }
    }

    /// Whether `nick` was shown typing in `chat` (and is not any more).
    fn stop(&self, chat: &str, nick: &str) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(fold(chat), fold(nick))).is_some()
    }
}

/// Matrix users typing on IRC: a generation per user and chat, so a new start or a stop
/// ends the repetition of the previous `active`.
#[derive(Default)]
pub struct Repeats(Mutex<HashMap<(OwnedUserId, String), u64>>);

impl Repeats {
    /// A new generation for `user` in `chat`.
    fn next(&self, user: &OwnedUserId, chat: &str) -> u64 {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry((user.clone(), fold(chat))).or_default();
        *n += 1;
        *n
    }

    /// Whether `generation` is still the latest for `user` in `chat`.
    fn current(&self, user: &OwnedUserId, chat: &str, generation: u64) -> bool {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(user.clone(), fold(chat))) == Some(&generation)
    }

    /// Forgets `user` in `chat` (they stopped).
    fn forget(&self, user: &OwnedUserId, chat: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(user.clone(), fold(chat)));
    }
}

/// `line` with `+draft/reply` naming the replied-to message, when it has a msgid and the
/// connection may send tags.
pub fn reply_tagged(conn: &Conn, reply_to: Option<&ReplyTarget>, line: &str) -> String {
    match reply_to.and_then(|r| tags::msgid_of(&r.message)) {
        Some(msgid) if conn.has_cap(MESSAGE_TAGS) => tags::tagged(&[(REPLY, msgid)], line),
        _ => line.to_owned(),
    }
}

/// A Matrix reaction as a TAGMSG; ignored (as on servers without tags) when the target has
/// no msgid or the server takes no tags: IRC has no other way to say it.
pub fn send_reaction(conn: &Conn, target: &str, message: &RemoteMessageId, key: &str) -> Delivered {
    let Some(msgid) = tags::msgid_of(message) else {
        return Delivered::Ignored;
    };
    if !conn.has_cap(MESSAGE_TAGS) || key.is_empty() {
        return Delivered::Ignored;
    }
    let line = tags::tagged(&[(REACT, key), (REPLY, msgid)], &format!("TAGMSG {target}"));
    conn.send(vec![line]);
    Delivered::Untracked
}

/// Matrix typing as `+typing`, from a puppet that is connected and in the chat already
/// (typing alone never connects anybody); `active` is repeated until the user stops.
pub fn send_typing(
    net: &Arc<IrcNetwork>,
    user: &OwnedUserId,
    target: &str,
    typing: bool,
) -> Delivered {
    let generation = net.typing_repeats.next(user, target);
    if !typing {
        net.typing_repeats.forget(user, target);
    }
    let Some(conn) = net.puppet(user) else {
        return Delivered::Ignored;
    };
    if !conn.is_registered()
        || !conn.has_cap(MESSAGE_TAGS)
        || (is_channel(target) && !conn.in_channel(target))
    {
        return Delivered::Ignored;
    }
    let value = if typing { "active" } else { "done" };
    let line = tags::tagged(&[(TYPING, value)], &format!("TAGMSG {target}"));
    conn.send(vec![line.clone()]);
    if typing {
        let (net2, user, target) = (net.clone(), user.clone(), target.to_owned());
        net.tasks().spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(TYPING_REPEAT).await;
                if !net2.typing_repeats.current(&user, &target, generation)
                    || started.elapsed() > TYPING_REPEAT_MAX
                    || !conn.is_registered()
                {
                    return;
                }
                conn.send(vec![line.clone()]);
            }
        });
    }
    Delivered::Untracked
}

/// A TAGMSG from IRC user `nick` for `portal` (`chat` is the channel, or the nick for a
/// private chat): a reaction or typing.
pub async fn relay(net: &IrcNetwork, portal: PortalKey, chat: &str, nick: &str, msg: &Message) {
    let sender = user_id(&net.name, nick);
    if let Some(key) = tags::get(msg, REACT).filter(|k| !k.is_empty()) {
        let Some(target) = tags::reply_to(msg) else {
            tracing::debug!(%nick, "ignoring a reaction without a usable +draft/reply");
            return;
        };
        let id = match tags::msgid(msg) {
            Some(m) => tags::remote_id(m),
            None => crate::relay::new_message_id(&net.name),
        };
        let kind = RemoteEventKind::Reaction {
            id,
            target,
            sender,
            key: key.to_owned(),
        };
        net.host().send(RemoteEvent { portal, kind }).await;
        return;
    }
    let Some(typing) = tags::typing(msg) else {
        return;
    };
    let news = if typing {
        net.typists.start(chat, nick)
    } else {
        net.typists.stop(chat, nick)
    };
    if news {
        let kind = RemoteEventKind::Typing { sender, typing };
        net.host().send(RemoteEvent { portal, kind }).await;
    }
}

/// A message from `nick` ends their typing (IRC clients need not send `done` first).
pub async fn spoke(net: &IrcNetwork, portal: &PortalKey, chat: &str, nick: &str) {
    if net.typists.stop(chat, nick) {
        let kind = RemoteEventKind::Typing {
            sender: user_id(&net.name, nick),
            typing: false,
        };
        net.host()
            .send(RemoteEvent {
                portal: portal.clone(),
                kind,
            })
            .await;
    }
}

/// The target of a TAGMSG, if `msg` is one.
pub fn tagmsg_target(msg: &Message) -> Option<&str> {
    match &msg.command {
        Command::Raw(cmd, params) if cmd.eq_ignore_ascii_case("TAGMSG") => {
            params.first().map(String::as_str)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_is_renewed_only_now_and_then_and_stops_once() {
        let t = Typists::default();
        assert!(t.start("#c", "Bob"));
        assert!(!t.start("#C", "bob"), "a repeat within the renewal time");
        assert!(t.start("#d", "bob"), "another channel");
        assert!(t.stop("#c", "BOB"));
        assert!(!t.stop("#c", "bob"));
    }

    #[test]
    fn a_new_start_or_a_stop_ends_the_repetition() {
        let r = Repeats::default();
        let u: OwnedUserId = "@a:hs".try_into().unwrap();
        let first = r.next(&u, "#C");
        assert!(r.current(&u, "#c", first));
        let second = r.next(&u, "#c");
        assert!(!r.current(&u, "#c", first) && r.current(&u, "#c", second));
        r.forget(&u, "#c");
        assert!(!r.current(&u, "#c", second));
    }

    #[test]
    fn tagmsg_targets() {
        let m = crate::line::parse_str("@+typing=active :a!b@c TAGMSG #chan").unwrap();
        assert_eq!(tagmsg_target(&m), Some("#chan"));
        let m = crate::line::parse_str(":a!b@c TAGMSG").unwrap();
        assert_eq!(tagmsg_target(&m), None);
        let m = crate::line::parse_str(":a!b@c PRIVMSG #c :x").unwrap();
        assert_eq!(tagmsg_target(&m), None);
    }
}
