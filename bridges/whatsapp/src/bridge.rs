//! [`WhatsAppBridge`]: the [`Bridge`] the core drives, with one WhatsApp device per Matrix user
//! made by a [`WhatsAppFactory`] (whatsapp-rust in the binary, the fake in tests).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferrybridge_core::BridgeHost;
use ferrybridge_core::bridge::{
    BackfillRequest, Bridge, BridgeError, Capabilities, LoginInfo, NetworkInfo, PortalSpec,
};
use ferrybridge_core::commands::Command;
use ferrybridge_core::config::ConfigError;
use ferrybridge_core::events::{
    ChatInfo, Delivered, DeliveryError, MatrixEvent, Media, RemoteEventKind,
};
use ferrybridge_core::ids::{LoginSlot, PortalKey, PortalKind, RemoteUserId, UserLogin};
use ferrybridge_core::login::LoginProcess;
use ferrybridge_core::portal::Portal;
use ferrybridge_core::seam::ConnectionState;
use ruma::OwnedUserId;

use crate::config::WhatsAppConfig;
use crate::jid::{ChatJid, Phone};
use crate::login::WaLogin;
use crate::network::{WaError, WhatsAppFactory, WhatsAppNetwork};
use crate::sessions::{self, LOGINS_NS, Session, Sessions};

/// The WhatsApp bridge.
pub struct WhatsAppBridge {
    pub(crate) inner: Arc<Inner>,
}

/// Shared by the bridge, its logins, commands and event pumps.
pub struct Inner {
    pub config: WhatsAppConfig,
    pub factory: Arc<dyn WhatsAppFactory>,
    pub host: BridgeHost,
    pub sessions: Sessions,
    /// Recent message senders and our reactions, for WhatsApp's addressing of reactions,
    /// receipts and reaction removals (in memory; bounded).
    pub recent: crate::recent::Recent,
    /// (login, group) pairs whose shared portal this process has made sure the user is in
    /// (the login delivered a message of that group, so it is a member).
    pub invited: std::sync::Mutex<std::collections::HashSet<(UserLogin, ChatJid)>>,
    /// Serializes writes of kept history ([`crate::history`]).
    pub history_lock: tokio::sync::Mutex<()>,
    /// Whether the devices of a start were reconnected (backfill waits for them).
    restored: tokio::sync::watch::Sender<bool>,
    /// Contacts whose picture this process looked up ([`crate::avatars`]).
    pub pictures: crate::avatars::Seen,
}

impl Inner {
    /// Opens a login's device (linked or not) through the factory.
    pub async fn open_device(
        &self,
        login: &UserLogin,
    ) -> Result<Arc<dyn WhatsAppNetwork>, WaError> {
        // Session stores hold each user's WhatsApp keys: owner-only (see the README).
        ferrybridge_core::private_fs::create_private_dir(&self.config.session_dir).map_err(
            |e| {
                WaError::Store(format!(
                    "cannot create {}: {e}",
                    self.config.session_dir.display()
                ))
            },
        )?;
        let path = sessions::session_path(&self.config.session_dir, login);
        self.factory.open(&login.user, &path).await
    }

    /// Connects a linked device and starts relaying its events; remembers the login.
    pub async fn activate(
        self: &Arc<Self>,
        login: &UserLogin,
        net: Arc<dyn WhatsAppNetwork>,
        account: Phone,
    ) -> Result<(), WaError> {
        let host = &self.host;
        let events = tokio::time::timeout(self.connect_timeout(), net.connect())
            .await
            .map_err(|_| WaError::Unreachable("no answer from WhatsApp".into()))??;
        self.report_state(login, ConnectionState::Connected).await;
        // What this number sends from the phone is the user's own (double puppeting).
        host.ghosts()
            .double_puppets()
            .link(&login.user, &account.remote_user());
        if let Err(e) = host
            .store()
            .kv_set(LOGINS_NS, &login.store_key(), &account.digits().to_owned())
            .await
        {
            tracing::error!(%login, error = %e, "could not remember the login");
        }
        let pump = host.tasks().spawn(crate::incoming::pump(
            self.clone(),
            login.clone(),
            account.clone(),
            events,
        ));
        self.sessions.insert(
            login.clone(),
            Session {
                account,
                net,
                pump: Arc::new(pump.abort_handle()),
            },
        );
        Ok(())
    }

