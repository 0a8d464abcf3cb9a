//! Double puppets: what a user sends from their phone (or any other client of the network) is
//! sent in Matrix by their own Matrix account, as if from Element, rather than by a ghost of
//! their own number. The network tells the core which remote account is whose
//! ([`DoublePuppets::link`], at login); the `double_puppet` config says how the bridge may act
//! as users of the homeserver (a second appservice's token).
//!
//! Events sent this way come back to the bridge like any user's: they carry the
//! [`DOUBLE_PUPPET_SOURCE`] mark, and their IDs are remembered (a redaction has no content to
//! mark), so the router never bridges them back to the network.
//!
//! A user who is not in the room, or a homeserver without the token, gets the ghost as before.

use std::collections::HashMap;
use std::sync::Mutex;

use ruma::{EventId, OwnedEventId, OwnedRoomId, OwnedUserId, UserId};

use crate::ids::RemoteUserId;
use crate::lru::LruSet;
use crate::matrix::{DOUBLE_PUPPET_SOURCE, Intent, MatrixClient};

/// Event IDs of recent double-puppet sends, and rooms users are known to be in.
const REMEMBERED: usize = 10_000;

/// Who is whose own remote account, and how to act as them.
pub struct DoublePuppets {
    /// The homeserver under the double-puppet token; `None` when not configured.
    client: Option<MatrixClient>,
    /// The bot's client (to look at room membership).
    bot: MatrixClient,
    domain: String,
    /// The network ID events are marked with.
    source: &'static str,
    own: Mutex<HashMap<RemoteUserId, OwnedUserId>>,
    sent: Mutex<LruSet<OwnedEventId>>,
    joined: Mutex<LruSet<(OwnedUserId, OwnedRoomId)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DoublePuppets {
    /// Double puppets on `bot`'s homeserver (`domain`) with `token`, if any.
    pub fn new(
        bot: MatrixClient,
        domain: String,
        token: Option<&str>,
        source: &'static str,
    ) -> Self {
        Self {
            client: token.map(|t| bot.with_token(t)),
            bot,
            domain,
            source,
            own: Mutex::default(),
            sent: Mutex::new(LruSet::new(REMEMBERED)),
            joined: Mutex::new(LruSet::new(REMEMBERED)),
        }
    }

    /// `remote` is `user`'s own account on the network (called at login and reconnection).
    pub fn link(&self, user: &UserId, remote: &RemoteUserId) {
        lock(&self.own).insert(remote.clone(), user.to_owned());
    }

    /// `user` logged out: their remote accounts are theirs no more.
    pub fn unlink(&self, user: &UserId) {
        lock(&self.own).retain(|_, u| u != user);
    }

    /// One of a user's logins ended: that account is theirs no more (their others still are).
    pub fn unlink_remote(&self, remote: &RemoteUserId) {
        lock(&self.own).remove(remote);
    }

    /// The Matrix user whose own account `remote` is.
    pub fn owner_of(&self, remote: &RemoteUserId) -> Option<OwnedUserId> {
        lock(&self.own).get(remote).cloned()
    }

    /// Requests as the owner of `remote` in `room`, when double puppeting is configured, the
    /// owner is on this homeserver and is joined to the room.
    pub(crate) async fn speaker(
        &self,
        remote: &RemoteUserId,
        room: &OwnedRoomId,
    ) -> Option<Intent> {
        let client = self.client.as_ref()?;
        let user = self.owner_of(remote)?;
        if user.server_name().as_str() != self.domain {
            return None;
        }
        let key = (user.clone(), room.clone());
        if !lock(&self.joined).touch(&key) {
            let member = self
                .bot
                .bot_intent()
                .get_state(room, "m.room.member", user.as_str())
                .await;
            match member {
                Ok(Some(m)) if m["membership"] == "join" => {
                    lock(&self.joined).insert(key);
                }
                Ok(_) => return None,
                Err(e) => {
                    tracing::debug!(%user, %room, error = %e, "membership unknown; the ghost speaks");
                    return None;
                }
            }
        }
        Some(client.as_double_puppet(&user, self.source))
    }

    /// `user` left `room` (or could not send there): ask again next time.
    pub(crate) fn forget_membership(&self, user: &UserId, room: &OwnedRoomId) {
        lock(&self.joined).remove(&(user.to_owned(), room.clone()));
    }

    /// A double puppet sent `event`.
    pub(crate) fn sent(&self, event: &EventId) {
        lock(&self.sent).insert(event.to_owned());
    }

    /// Whether an event from a real user is one a double puppet sent for this bridge.
    pub fn is_echo(&self, event: &EventId, content: &serde_json::Value) -> bool {
        content.get(DOUBLE_PUPPET_SOURCE).and_then(|s| s.as_str()) == Some(self.source)
            // Nothing was sent as a double puppet when they are not configured: no lock.
            || (self.client.is_some() && lock(&self.sent).contains(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn puppets(token: Option<&str>) -> DoublePuppets {
        let bot = MatrixClient::new(
            &"http://127.0.0.1:1".parse().unwrap(),
            "as",
            "@bot:hs".try_into().unwrap(),
            false,
        )
        .unwrap();
        DoublePuppets::new(bot, "hs".into(), token, "whatsapp")
    }

    #[test]
    fn owners_are_linked_and_unlinked() {
        let dp = puppets(None);
        let me = RemoteUserId::new("+44700");
        let alice: OwnedUserId = "@alice:hs".try_into().unwrap();
        dp.link(&alice, &me);
        assert_eq!(dp.owner_of(&me), Some(alice.clone()));
        dp.unlink(&alice);
        assert_eq!(dp.owner_of(&me), None);
    }

    #[tokio::test]
    async fn without_a_token_the_ghost_speaks() {
        let dp = puppets(None);
        let me = RemoteUserId::new("+44700");
        let alice: OwnedUserId = "@alice:hs".try_into().unwrap();
        dp.link(&alice, &me);
        assert!(
            dp.speaker(&me, &"!r:hs".try_into().unwrap())
                .await
                .is_none()
        );
    }

    #[test]
    fn echoes_are_known_by_mark_or_id() {
        let dp = puppets(Some("dp"));
        let id: OwnedEventId = "$e".try_into().unwrap();
        let marked = serde_json::json!({ DOUBLE_PUPPET_SOURCE: "whatsapp", "body": "hi" });
        let other = serde_json::json!({ DOUBLE_PUPPET_SOURCE: "telegram", "body": "hi" });
        assert!(dp.is_echo(&id, &marked));
        assert!(!dp.is_echo(&id, &other), "another bridge's double puppet");
        assert!(!dp.is_echo(&id, &serde_json::json!({})));
        dp.sent(&id);
        assert!(dp.is_echo(&id, &serde_json::json!({})));
    }
}
