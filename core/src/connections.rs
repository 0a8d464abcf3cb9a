//! Per-login connection state, reported by networks as typed [`ConnectionState`] values.
//!
//! One place decides what a user is told: a change is announced once (the same state twice is
//! not news), a first `Connecting`/`Connected` at start-up is quiet, and `Connected` after a
//! disconnect is announced as a reconnection. `ping` shows the current states; metrics count
//! logins per state; `/ready` asks whether the network's own connection is up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ruma::OwnedUserId;

use crate::ids::LoginSlot;
use crate::seam::ConnectionState;

/// Whose connection a state belongs to: a user's login, or the bridge's own (the IRC bot,
/// the XMPP component), which has no user to tell.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LoginKey {
    /// The Matrix user, or `None` for the bridge's own connection.
    pub user: Option<OwnedUserId>,
    /// Which login of that user: a server name, an account; empty if the network has one.
    pub login: String,
}

/// The `login` of a [`LoginKey`] for one of a user's numbered logins: empty for the first
/// (notices name the network), "Telegram login 2" for later ones, so notices and `ping` say
/// which account they are about.
pub fn slot_label(network: &str, slot: LoginSlot) -> String {
    if slot.is_first() {
        String::new()
    } else {
        format!("{network} login {slot}")
    }
}

/// What the user should be told about a state change, if anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announcement {
    Quiet,
    Tell(String),
}

/// The states of every login of a running bridge. Cheap to clone.
#[derive(Clone, Default)]
pub struct ConnectionStates {
    inner: Arc<Mutex<BTreeMap<LoginKey, Entry>>>,
}

#[derive(Clone, Debug)]
struct Entry {
    state: ConnectionState,
    /// Whether this login was ever connected in this run (a later `Connected` is a reconnection).
    was_connected: bool,
    /// The last problem the user was told about since the last connection, so a server that
    /// keeps refusing us for the same reason is not announced at every reconnect attempt.
    told: Option<ConnectionState>,
}

impl ConnectionStates {
    /// Records `state` for `key` and says what to tell the user (the caller sends it).
    pub fn update(&self, key: &LoginKey, state: ConnectionState, network: &str) -> Announcement {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let label = if key.login.is_empty() {
            network
        } else {
            key.login.as_str()
        };
        let previous = map.get(key).cloned();
        let was_connected = previous.as_ref().is_some_and(|e| e.was_connected);
        let told = previous.as_ref().and_then(|e| e.told.clone());
        let repeat =
            previous.as_ref().is_some_and(|e| e.state == state) || told.as_ref() == Some(&state);
        let problem = !matches!(
            state,
            ConnectionState::Connecting | ConnectionState::Connected
        );
        map.insert(
            key.clone(),
            Entry {
                was_connected: was_connected || state.is_connected(),
                told: match (&state, problem) {
                    (ConnectionState::Connected, _) => None,
                    (_, true) => Some(state.clone()),
                    (_, false) => told,
                },
                state: state.clone(),
            },
        );
        drop(map);
        if repeat {
            return Announcement::Quiet;
        }
        match &state {
            ConnectionState::Connecting => Announcement::Quiet,
            ConnectionState::Connected if !was_connected => Announcement::Quiet,
            ConnectionState::Connected => Announcement::Tell(format!("Reconnected to {label}.")),
            ConnectionState::TransientDisconnect { reason } => Announcement::Tell(format!(
                "Disconnected from {label} ({reason}); reconnecting."
            )),
            ConnectionState::BadCredentials { reason } => {
                Announcement::Tell(format!("{label} refused your login: {reason}."))
            }
            ConnectionState::LoggedOut => Announcement::Tell(format!(
                "You were logged out of {label}; send `login` to log in again."
            )),
            ConnectionState::UnknownError { reason } => {
                Announcement::Tell(format!("The connection to {label} stopped: {reason}."))
            }
        }
    }

    /// Forgets `key` (the user logged out, the connection was removed on purpose).
    /// Whether `state` for `key` would be a reconnect: connected again after having been
    /// connected and then not (what was missed meanwhile is worth catching up on).
    pub fn is_reconnect(&self, key: &LoginKey, state: &ConnectionState) -> bool {
        state.is_connected()
            && self
                .inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(key)
                .is_some_and(|e| e.was_connected && !e.state.is_connected())
    }

    pub fn remove(&self, key: &LoginKey) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// The states of `user`'s logins, for `ping`.
    pub fn of_user(&self, user: &OwnedUserId) -> Vec<(String, ConnectionState)> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(k, _)| k.user.as_ref() == Some(user))
            .map(|(k, e)| (k.login.clone(), e.state.clone()))
            .collect()
    }

    /// The bridge's own connections (no user) that are not connected, for `/ready`.
    pub fn own_problems(&self) -> Vec<(String, ConnectionState)> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(k, e)| k.user.is_none() && !e.state.is_connected())
            .map(|(k, e)| (k.login.clone(), e.state.clone()))
            .collect()
    }

    /// How many logins are in each state (labels from [`ConnectionState::label`]).
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> =
            ConnectionState::LABELS.iter().map(|l| (*l, 0)).collect();
        for entry in self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            *counts.entry(entry.state.label()).or_default() += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LoginKey {
        LoginKey {
            user: Some(ruma::owned_user_id!("@a:localhost")),
            login: "libera".into(),
        }
    }
    fn down(reason: &str) -> ConnectionState {
        ConnectionState::TransientDisconnect {
            reason: reason.into(),
        }
    }

    #[test]
    fn start_up_is_quiet_and_changes_are_told_once() {
        let s = ConnectionStates::default();
        let k = key();
        assert_eq!(
            s.update(&k, ConnectionState::Connecting, "IRC"),
            Announcement::Quiet
        );
        assert_eq!(
            s.update(&k, ConnectionState::Connected, "IRC"),
            Announcement::Quiet
        );
        let told = s.update(&k, down("ping timeout"), "IRC");
        assert_eq!(
            told,
            Announcement::Tell("Disconnected from libera (ping timeout); reconnecting.".into())
        );
        assert_eq!(
            s.update(&k, down("ping timeout"), "IRC"),
            Announcement::Quiet
        );
        assert_eq!(
            s.update(&k, ConnectionState::Connecting, "IRC"),
            Announcement::Quiet
        );
        // Refused again for the same reason on the next attempt: not news.
        assert_eq!(
            s.update(&k, down("ping timeout"), "IRC"),
            Announcement::Quiet
        );
        assert_eq!(
            s.update(&k, ConnectionState::Connecting, "IRC"),
            Announcement::Quiet
        );
        assert_eq!(
            s.update(&k, ConnectionState::Connected, "IRC"),
            Announcement::Tell("Reconnected to libera.".into())
        );
        assert_eq!(s.counts()["connected"], 1);
        assert_eq!(s.of_user(k.user.as_ref().unwrap()).len(), 1);
    }

    #[test]
    fn own_connection_problems_are_listed() {
        let s = ConnectionStates::default();
        let own = LoginKey {
            user: None,
            login: String::new(),
        };
        s.update(&own, ConnectionState::Connecting, "XMPP");
        assert_eq!(s.own_problems().len(), 1);
        s.update(&own, ConnectionState::Connected, "XMPP");
        assert!(s.own_problems().is_empty());
    }
}