    /// Waits (at most the connect timeout) until the devices of the last start are back.
    pub async fn wait_restored(&self) {
        let mut restored = self.restored.subscribe();
        let _ = tokio::time::timeout(self.connect_timeout(), restored.wait_for(|done| *done)).await;
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.config.connect_timeout_secs)
    }

    /// Reports a login's connection state (labelled with its number after the first).
    pub async fn report_state(&self, login: &UserLogin, state: ConnectionState) {
        let label = self.host.slot_label(login.slot);
        self.host
            .report_state(Some(&login.user), &label, state)
            .await;
    }

    /// `user`'s first login and its session, or the "log in first" error.
    pub fn session(&self, user: &OwnedUserId) -> Result<(UserLogin, Session), BridgeError> {
        self.sessions.first(user).ok_or(BridgeError::NotLoggedIn)
    }

    /// Any session that can see `group` (for shared portals).
    pub async fn session_for_group(&self, group: &ChatJid) -> Option<(UserLogin, Session)> {
        for (login, s) in self.sessions.all() {
            if s.net.group_info(group).await.is_ok() {
                return Some((login, s));
            }
        }
        None
    }

    /// The login a Matrix message of `user` in `key`'s chat goes out through: the direct
    /// chat's own login; in a group, the one the user `chosen` (`use-login`) while it is
    /// linked, else the first of the user's linked accounts in it.
    pub async fn sending_session(
        &self,
        user: &OwnedUserId,
        key: &PortalKey,
        chosen: Option<LoginSlot>,
    ) -> Option<(UserLogin, Session)> {
        if key.receiver.as_ref() == Some(user) {
            let login = UserLogin::new(user.clone(), key.login);
            return self.sessions.get(&login).map(|s| (login, s));
        }
        if let Some(login) = chosen.map(|slot| UserLogin::new(user.clone(), slot))
            && let Some(session) = self.sessions.get(&login)
        {
            return Some((login, session));
        }
        let mut mine = self.sessions.of(user);
        if mine.len() > 1
            && let Ok(group) = ChatJid::from_remote(&key.chat)
        {
            // Known members first (no request), then ask WhatsApp.
            let known = {
                let invited = self.invited.lock().unwrap_or_else(|p| p.into_inner());
                mine.iter()
                    .find(|(login, _)| invited.contains(&(login.clone(), group.clone())))
                    .cloned()
            };
            if known.is_some() {
                return known;
            }
            for (login, s) in &mine {
                if s.net.group_info(&group).await.is_ok() {
                    return Some((login.clone(), s.clone()));
                }
            }
        }
        (!mine.is_empty()).then(|| mine.remove(0))
    }

    /// Describes a chat for its portal.
    pub async fn spec_for(self: &Arc<Self>, key: &PortalKey) -> Result<PortalSpec, BridgeError> {
        let chat = ChatJid::from_remote(&key.chat).map_err(|e| BridgeError::Invalid(e.0))?;
        match &chat {
            ChatJid::Direct(phone) => {
                let host = &self.host;
                let name = match &key.receiver {
                    Some(user) => {
                        let login = UserLogin::new(user.clone(), key.login);
                        crate::avatars::first_sight(self, &login, phone);
                        sessions::contact_name(host, &login, phone).await
                    }
                    None => None,
                };
                Ok(PortalSpec {
                    key: key.clone(),
                    kind: PortalKind::Dm,
                    info: ChatInfo {
                        name: Some(name.unwrap_or_else(|| phone.pretty())),
                        topic: None,
                        avatar: None,
                    },
                    alias_vars: None,
                    members: vec![phone.remote_user()],
                })
            }
            ChatJid::Group(_) => {
                let own = key
                    .receiver
                    .as_ref()
                    .and_then(|u| self.sessions.get(&UserLogin::new(u.clone(), key.login)));
                let session = match own {
                    Some(s) => s,
                    None => self
                        .session_for_group(&chat)
                        .await
                        .map(|(_, s)| s)
                        .ok_or_else(|| BridgeError::Remote(format!("nobody can see {chat}")))?,
                };
                let info = session
                    .net
                    .group_info(&chat)
                    .await
                    .map_err(|e| BridgeError::Remote(e.to_string()))?;
                Ok(PortalSpec {
                    key: key.clone(),
                    kind: PortalKind::Group,
                    info: group_chat_info(&info),
                    alias_vars: None,
                    members: info
                        .participants
                        .iter()
                        .filter(|p| **p != session.account)
                        .map(Phone::remote_user)
                        .collect(),
                })
            }
        }
    }

    /// The portal key of a chat as a login sees it (its own, for a direct chat).
    pub fn portal_key(chat: &ChatJid, login: &UserLogin) -> PortalKey {
        match chat {
            ChatJid::Direct(_) => {
                PortalKey::private_of(chat.remote_chat(), login.user.clone(), login.slot)
            }
            ChatJid::Group(_) => PortalKey::shared(chat.remote_chat()),
        }
    }

    /// Creates (or finds) the portal of `chat` as `login` sees it and makes sure its user is
    /// invited.
    pub async fn open_portal(
        self: &Arc<Self>,
        login: &UserLogin,
        chat: &ChatJid,
    ) -> Result<Portal, BridgeError> {
        let host = &self.host;
        // The bridge is a thin handle on this state: the core describes the chat through it.
        let network = WhatsAppBridge {
            inner: self.clone(),
        };
        let key = Self::portal_key(chat, login);
        let portal = host
            .portals()
            .get_or_create(&key, &network)
            .await
            .map_err(|e| BridgeError::Remote(e.to_string()))?;
        host.portals()
            .invite(&portal, &login.user)
            .await
            .map_err(|e| BridgeError::Remote(e.to_string()))?;
        Ok(portal)
    }
}

