//! Contact pictures on WhatsApp ghosts.
//!
//! A contact's picture is looked up the first time the bridge sees them (in this process and
//! not already known from an earlier one) and again whenever WhatsApp says it changed. The
//! picture's WhatsApp ID is kept per phone in the store, so a restart downloads nothing that
//! did not change and a picture that is gone is removed from the ghost. Lookups run as tracked
//! tasks beside the message flow: a contact's first message is not held up by their picture.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ferrybridge_core::events::{Media, RemoteProfile};
use ferrybridge_core::ids::UserLogin;

use crate::bridge::Inner;
use crate::jid::Phone;

/// Store namespace: phone digits → the WhatsApp ID of the picture on their ghost (`""`: none).
const KV_PICTURE: &str = "whatsapp_picture";

/// Phones whose picture this process has looked up or is looking up.
#[derive(Default)]
pub struct Seen(Mutex<HashSet<Phone>>);

impl Seen {
    /// Whether `phone` is new to this process (and marks it seen).
    fn first(&self, phone: &Phone) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(phone.clone())
    }
}

/// Looks up `phone`'s picture through a login's device, unless this process or an earlier one
/// already did (a change comes as [`changed`]).
pub fn first_sight(inner: &Arc<Inner>, login: &UserLogin, phone: &Phone) {
    if !inner.pictures.first(phone) {
        return;
    }
    let (inner2, login, phone) = (inner.clone(), login.clone(), phone.clone());
    inner.host.tasks().spawn(async move {
        let known: Option<String> = inner2
            .host
            .store()
            .kv_get(KV_PICTURE, phone.digits())
            .await
            .ok()
            .flatten();
        if known.is_none() {
            refresh(&inner2, &login, &phone).await;
        }
    });
}

/// WhatsApp says `phone`'s picture changed: look it up again.
pub fn changed(inner: &Arc<Inner>, login: &UserLogin, phone: &Phone) {
    inner.pictures.first(phone);
    let (inner2, login, phone) = (inner.clone(), login.clone(), phone.clone());
    inner.host.tasks().spawn(async move {
        refresh(&inner2, &login, &phone).await;
    });
}

/// Puts `phone`'s current picture on their ghost when it differs from the one recorded.
/// Failures are logged: the ghost keeps what it had.
async fn refresh(inner: &Arc<Inner>, login: &UserLogin, phone: &Phone) {
    let Some(session) = inner.sessions.get(login) else {
        return;
    };
    let picture = match session.net.contact_picture(phone).await {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(%phone, error = %e, "could not look up a contact picture");
            return;
        }
    };
    let store = inner.host.store();
    let known: Option<String> = store
        .kv_get(KV_PICTURE, phone.digits())
        .await
        .ok()
        .flatten();
    let (id, avatar) = match picture {
        Some(p) if known.as_deref() == Some(p.id.as_str()) => return,
        Some(p) => {
            let avatar = Media {
                mxc: None,
                url: None,
                filename: "avatar.jpg".into(),
                mimetype: Some("image/jpeg".into()),
                size: Some(p.data.len() as u64),
                data: Some(p.data),
            };
            (p.id, avatar)
        }
        // No picture (or hidden from this account): remove one the ghost had.
        None if known.as_deref().is_some_and(|k| !k.is_empty()) => {
            (String::new(), Media::removal())
        }
        None => {
            let _ = store
                .kv_set(KV_PICTURE, phone.digits(), &String::new())
                .await;
            return;
        }
    };
    let profile = RemoteProfile {
        displayname: None,
        avatar: Some(avatar),
    };
    match inner
        .host
        .ghosts()
        .set_profile(&phone.remote_user(), &profile)
        .await
    {
        Ok(()) => {
            if let Err(e) = store.kv_set(KV_PICTURE, phone.digits(), &id).await {
                tracing::warn!(%phone, error = %e, "could not record a contact picture");
            }
        }
        Err(e) => tracing::warn!(%phone, error = %e, "could not set a ghost's picture"),
    }
}
