//! MUC bookkeeping: which Matrix users' puppets are (being) joined to which rooms under which
//! nick, who else is in each room, and the IDs of messages we sent (to drop their reflection).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use ruma::OwnedUserId;
use tokio::sync::oneshot;
use tokio_xmpp::minidom::Element;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::presence::Presence;

use crate::xml;

/// How many sent IDs to remember for reflection dedupe.
const SENT_MEMORY: usize = 4096;
/// Nick conflicts we try to resolve before giving up.
const MAX_NICK_ATTEMPTS: u32 = 5;

/// A join waiting for the room's answer.
pub type JoinWaiter = oneshot::Receiver<Result<(), String>>;

/// What [`Mucs::begin_join`] decided.
pub enum JoinStart {
    /// Already in the room.
    Joined,
    /// Wait for the answer; send `presence` first if it is `Some` (a join already in flight
    /// has `None`).
    Wait(JoinWaiter, Option<Presence>),
}

struct Slot {
    user: OwnedUserId,
    jid: FullJid,
    base_nick: String,
    nick: String,
    attempts: u32,
    joined: bool,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
}

#[derive(Default)]
struct Room {
    /// In join order: the first one receives the room's traffic for the bridge.
    puppets: Vec<Slot>,
    /// Other occupants by nick, with their real JID when the room tells us.
    occupants: HashMap<String, Option<BareJid>>,
}

#[derive(Default)]
struct State {
    rooms: HashMap<BareJid, Room>,
    sent: HashSet<String>,
    sent_order: VecDeque<String>,
}

/// All MUC state; cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Mucs {
    state: Mutex<State>,
}

/// The join presence: `<x xmlns=muc><history maxstanzas='0'/></x>` suppresses the replay.
pub fn join_presence(from: &FullJid, room: &BareJid, nick: &str) -> Option<Presence> {
    let to = FullJid::new(&format!("{room}/{nick}")).ok()?;
    let mut x = Element::builder("x", xml::NS_MUC).build();
    x.append_child(xml::build("history", xml::NS_MUC, &[("maxstanzas", "0")]));
    let mut p = Presence::available()
        .with_from(Jid::from(from.clone()))
        .with_to(Jid::from(to));
    p.payloads.push(x);
    Some(p)
}

/// The leave presence.
pub fn leave_presence(from: &FullJid, room: &BareJid, nick: &str) -> Option<Presence> {
    let to = FullJid::new(&format!("{room}/{nick}")).ok()?;
    Some(
        Presence::unavailable()
            .with_from(Jid::from(from.clone()))
            .with_to(Jid::from(to)),
    )
}

/// A nick usable in a MUC: control characters removed, trimmed, never empty.
pub fn clean_nick(name: &str, fallback: &str) -> String {
    let cleaned: String = name.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        fallback.to_owned()
    } else {
        cleaned.chars().take(64).collect()
    }
}

impl Mucs {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts (or joins in on) `user`'s join of `room` as `nick`.
    pub fn begin_join(
        &self,
        room: &BareJid,
        user: &OwnedUserId,
        jid: &FullJid,
        nick: &str,
    ) -> JoinStart {
        let mut st = self.lock();
        let r = st.rooms.entry(room.clone()).or_default();
        let (tx, rx) = oneshot::channel();
        if let Some(slot) = r.puppets.iter_mut().find(|s| &s.user == user) {
            if slot.joined {
                return JoinStart::Joined;
            }
            slot.waiters.push(tx);
            return JoinStart::Wait(rx, None);
        }
        r.puppets.push(Slot {
            user: user.clone(),
            jid: jid.clone(),
            base_nick: nick.to_owned(),
            nick: nick.to_owned(),
            attempts: 0,
            joined: false,
            waiters: vec![tx],
        });
        JoinStart::Wait(rx, join_presence(jid, room, nick))
    }

    /// A presence from `room/nick` to `to`: if it is a puppet's own, marks it joined.
    pub fn self_presence(&self, room: &BareJid, to: &Jid, nick: &str) -> bool {
        let mut st = self.lock();
        let Some(r) = st.rooms.get_mut(room) else {
            return false;
        };
        let Some(slot) = r
            .puppets
            .iter_mut()
            .find(|s| s.jid.as_str() == to.as_str() && s.nick == nick)
        else {
            return false;
        };
        slot.joined = true;
        for w in slot.waiters.drain(..) {
            let _ = w.send(Ok(()));
        }
        true
    }

