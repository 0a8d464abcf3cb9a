//! [`UserSession`]: one logged-in Matrix user's Telegram connection, its update loop, and what
//! it remembers to map Telegram's IDs (messages it sent, which chat a message belongs to).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use ferrybridge_core::BridgeHost;
use ferrybridge_core::events::{ChatInfo, Media, RemoteEvent, RemoteEventKind, RemoteProfile};
use ferrybridge_core::ids::{LoginSlot, PortalKey};
use ferrybridge_core::media_cap::MediaCap;
use ferrybridge_core::portal::Portal;
use ferrybridge_core::seam::ConnectionState;
use ruma::OwnedUserId;
use tokio::task::JoinHandle;

use crate::bridge::TelegramBridge;
use crate::network::{ChatRef, MediaRef, TelegramNetwork, TgError, TgUpdate, TgUser};

/// How many message IDs a session remembers (for deletions without a chat, and echo
/// suppression of what it sent itself).
const REMEMBER: usize = 20_000;

/// How long after the bridge changed a group's picture Telegram's report of that change is
/// taken for its echo.
const PHOTO_ECHO: std::time::Duration = std::time::Duration::from_secs(120);

/// Bounded memory of message ID → chat.
#[derive(Default)]
struct Recent {
    chats: HashMap<i32, ChatRef>,
    order: VecDeque<i32>,
    sent: HashSet<i32>,
}

impl Recent {
    fn remember(&mut self, id: i32, chat: ChatRef, sent: bool) {
        if self.chats.insert(id, chat).is_none() {
            self.order.push_back(id);
        }
        if sent {
            self.sent.insert(id);
        }
        while self.order.len() > REMEMBER {
            if let Some(old) = self.order.pop_front() {
                self.chats.remove(&old);
                self.sent.remove(&old);
            }
        }
    }
}