/// A group's subject, description and picture as chat info.
pub fn group_chat_info(info: &crate::network::GroupInfo) -> ChatInfo {
    ChatInfo {
        name: Some(info.subject.clone()),
        topic: info.description.clone(),
        avatar: info.picture.clone().map(|data| Media {
            mxc: None,
            url: None,
            filename: "group.jpg".into(),
            mimetype: Some("image/jpeg".into()),
            size: Some(data.len() as u64),
            data: Some(data),
        }),
    }
}

impl WhatsAppBridge {
    /// A bridge whose devices come from `factory` (tests pass the fake).
    pub fn with_factory(
        config: WhatsAppConfig,
        factory: Arc<dyn WhatsAppFactory>,
        host: BridgeHost,
    ) -> Arc<Self> {
        Arc::new(Self {
            inner: Arc::new(Inner {
                config,
                factory,
                host,
                sessions: Sessions::default(),
                recent: Default::default(),
                invited: Default::default(),
                history_lock: Default::default(),
                restored: tokio::sync::watch::Sender::new(false),
                pictures: Default::default(),
            }),
        })
    }

    /// The shared state (for commands and tests).
    pub fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// How many users are linked right now.
    pub fn linked_users(&self) -> usize {
        self.inner.sessions.len()
    }
}

pub(crate) fn bridge_err(e: WaError) -> BridgeError {
    match e {
        WaError::NotLinked => BridgeError::NotLoggedIn,
        WaError::Invalid(m) => BridgeError::Invalid(m),
        other => BridgeError::Remote(other.to_string()),
    }
}

#[async_trait]
impl Bridge for WhatsAppBridge {
    type Config = WhatsAppConfig;