    /// A puppet's presence was refused. On a nick conflict, returns the presence of a retry
    /// with another nick; otherwise fails the join and returns `None`.
    pub fn join_error(
        &self,
        room: &BareJid,
        to: &Jid,
        conflict: bool,
        reason: &str,
    ) -> Option<Presence> {
        let mut st = self.lock();
        let r = st.rooms.get_mut(room)?;
        let idx = r
            .puppets
            .iter()
            .position(|s| s.jid.as_str() == to.as_str())?;
        let slot = &mut r.puppets[idx];
        if conflict && slot.attempts < MAX_NICK_ATTEMPTS {
            slot.attempts += 1;
            slot.nick = match slot.attempts {
                1 => format!("{} [matrix]", slot.base_nick),
                n => format!("{} [matrix {n}]", slot.base_nick),
            };
            return join_presence(&slot.jid, room, &slot.nick);
        }
        let slot = r.puppets.remove(idx);
        for w in slot.waiters {
            let _ = w.send(Err(reason.to_owned()));
        }
        None
    }

    /// Changes a joined puppet's nick; returns the presence that asks the room for it, or
    /// `None` when the puppet is not joined or already has that nick.
    pub fn rename(&self, room: &BareJid, user: &OwnedUserId, nick: &str) -> Option<Presence> {
        let mut st = self.lock();
        let slot = st
            .rooms
            .get_mut(room)?
            .puppets
            .iter_mut()
            .find(|s| &s.user == user && s.joined)?;
        if slot.base_nick == nick {
            return None;
        }
        slot.base_nick = nick.to_owned();
        slot.nick = nick.to_owned();
        slot.attempts = 0;
        join_presence(&slot.jid, room, nick)
    }

    /// The puppet of `user` left `room` (or was removed): forgets it.
    pub fn remove(&self, room: &BareJid, user: &OwnedUserId) -> Option<(FullJid, String)> {
        let mut st = self.lock();
        let r = st.rooms.get_mut(room)?;
        let idx = r.puppets.iter().position(|s| &s.user == user)?;
        let slot = r.puppets.remove(idx);
        Some((slot.jid, slot.nick))
    }

    /// The Matrix user whose puppet is `to` in `room`, with its nick.
    pub fn puppet_by_jid(&self, room: &BareJid, to: &Jid) -> Option<(OwnedUserId, String)> {
        let st = self.lock();
        st.rooms.get(room).and_then(|r| {
            r.puppets
                .iter()
                .find(|s| s.jid.as_str() == to.as_str())
                .map(|s| (s.user.clone(), s.nick.clone()))
        })
    }

    /// Whether `nick` in `room` is one of our puppets.
    pub fn is_puppet_nick(&self, room: &BareJid, nick: &str) -> bool {
        let st = self.lock();
        st.rooms
            .get(room)
            .is_some_and(|r| r.puppets.iter().any(|s| s.nick == nick))
    }

    /// Whether `to` is the puppet that receives `room`'s traffic for the bridge (every
    /// puppet gets a copy; only one is bridged).
    pub fn is_primary(&self, room: &BareJid, to: &Jid) -> bool {
        let st = self.lock();
        st.rooms
            .get(room)
            .and_then(|r| r.puppets.first())
            .is_some_and(|s| s.jid.as_str() == to.as_str())
    }

    /// Whether `user`'s puppet is joined to `room`.
    pub fn is_joined(&self, room: &BareJid, user: &OwnedUserId) -> bool {
        let st = self.lock();
        st.rooms
            .get(room)
            .is_some_and(|r| r.puppets.iter().any(|s| &s.user == user && s.joined))
    }

    /// Records an occupant; `true` if it is new.
    pub fn occupant_seen(&self, room: &BareJid, nick: &str, real: Option<BareJid>) -> bool {
        let mut st = self.lock();
        let r = st.rooms.entry(room.clone()).or_default();
        r.occupants.insert(nick.to_owned(), real).is_none()
    }

    /// Forgets an occupant, returning their real JID if known.
    pub fn occupant_gone(&self, room: &BareJid, nick: &str) -> Option<Option<BareJid>> {
        let mut st = self.lock();
        st.rooms.get_mut(room)?.occupants.remove(nick)
    }

    /// The real JID of an occupant, if the room disclosed it.
    pub fn occupant_jid(&self, room: &BareJid, nick: &str) -> Option<BareJid> {
        let st = self.lock();
        st.rooms.get(room)?.occupants.get(nick).cloned().flatten()
    }