/// One login of a Matrix user (a user may have several: [`LoginSlot`]).
pub struct UserSession {
    pub mxid: OwnedUserId,
    /// Which of the user's logins this is; its direct chats are its own portals.
    pub slot: LoginSlot,
    pub net: Arc<dyn TelegramNetwork>,
    pub me: TgUser,
    recent: Mutex<Recent>,
    /// Ghost profiles already pushed (once per session is enough).
    profiles: Mutex<HashSet<i64>>,
    /// Shared portals this user was invited to in this session.
    invited: Mutex<HashSet<String>>,
    /// Groups whose picture this session changed from Matrix, and when (echo suppression).
    photo_edits: Mutex<HashMap<ChatRef, std::time::Instant>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl UserSession {
    pub fn new(
        mxid: OwnedUserId,
        slot: LoginSlot,
        net: Arc<dyn TelegramNetwork>,
        me: TgUser,
    ) -> Self {
        Self {
            mxid,
            slot,
            net,
            me,
            recent: Mutex::default(),
            profiles: Mutex::default(),
            invited: Mutex::default(),
            photo_edits: Mutex::default(),
            task: Mutex::new(None),
        }
    }

    /// "Name (+phone)" or "Name (@username)", for `ping` and the login confirmation.
    pub fn account_label(&self) -> String {
        account_label(&self.me)
    }

    /// The portal of `chat` as this login sees it (its own for a direct chat).
    pub fn portal_key(&self, chat: ChatRef) -> PortalKey {
        TelegramBridge::portal_key(chat, &self.mxid, self.slot)
    }

    /// Whether this login has had `chat`'s portal in this run (it is in that chat), so a
    /// Matrix message there is sent through it rather than through another of the user's.
    pub fn knows_chat(&self, chat: &str) -> bool {
        self.invited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(chat)
    }

    /// Records that this login is in `chat` (Telegram showed it the chat), for
    /// [`knows_chat`](Self::knows_chat). Its user is in the portal already.
    pub fn mark_known(&self, chat: &str) {
        self.invited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(chat.to_owned());
    }

    /// Reports this login's connection state (labelled with its number after the first).
    pub async fn report_state(&self, host: &BridgeHost, state: ConnectionState) {
        host.report_state(Some(&self.mxid), &host.slot_label(self.slot), state)
            .await;
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a message this session sent, so its echo is not bridged back.
    pub fn remember_sent(&self, id: i32, chat: ChatRef) {
        self.recent().remember(id, chat, true);
    }

    /// Records that this session changed `chat`'s picture for a Matrix user.
    pub fn remember_photo_edit(&self, chat: ChatRef) {
        let mut edits = self.photo_edits.lock().unwrap_or_else(|p| p.into_inner());
        edits.retain(|_, at| at.elapsed() < PHOTO_ECHO);
        edits.insert(chat, std::time::Instant::now());
    }

    /// Whether a picture change of ours in `chat` is coming back (once per change).
    pub(crate) fn photo_echo(&self, chat: ChatRef) -> bool {
        let mut edits = self.photo_edits.lock().unwrap_or_else(|p| p.into_inner());
        edits
            .remove(&chat)
            .is_some_and(|at| at.elapsed() < PHOTO_ECHO)
    }

    pub(crate) fn remember(&self, id: i32, chat: ChatRef) {
        self.recent().remember(id, chat, false);
    }

    pub(crate) fn was_sent_here(&self, id: i32) -> bool {
        self.recent().sent.contains(&id)
    }

    pub(crate) fn chat_of(&self, id: i32) -> Option<ChatRef> {
        self.recent().chats.get(&id).copied()
    }

    /// Starts the update loop; fails if Telegram does not deliver updates.
    pub async fn start(self: &Arc<Self>, bridge: Arc<TelegramBridge>) -> Result<(), TgError> {
        let mut rx = bridge.call(self.net.updates()).await?;
        let me = self.clone();
        let tasks = bridge.host.tasks().clone();
        let handle = tasks.spawn(async move {
            while let Some(update) = rx.recv().await {
                let logged_out = update == TgUpdate::LoggedOut;
                crate::relay_in::handle(&bridge, &me, update).await;
                if logged_out {
                    return;
                }
            }
            tracing::info!(user = %me.mxid, "Telegram update stream ended");
            // Not stopped by us (that aborts this task): the connection is gone.
            let state = ConnectionState::UnknownError {
                reason: "the Telegram update stream ended; send `login` to reconnect".into(),
            };
            me.report_state(&bridge.host, state).await;
        });
        *self.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(())
    }

    /// Stops the update loop.
    pub fn stop(&self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }

    /// Pushes a user's name (and avatar) to their ghost, once per session.
    pub(crate) async fn ensure_profile(&self, host: &BridgeHost, user: &TgUser) {
        if !self
            .profiles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user.id)
        {
            return;
        }
        let avatar = match &user.photo {
            Some(photo) => self.media(host, photo, "avatar.jpg", "image/jpeg").await,
            None => None,
        };
        // Applied directly (not queued), so a portal created next shows the name at once.
        let profile = RemoteProfile {
            displayname: Some(user.display_name()),
            avatar,
        };
        if let Err(e) = host
            .ghosts()
            .set_profile(&TelegramBridge::remote_user(user.id), &profile)
            .await
        {
            tracing::warn!(user = user.id, error = %e, "cannot set ghost profile");
        }
    }

    /// Downloads a Telegram file as Matrix-bound media (the core uploads it), or `None`
    /// (logged) when it cannot be had: for pictures, which are simply left unchanged.
    pub(crate) async fn media(
        &self,
        host: &BridgeHost,
        r: &MediaRef,
        filename: &str,
        mime: &str,
    ) -> Option<Media> {
        match self.download_media(host, r, filename, mime, None).await {
            Ok(media) => Some(media),
            Err(e) => {
                tracing::warn!(user = %self.mxid, error = %e, "cannot download Telegram file");
                None
            }
        }
    }

    /// Downloads a Telegram file as Matrix-bound media, held to `limits.media_max_bytes`:
    /// refused before downloading when Telegram announces a larger `size`, and cut off while
    /// reading otherwise.
    pub(crate) async fn download_media(
        &self,
        host: &BridgeHost,
        r: &MediaRef,
        filename: &str,
        mime: &str,
        size: Option<u64>,
    ) -> Result<Media, TgError> {
        let cap = MediaCap::new(host.limits().media_max_bytes);
        cap.check(size)?;
        let data = self.net.download(r, cap).await?;
        Ok(Media {
            mxc: None,
            url: None,
            filename: filename.to_owned(),
            mimetype: Some(mime.to_owned()),
            size: Some(data.len() as u64),
            data: Some(data),
        })
    }

    /// Makes sure the portal of `chat` exists and this user is in it; returns it.
    pub(crate) async fn ensure_portal(
        &self,
        bridge: &TelegramBridge,
        chat: ChatRef,
    ) -> Result<Portal, TgError> {
        let host = &bridge.host;
        let key = self.portal_key(chat);
        let existed = host
            .portals()
            .get(&key)
            .await
            .map_err(|e| TgError::Other(e.to_string()))?
            .is_some();
        let portal = host
            .portals()
            .get_or_create(&key, bridge)
            .await
            .map_err(|e| TgError::Other(e.to_string()))?;
        let first_time = self
            .invited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.chat.to_string());
        if key.receiver.is_none() && first_time {
            host.portals()
                .invite(&portal, &self.mxid)
                .await
                .map_err(|e| TgError::Other(e.to_string()))?;
        }
        if !existed {
            // A new portal: fill in the photo and ghost names.
            if let Ok(info) = self.net.chat(chat).await {
                for m in &info.members {
                    self.ensure_profile(host, m).await;
                }
                if let Some(photo) = &info.photo
                    && let Some(avatar) = self.media(host, photo, "chat.jpg", "image/jpeg").await
                {
                    host.send(RemoteEvent {
                        portal: key.clone(),
                        kind: RemoteEventKind::ChatInfo(ChatInfo {
                            avatar: Some(avatar),
                            ..Default::default()
                        }),
                    })
                    .await;
                }
            }
        }
        Ok(portal)
    }

