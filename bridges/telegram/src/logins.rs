//! A Matrix user's Telegram logins: the sessions in memory, by user and login number, and
//! where each login is remembered across restarts.
//!
//! The first login keeps its place in the core's `login_state` (as before a user could have
//! several); later ones are rows of [`MORE_LOGINS`] keyed `@user:server|2`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use ferrybridge_core::bridge::BridgeError;
use ferrybridge_core::ids::{LoginSlot, UserLogin};
use ferrybridge_core::store::{Store, StoreError};
use ruma::OwnedUserId;

use crate::network::TgUser;
use crate::session::UserSession;

/// Store namespace of a user's logins after the first.
const MORE_LOGINS: &str = "telegram-logins";

/// Every login's session, by Matrix user then login number.
#[derive(Default)]
pub struct Logins {
    map: Mutex<HashMap<OwnedUserId, BTreeMap<LoginSlot, Arc<UserSession>>>>,
}

impl Logins {
    fn map(&self) -> MutexGuard<'_, HashMap<OwnedUserId, BTreeMap<LoginSlot, Arc<UserSession>>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `user`'s lowest-numbered login.
    pub fn first(&self, user: &OwnedUserId) -> Option<Arc<UserSession>> {
        self.map()
            .get(user)
            .and_then(|s| s.values().next().cloned())
    }

    pub fn at(&self, user: &OwnedUserId, slot: LoginSlot) -> Option<Arc<UserSession>> {
        self.map().get(user).and_then(|s| s.get(&slot).cloned())
    }

    /// Every login of `user`, by number.
    pub fn of(&self, user: &OwnedUserId) -> Vec<Arc<UserSession>> {
        self.map()
            .get(user)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every login, by Matrix ID then number (a stable order to try them in).
    pub fn all(&self) -> Vec<Arc<UserSession>> {
        let mut all: Vec<_> = self
            .map()
            .values()
            .flat_map(|s| s.values().cloned())
            .collect();
        all.sort_by(|a, b| (&a.mxid, a.slot).cmp(&(&b.mxid, b.slot)));
        all
    }

    /// Adds a session; returns the one it replaces.
    pub fn insert(&self, session: Arc<UserSession>) -> Option<Arc<UserSession>> {
        self.map()
            .entry(session.mxid.clone())
            .or_default()
            .insert(session.slot, session)
    }

    /// Takes a login's session out.
    pub fn take(&self, user: &OwnedUserId, slot: LoginSlot) -> Option<Arc<UserSession>> {
        let mut map = self.map();
        let sessions = map.get_mut(user)?;
        let session = sessions.remove(&slot);
        if sessions.is_empty() {
            map.remove(user);
        }
        session
    }

    /// Takes every session out (shutdown).
    pub fn drain(&self) -> Vec<Arc<UserSession>> {
        self.map()
            .drain()
            .flat_map(|(_, s)| s.into_values())
            .collect()
    }

    pub fn count(&self) -> usize {
        self.map().values().map(BTreeMap::len).sum()
    }

    /// The number a new login of `user` gets, or why there is none.
    pub fn free_slot(&self, user: &OwnedUserId) -> Result<LoginSlot, BridgeError> {
        let taken: Vec<LoginSlot> = self
            .map()
            .get(user)
            .map(|s| s.keys().copied().collect())
            .unwrap_or_default();
        LoginSlot::for_new_login(taken).map_err(|e| BridgeError::Invalid(e.to_string()))
    }
}

/// Remembers that `user`'s login `slot` is `me`, so a restart reconnects it.
pub async fn remember(
    store: &Store,
    user: &OwnedUserId,
    slot: LoginSlot,
    me: &TgUser,
) -> Result<(), StoreError> {
    let state = serde_json::json!({ "id": me.id, "name": me.display_name(), "phone": me.phone });
    if slot.is_first() {
        store.set_login_state(user, Some(&state)).await
    } else {
        store
            .kv_set(MORE_LOGINS, &more_key(user, slot), &state)
            .await
    }
}

/// Forgets a login (logged out): a restart does not reconnect it.
pub async fn forget(store: &Store, user: &OwnedUserId, slot: LoginSlot) -> Result<(), StoreError> {
    if slot.is_first() {
        store.set_login_state(user, None).await
    } else {
        store.kv_delete(MORE_LOGINS, &more_key(user, slot)).await
    }
}

/// Every login to reconnect at start, first logins first.
pub async fn remembered(store: &Store) -> Result<Vec<(OwnedUserId, LoginSlot)>, StoreError> {
    let mut logins: Vec<(OwnedUserId, LoginSlot)> = store
        .logged_in_users()
        .await?
        .into_iter()
        .map(|u| (u.mxid, LoginSlot::FIRST))
        .collect();
    for (key, _) in store.kv_list(MORE_LOGINS, "").await? {
        match parse_more_key(&key) {
            Some(login) => logins.push(login),
            None => tracing::warn!(key, "ignoring a malformed stored Telegram login"),
        }
    }
    Ok(logins)
}

/// The [`MORE_LOGINS`] key of a later login: `@user:server|2`.
fn more_key(user: &OwnedUserId, slot: LoginSlot) -> String {
    UserLogin::new(user.clone(), slot).store_key()
}

/// Inverse of [`more_key`]; `None` for what no version wrote (the first login is not kept
/// here).
fn parse_more_key(key: &str) -> Option<(OwnedUserId, LoginSlot)> {
    UserLogin::parse_store_key(key)
        .filter(|l| !l.slot.is_first())
        .map(|l| (l.user, l.slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_logins_keys_round_trip_and_junk_is_refused() {
        let user: OwnedUserId = "@alice:example.org".try_into().unwrap();
        let two = LoginSlot::new(2).unwrap();
        assert_eq!(parse_more_key(&more_key(&user, two)), Some((user, two)));
        for junk in [
            "",
            "@alice:example.org",
            "@alice:example.org|1",
            "@alice:example.org|x",
            "nobody|2",
        ] {
            assert_eq!(parse_more_key(junk), None, "{junk}");
        }
    }
}
