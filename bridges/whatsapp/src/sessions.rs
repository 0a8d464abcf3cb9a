//! The linked devices of all Matrix users: which login of which user is linked as which
//! WhatsApp account, the open connection, and the contact names heard from WhatsApp (it has no
//! "all contacts" call). A user may link several accounts, numbered ([`UserLogin`]); each
//! keeps its own session file, contacts and private chats.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use ferrybridge_core::BridgeHost;
use ferrybridge_core::ids::{LoginSlot, UserLogin};
use ruma::OwnedUserId;

use crate::jid::Phone;
use crate::network::WhatsAppNetwork;

/// Store namespace: login ([`UserLogin::store_key`]) → linked account digits.
pub const LOGINS_NS: &str = "whatsapp-logins";
/// Store namespace prefix of a login's contact names (`whatsapp-contacts/<login>`).
pub const CONTACTS_NS: &str = "whatsapp-contacts";

/// One user's linked device.
#[derive(Clone)]
pub struct Session {
    pub account: Phone,
    pub net: Arc<dyn WhatsAppNetwork>,
    /// The task relaying the device's events, aborted when the session ends.
    pub pump: Arc<tokio::task::AbortHandle>,
}

/// All sessions, by login.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<BTreeMap<UserLogin, Session>>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<UserLogin, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn get(&self, login: &UserLogin) -> Option<Session> {
        self.lock().get(login).cloned()
    }
    /// `user`'s lowest-numbered login: what commands without `--login` use.
    pub fn first(&self, user: &OwnedUserId) -> Option<(UserLogin, Session)> {
        self.of(user).into_iter().next()
    }
    /// Every login of `user`, by number.
    pub fn of(&self, user: &OwnedUserId) -> Vec<(UserLogin, Session)> {
        self.lock()
            .iter()
            .filter(|(l, _)| l.user == *user)
            .map(|(l, s)| (l.clone(), s.clone()))
            .collect()
    }
    /// The number a new login of `user` gets, or why there is none.
    pub fn free_slot(&self, user: &OwnedUserId) -> Result<LoginSlot, String> {
        LoginSlot::for_new_login(self.of(user).into_iter().map(|(l, _)| l.slot))
            .map_err(|e| e.to_string())
    }
    pub fn insert(&self, login: UserLogin, session: Session) {
        if let Some(old) = self.lock().insert(login, session) {
            old.pump.abort();
        }
    }
    pub fn remove(&self, login: &UserLogin) -> Option<Session> {
        let old = self.lock().remove(login);
        if let Some(old) = &old {
            old.pump.abort();
        }
        old
    }
    /// Every login with a session, by user then number.
    pub fn all(&self) -> Vec<(UserLogin, Session)> {
        self.lock()
            .iter()
            .map(|(l, s)| (l.clone(), s.clone()))
            .collect()
    }
    pub fn len(&self) -> usize {
        self.lock().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a login's session file lives in `dir`: named after the user, plus `~2` for a
/// second login (`~` is not in the user-derived part, so names cannot collide).
pub fn session_path(dir: &std::path::Path, login: &UserLogin) -> PathBuf {
    let safe: String = login
        .user
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if login.slot.is_first() {
        dir.join(format!("{safe}.db"))
    } else {
        dir.join(format!("{safe}~{}.db", login.slot))
    }
}

fn contacts_ns(login: &UserLogin) -> String {
    format!("{CONTACTS_NS}/{}", login.store_key())
}

/// Remembers a contact's name; true when it is new or changed.
pub async fn remember_contact(
    host: &BridgeHost,
    login: &UserLogin,
    phone: &Phone,
    name: &str,
) -> bool {
    let ns = contacts_ns(login);
    let old: Option<String> = host
        .store()
        .kv_get(&ns, phone.digits())
        .await
        .ok()
        .flatten();
    if old.as_deref() == Some(name) {
        return false;
    }
    if let Err(e) = host
        .store()
        .kv_set(&ns, phone.digits(), &name.to_owned())
        .await
    {
        tracing::warn!(%login, error = %e, "could not store a contact name");
    }
    true
}

/// The contacts of a login, by phone, sorted.
pub async fn contacts(host: &BridgeHost, login: &UserLogin) -> BTreeMap<Phone, String> {
    let rows = host
        .store()
        .kv_list(&contacts_ns(login), "")
        .await
        .unwrap_or_default();
    rows.into_iter()
        .filter_map(|(k, v)| Some((Phone::parse(&k).ok()?, v.as_str()?.to_owned())))
        .collect()
}

/// A contact's name, if known.
pub async fn contact_name(host: &BridgeHost, login: &UserLogin, phone: &Phone) -> Option<String> {
    host.store()
        .kv_get(&contacts_ns(login), phone.digits())
        .await
        .ok()
        .flatten()
}

/// Forgets a login (not its portals); `account` is no longer the user's own.
pub async fn forget_login(host: &BridgeHost, login: &UserLogin, account: Option<&Phone>) {
    if let Some(account) = account {
        host.ghosts()
            .double_puppets()
            .unlink_remote(&account.remote_user());
    }
    let _ = host.store().kv_delete(LOGINS_NS, &login.store_key()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_files_are_safe_names() {
        let user: OwnedUserId = "@al/ice:ex.org".try_into().unwrap();
        let p = session_path(std::path::Path::new("/s"), &UserLogin::first(user.clone()));
        assert_eq!(p, PathBuf::from("/s/_al_ice_ex.org.db"));
        let second = UserLogin::new(user, LoginSlot::new(2).unwrap());
        let p = session_path(std::path::Path::new("/s"), &second);
        assert_eq!(p, PathBuf::from("/s/_al_ice_ex.org~2.db"));
    }
}