    /// After login: portals for chats active within the configured window.
    pub(crate) async fn open_recent(&self, bridge: &TelegramBridge) -> Result<usize, TgError> {
        let host = &bridge.host;
        let chats = bridge
            .call(self.net.dialogs(bridge.config.recent_chat_limit))
            .await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let since = now - i64::from(bridge.config.recent_chat_days) * 86_400;
        let mut opened = 0;
        for chat in chats
            .iter()
            .filter(|c| c.last_message_at.is_some_and(|t| t >= since))
        {
            if chat.chat.kind == crate::network::ChatKind::User
                && let Some(user) = chat.members.first()
            {
                self.ensure_profile(host, user).await;
            }
            match self.ensure_portal(bridge, chat.chat).await {
                Ok(_) => opened += 1,
                Err(e) => tracing::warn!(chat = %chat.chat, error = %e, "cannot open recent chat"),
            }
        }
        Ok(opened)
    }
}

/// "Name (+phone)", "Name (@username)" or "Name".
pub fn account_label(me: &TgUser) -> String {
    let name = me.display_name();
    match (&me.phone, &me.username) {
        (Some(p), _) => format!(
            "{name} ({})",
            if p.starts_with('+') {
                p.clone()
            } else {
                format!("+{p}")
            }
        ),
        (None, Some(u)) => format!("{name} (@{u})"),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_is_bounded() {
        let mut r = Recent::default();
        for i in 0..(REMEMBER as i32 + 10) {
            r.remember(i, ChatRef::user(1), i % 2 == 0);
        }
        assert_eq!(r.chats.len(), REMEMBER);
        assert!(!r.chats.contains_key(&0));
        assert!(!r.sent.contains(&0));
        assert!(r.sent.contains(&(REMEMBER as i32 + 8)));
    }

    #[test]
    fn labels() {
        let me = TgUser {
            id: 1,
            first_name: "Ann".into(),
            phone: Some("4412345678".into()),
            ..Default::default()
        };
        assert_eq!(account_label(&me), "Ann (+4412345678)");
    }
}