    /// Whether `room` is a MUC we are in.
    pub fn knows_room(&self, room: &BareJid) -> bool {
        self.lock().rooms.contains_key(room)
    }

    /// Remembers an ID we sent, to drop the room's reflection of it.
    pub fn remember_sent(&self, id: &str) {
        let mut st = self.lock();
        if st.sent.insert(id.to_owned()) {
            st.sent_order.push_back(id.to_owned());
            while st.sent_order.len() > SENT_MEMORY {
                if let Some(old) = st.sent_order.pop_front() {
                    st.sent.remove(&old);
                }
            }
        }
    }

    /// Whether we sent a message with this ID.
    pub fn was_sent(&self, id: &str) -> bool {
        self.lock().sent.contains(id)
    }

    /// After a reconnect: everything is forgotten; joins in flight fail so callers retry.
    pub fn reset(&self) {
        let mut st = self.lock();
        for (_, r) in st.rooms.drain() {
            for s in r.puppets {
                for w in s.waiters {
                    let _ = w.send(Err("the XMPP connection was reset".into()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::UserId;

    fn ids() -> (BareJid, OwnedUserId, FullJid) {
        (
            BareJid::new("room@conference.localhost").unwrap(),
            UserId::parse("@alice:localhost").unwrap(),
            FullJid::new("alice_localhost@matrix.localhost/bridge").unwrap(),
        )
    }

    #[tokio::test]
    async fn join_then_self_presence() {
        let m = Mucs::default();
        let (room, user, jid) = ids();
        let JoinStart::Wait(rx, Some(p)) = m.begin_join(&room, &user, &jid, "Alice") else {
            panic!("expected a fresh join");
        };
        assert_eq!(p.to.unwrap().as_str(), "room@conference.localhost/Alice");
        assert!(matches!(
            m.begin_join(&room, &user, &jid, "Alice"),
            JoinStart::Wait(_, None)
        ));
        assert!(m.is_primary(&room, &Jid::from(jid.clone())));
        assert!(m.self_presence(&room, &Jid::from(jid.clone()), "Alice"));
        assert_eq!(rx.await.unwrap(), Ok(()));
        assert!(m.is_joined(&room, &user));
        assert!(matches!(
            m.begin_join(&room, &user, &jid, "Alice"),
            JoinStart::Joined
        ));
    }

    #[tokio::test]
    async fn nick_conflict_retries_then_fails() {
        let m = Mucs::default();
        let (room, user, jid) = ids();
        let JoinStart::Wait(rx, _) = m.begin_join(&room, &user, &jid, "Alice") else {
            panic!()
        };
        let to = Jid::from(jid.clone());
        let retry = m.join_error(&room, &to, true, "conflict").unwrap();
        assert_eq!(
            retry.to.unwrap().as_str(),
            "room@conference.localhost/Alice [matrix]"
        );
        for _ in 1..MAX_NICK_ATTEMPTS {
            assert!(m.join_error(&room, &to, true, "conflict").is_some());
        }
        assert!(m.join_error(&room, &to, true, "conflict").is_none());
        assert_eq!(rx.await.unwrap(), Err("conflict".into()));
    }

    #[test]
    fn rename_only_when_joined_and_different() {
        let m = Mucs::default();
        let (room, user, jid) = ids();
        let _ = m.begin_join(&room, &user, &jid, "Alice");
        assert!(m.rename(&room, &user, "Alicia").is_none(), "not joined yet");
        m.self_presence(&room, &Jid::from(jid.clone()), "Alice");
        assert!(m.rename(&room, &user, "Alice").is_none());
        let p = m.rename(&room, &user, "Alicia").unwrap();
        assert_eq!(p.to.unwrap().as_str(), "room@conference.localhost/Alicia");
        assert!(m.is_puppet_nick(&room, "Alicia"));
    }

    #[test]
    fn sent_ids_are_bounded() {
        let m = Mucs::default();
        for i in 0..SENT_MEMORY + 10 {
            m.remember_sent(&i.to_string());
        }
        assert!(!m.was_sent("0"));
        assert!(m.was_sent(&(SENT_MEMORY + 9).to_string()));
    }

    #[test]
    fn nicks() {
        assert_eq!(clean_nick(" A\u{7}b ", "x"), "Ab");
        assert_eq!(clean_nick("\n", "x"), "x");
    }
}