    fn info() -> NetworkInfo {
        NetworkInfo {
            id: "whatsapp",
            display_name: "WhatsApp",
            bot_username: "whatsappbot",
            bot_displayname: "WhatsApp bridge bot",
            default_port: 29318,
            ghost_template: "whatsapp_{id}",
            displayname_template: "{name} (WA)",
            alias_template: None,
            command_prefix: "!wa",
            version: env!("CARGO_PKG_VERSION"),
            capabilities: Capabilities {
                edits: true,
                redactions: true,
                reactions: true,
                typing: true,
                read_receipts: true,
                login: true,
                backfill: true,
                polls: true,
                multiple_logins: true,
            },
        }
    }

    fn init(config: WhatsAppConfig, host: BridgeHost) -> Result<Arc<Self>, ConfigError> {
        Ok(Self::with_factory(
            config,
            Arc::new(crate::wa::RealFactory),
            host,
        ))
    }

    async fn start(self: Arc<Self>) -> Result<(), BridgeError> {
        let host = &self.inner.host;
        // Reconnect everyone who was linked before the restart, in the background: WhatsApp
        // being slow or unreachable must not hold up the bridge. Until then their deliveries
        // are retried (see `outgoing::not_connected`).
        let logins = host
            .store()
            .kv_list(LOGINS_NS, "")
            .await
            .map_err(|e| BridgeError::Other(e.into()))?;
        let logins: Vec<UserLogin> = logins
            .into_iter()
            .filter_map(|(key, _)| {
                let login = UserLogin::parse_store_key(&key);
                if login.is_none() {
                    tracing::warn!(key, "ignoring a malformed stored WhatsApp login");
                }
                login
            })
            .collect();
        for login in &logins {
            self.inner
                .report_state(login, ConnectionState::Connecting)
                .await;
        }
        let bridge = self.clone();
        host.tasks().spawn(async move {
            for login in logins {
                restore(&bridge, &login).await;
            }
            bridge.inner.restored.send_replace(true);
        });
        Ok(())
    }

    async fn stop(&self) {
        // All at once: a client that is still dialing may take seconds to give up.
        let sessions = self.inner.sessions.all();
        futures::future::join_all(sessions.iter().map(|(_, s)| s.net.disconnect())).await;
        for (login, _) in sessions {
            self.inner.sessions.remove(&login);
        }
    }

    fn commands(self: &Arc<Self>) -> Vec<Arc<dyn Command>> {
        crate::commands::all(&self.inner)
    }

    async fn handle_matrix_event(
        &self,
        portal: &Portal,
        event: MatrixEvent,
    ) -> Result<Delivered, DeliveryError> {
        crate::outgoing::deliver(&self.inner, portal, event).await
    }

    async fn describe_chat(&self, key: &PortalKey) -> Result<PortalSpec, BridgeError> {
        self.inner.spec_for(key).await
    }

    async fn backfill(
        &self,
        portal: &Portal,
        request: BackfillRequest,
    ) -> Result<Vec<RemoteEventKind>, BridgeError> {
        crate::history::backfill(&self.inner, portal, request).await
    }

    async fn open_dm(
        &self,
        user: &OwnedUserId,
        ghost: &RemoteUserId,
    ) -> Result<PortalKey, BridgeError> {
        let phone = Phone::from_remote(ghost).map_err(|e| BridgeError::Invalid(e.0))?;
        let (login, session) = self.inner.session(user)?;
        let found = session
            .net
            .is_on_whatsapp(std::slice::from_ref(&phone))
            .await
            .map_err(bridge_err)?;
        if !found.iter().any(|(p, on)| *p == phone && *on) {
            return Err(BridgeError::Invalid(format!("{phone} is not on WhatsApp")));
        }
        Ok(Inner::portal_key(&ChatJid::Direct(phone), &login))
    }

