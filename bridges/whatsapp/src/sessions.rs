//! The linked devices of all Matrix users: which user is linked as which WhatsApp account, the
//! open connection, and the contact names heard from WhatsApp (it has no "all contacts" call).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use ferrybridge_core::BridgeHost;
use ruma::OwnedUserId;

use crate::jid::Phone;
use crate::network::WhatsAppNetwork;

/// Store namespace: Matrix user → linked account digits.
pub const LOGINS_NS: &str = "whatsapp-logins";
/// Store namespace prefix of a user's contact names (`whatsapp-contacts/<mxid>`).
pub const CONTACTS_NS: &str = "whatsapp-contacts";

/// One user's linked device.
#[derive(Clone)]
pub struct Session {
    pub account: Phone,
    pub net: Arc<dyn WhatsAppNetwork>,
    /// The task relaying the device's events, aborted when the session ends.
    pub pump: Arc<tokio::task::AbortHandle>,
}

/// All sessions, by Matrix user.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<OwnedUserId, Session>>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<OwnedUserId, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn get(&self, user: &OwnedUserId) -> Option<Session> {
        self.lock().get(user).cloned()
    }
    pub fn insert(&self, user: OwnedUserId, session: Session) {
        if let Some(old) = self.lock().insert(user, session) {
            old.pump.abort();
        }
    }
    pub fn remove(&self, user: &OwnedUserId) -> Option<Session> {
        let old = self.lock().remove(user);
        if let Some(old) = &old {
            old.pump.abort();
        }
        old
    }
    /// Every user with a session.
    pub fn all(&self) -> Vec<(OwnedUserId, Session)> {
        self.lock()
            .iter()
            .map(|(u, s)| (u.clone(), s.clone()))
            .collect()
    }
    pub fn len(&self) -> usize {
        self.lock().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where `user`'s session file lives in `dir`.
pub fn session_path(dir: &std::path::Path, user: &OwnedUserId) -> PathBuf {
    let safe: String = user
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
    dir.join(format!("{safe}.db"))
}

fn contacts_ns(user: &OwnedUserId) -> String {
    format!("{CONTACTS_NS}/{user}")
}

/// Remembers a contact's name; true when it is new or changed.
pub async fn remember_contact(
    host: &BridgeHost,
    user: &OwnedUserId,
    phone: &Phone,
    name: &str,
) -> bool {
    let ns = contacts_ns(user);
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
        tracing::warn!(%user, error = %e, "could not store a contact name");
    }
    true
}

/// The contacts of `user`, by phone, sorted.
pub async fn contacts(host: &BridgeHost, user: &OwnedUserId) -> BTreeMap<Phone, String> {
    let rows = host
        .store()
        .kv_list(&contacts_ns(user), "")
        .await
        .unwrap_or_default();
    rows.into_iter()
        .filter_map(|(k, v)| Some((Phone::parse(&k).ok()?, v.as_str()?.to_owned())))
        .collect()
}

/// A contact's name, if known.
pub async fn contact_name(host: &BridgeHost, user: &OwnedUserId, phone: &Phone) -> Option<String> {
    host.store()
        .kv_get(&contacts_ns(user), phone.digits())
        .await
        .ok()
        .flatten()
}

/// Forgets everything about `user`'s login (not the portals).
pub async fn forget_login(host: &BridgeHost, user: &OwnedUserId) {
    host.ghosts().double_puppets().unlink(user);
    let _ = host.store().kv_delete(LOGINS_NS, user.as_str()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_files_are_safe_names() {
        let user: OwnedUserId = "@al/ice:ex.org".try_into().unwrap();
        let p = session_path(std::path::Path::new("/s"), &user);
        assert_eq!(p, PathBuf::from("/s/_al_ice_ex.org.db"));
    }
}