    async fn start_login(
        &self,
        user: &OwnedUserId,
        args: &[String],
    ) -> Result<Box<dyn LoginProcess>, BridgeError> {
        let phone = login_phone(args)?;
        let slot = self
            .inner
            .sessions
            .free_slot(user)
            .map_err(BridgeError::Invalid)?;
        let login = UserLogin::new(user.clone(), slot);
        let net = self.inner.open_device(&login).await.map_err(bridge_err)?;
        Ok(Box::new(WaLogin::new(
            self.inner.clone(),
            login,
            net,
            phone,
        )))
    }

    async fn logout(&self, user: &OwnedUserId, slot: LoginSlot) -> Result<(), BridgeError> {
        let host = &self.inner.host;
        let login = UserLogin::new(user.clone(), slot);
        let session = self.inner.sessions.remove(&login);
        let account = session.as_ref().map(|s| s.account.clone());
        sessions::forget_login(host, &login, account.as_ref()).await;
        host.forget_state(Some(user), &host.slot_label(slot));
        match session {
            Some(s) => s.net.logout().await.map_err(bridge_err),
            None => Err(BridgeError::NotLoggedIn),
        }
    }

    async fn whoami(&self, user: &OwnedUserId) -> Option<String> {
        self.inner
            .sessions
            .first(user)
            .map(|(_, s)| s.account.pretty())
    }

    async fn logins(&self, user: &OwnedUserId) -> Vec<LoginInfo> {
        self.inner
            .sessions
            .of(user)
            .into_iter()
            .map(|(login, s)| LoginInfo {
                slot: login.slot,
                account: s.account.pretty(),
            })
            .collect()
    }
}

/// The phone number of `login phone +4412345678`; `None` for a plain `login` (QR code).
fn login_phone(args: &[String]) -> Result<Option<Phone>, BridgeError> {
    match args {
        [] => Ok(None),
        [word, number] if word.eq_ignore_ascii_case("phone") => Phone::parse(number)
            .map(Some)
            .map_err(|e| BridgeError::Invalid(e.0)),
        _ => Err(BridgeError::Invalid(
            "Usage: `login` for a QR code, or `login phone +4412345678` for a pairing code.".into(),
        )),
    }
}

/// Reconnects a login's device after a restart; reports it logged out if it was unlinked
/// meanwhile.
async fn restore(bridge: &WhatsAppBridge, login: &UserLogin) {
    let inner = &bridge.inner;
    let host = &inner.host;
    let net = match inner.open_device(login).await {
        Ok(net) => net,
        Err(e) => {
            tracing::error!(%login, error = %e, "could not open the WhatsApp session");
            let reason = format!("cannot open the WhatsApp session: {e}");
            inner
                .report_state(login, ConnectionState::UnknownError { reason })
                .await;
            return;
        }
    };
    let Some(account) = net.account().await else {
        sessions::forget_login(host, login, None).await;
        inner.report_state(login, ConnectionState::LoggedOut).await;
        return;
    };
    if let Err(e) = inner.activate(login, net, account).await {
        tracing::warn!(%login, error = %e, "could not reconnect to WhatsApp");
        let reason = format!("{e}; send `sync` to try again");
        inner
            .report_state(login, ConnectionState::UnknownError { reason })
            .await;
    }
}

/// Re-opens and reconnects a login's session (the `sync` command after a failure).
pub async fn reconnect(inner: &Arc<Inner>, login: &UserLogin) -> Result<Phone, BridgeError> {
    let net = inner.open_device(login).await.map_err(bridge_err)?;
    let account = net.account().await.ok_or(BridgeError::NotLoggedIn)?;
    inner
        .activate(login, net, account.clone())
        .await
        .map_err(bridge_err)?;
    Ok(account)
}

pub(crate) use bridge_err as to_bridge_error;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_arguments_are_checked() {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(matches!(login_phone(&[]), Ok(None)));
        assert!(matches!(
            login_phone(&words(&["PHONE", "+4412345678"])),
            Ok(Some(_))
        ));
        for args in [words(&["phone", "nope"]), words(&["x"])] {
            assert!(matches!(login_phone(&args), Err(BridgeError::Invalid(_))));
        }
    }
}
