//! [`TelegramBridge`]: the [`Bridge`] implementation. Holds one [`UserSession`] per logged-in
//! Matrix user; the network behind each is made by a [`NetworkFactory`] (grammers for real,
//! the fake in tests).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use ferrybridge_core::BridgeHost;
use ferrybridge_core::bridge::{
    BackfillRequest, Bridge, BridgeError, Capabilities, NetworkInfo, PortalSpec,
};
use ferrybridge_core::commands::Command;
use ferrybridge_core::config::ConfigError;
use ferrybridge_core::events::{ChatInfo, Delivered, DeliveryError, MatrixEvent, RemoteEventKind};
use ferrybridge_core::ids::{PortalKey, PortalKind, RemoteUserId};
use ferrybridge_core::login::LoginProcess;
use ferrybridge_core::portal::Portal;
use ferrybridge_core::seam::ConnectionState;
use ruma::OwnedUserId;

use crate::config::TelegramConfig;
use crate::login::TelegramLogin;
use crate::network::{ChatKind, ChatRef, NetworkFactory, TelegramNetwork, TgChat, TgError, TgUser};
use crate::session::UserSession;

/// Store namespace of logins in progress (so a restart can tell the user to start over).
pub(crate) const PENDING_LOGINS: &str = "telegram-login-pending";

/// The Telegram network.
pub struct TelegramBridge {
    pub(crate) config: TelegramConfig,
    pub(crate) factory: Arc<dyn NetworkFactory>,
    pub(crate) host: BridgeHost,
    users: Mutex<HashMap<OwnedUserId, Arc<UserSession>>>,
    /// Whether the sessions of a start were restored (backfill waits for them).
    restored: tokio::sync::watch::Sender<bool>,
    /// Itself, for the tasks and logins it hands out.
    me: Weak<Self>,
}

impl TelegramBridge {
    /// A bridge whose users connect through `factory` (tests pass the fake).
    pub fn with_factory(
        config: TelegramConfig,
        factory: Arc<dyn NetworkFactory>,
        host: BridgeHost,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            config,
            factory,
            host,
            users: Mutex::new(HashMap::new()),
            restored: tokio::sync::watch::Sender::new(false),
            me: me.clone(),
        })
    }

    /// How long to wait for Telegram before giving up on a call.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.connect_timeout_secs.max(1))
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<OwnedUserId, Arc<UserSession>>> {
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The logged-in session of `user`.
    pub fn session(&self, user: &OwnedUserId) -> Option<Arc<UserSession>> {
        self.users().get(user).cloned()
    }

    /// How many users are logged in (for the benchmark).
    pub fn session_count(&self) -> usize {
        self.users().len()
    }

    /// Runs a Telegram call with the configured timeout; a timeout is a network error.
    pub(crate) async fn call<T>(
        &self,
        fut: impl Future<Output = Result<T, TgError>>,
    ) -> Result<T, TgError> {
        match tokio::time::timeout(self.timeout(), fut).await {
            Ok(r) => r,
            Err(_) => Err(TgError::Network(format!(
                "no answer within {} seconds",
                self.timeout().as_secs()
            ))),
        }
    }

    /// A login finished: remember it, start relaying and open recent chats.
    pub(crate) async fn logged_in(
        &self,
        user: &OwnedUserId,
        net: Arc<dyn TelegramNetwork>,
        me: TgUser,
    ) -> Result<(), BridgeError> {
        let host = &self.host;
        let state =
            serde_json::json!({ "id": me.id, "name": me.display_name(), "phone": me.phone });
        host.store()
            .set_login_state(user, Some(&state))
            .await
            .map_err(|e| BridgeError::Other(e.into()))?;
        let _ = host.store().kv_delete(PENDING_LOGINS, user.as_str()).await;
        // A fresh login is news the login dialogue tells; not a "reconnection".
        host.forget_state(Some(user), "");
        self.activate(user, net, me, true).await;
        Ok(())
    }

    /// Starts the update loop of a session; after a fresh login, also opens recent chats.
    async fn activate(
        &self,
        user: &OwnedUserId,
        net: Arc<dyn TelegramNetwork>,
        me: TgUser,
        open_recent: bool,
    ) {
        let Some(bridge) = self.me.upgrade() else {
            return;
        };
        let host = self.host.clone();
        // What this account sends from other devices is the user's own (double puppeting).
        host.ghosts()
            .double_puppets()
            .link(user, &Self::remote_user(me.id));
        let session = Arc::new(UserSession::new(user.clone(), net, me));
        if let Some(old) = self.users().insert(user.clone(), session.clone()) {
            old.stop();
        }
        if let Err(e) = session.start(bridge.clone()).await {
            tracing::error!(%user, error = %e, "cannot receive Telegram updates");
            let state = match e {
                TgError::Unauthorized => return self.session_ended(user).await,
                e @ TgError::Network(_) => ConnectionState::TransientDisconnect {
                    reason: e.to_string(),
                },
                e => ConnectionState::UnknownError {
                    reason: format!("cannot receive messages: {e}"),
                },
            };
            host.report_state(Some(user), "", state).await;
            return;
        }
        host.report_state(Some(user), "", ConnectionState::Connected)
            .await;
        if open_recent {
            let s = session.clone();
            let tasks = host.tasks().clone();
            tasks.spawn(async move {
                if let Err(e) = s.open_recent(&bridge).await {
                    host.notify(&s.mxid, &format!("Could not open your recent chats: {e}"))
                        .await;
                }
            });
        }
    }

    /// Drops a session whose authorization Telegram revoked (signed out from another device);
    /// the core tells the user to log in again. May run on the session's own update task, so
    /// the session is stopped last.
    pub(crate) async fn session_ended(&self, user: &OwnedUserId) {
        let session = self.users().remove(user);
        let host = &self.host;
        host.ghosts().double_puppets().unlink(user);
        let _ = host.store().set_login_state(user, None).await;
        self.factory.forget(user, host.store()).await;
        host.report_state(Some(user), "", ConnectionState::LoggedOut)
            .await;
        if let Some(s) = session {
            s.stop();
        }
    }

    /// Reconnects users who were logged in before a restart and tells those whose login was
    /// interrupted to start over.
    async fn restore(self: Arc<Self>, users: Vec<OwnedUserId>) {
        let host = self.host.clone();
        match host.store().kv_list(PENDING_LOGINS, "").await {
            Ok(pending) => {
                for (key, _) in pending {
                    let _ = host.store().kv_delete(PENDING_LOGINS, &key).await;
                    if let Ok(user) = OwnedUserId::try_from(key) {
                        host.notify(&user, "The bridge restarted while you were logging in. Please send `login` to start over.").await;
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read pending logins"),
        }
        for user in users {
            let me = async {
                let net = self.factory.connect(&user, host.store()).await?;
                let me = self.call(net.me()).await?;
                Ok::<_, TgError>((net, me))
            };
            match me.await {
                Ok((net, me)) => self.activate(&user, net, me, false).await,
                Err(TgError::Unauthorized) => self.session_ended(&user).await,
                Err(e) => {
                    tracing::warn!(%user, error = %e, "cannot reconnect to Telegram");
                    let reason = format!(
                        "{e}; your session is kept and the bridge tries again when it restarts"
                    );
                    host.report_state(Some(&user), "", ConnectionState::UnknownError { reason })
                        .await;
                }
            }
        }
        self.restored.send_replace(true);
    }

    /// Waits (at most the connect timeout) until the sessions of the last start are back.
    pub(crate) async fn wait_restored(&self) {
        let mut restored = self.restored.subscribe();
        let _ = tokio::time::timeout(self.timeout(), restored.wait_for(|done| *done)).await;
    }

    /// The sessions that may read a portal's history, in the order to try them: the
    /// receiver's for a private chat; every session, by Matrix ID, for a shared one.
    pub(crate) fn history_readers(&self, key: &PortalKey) -> Vec<Arc<UserSession>> {
        match &key.receiver {
            Some(user) => self.session(user).into_iter().collect(),
            None => {
                let mut all: Vec<_> = self.users().values().cloned().collect();
                all.sort_by(|a, b| a.mxid.cmp(&b.mxid));
                all
            }
        }
    }

    /// The portal key of a chat as seen by `user`.
    pub fn portal_key(chat: ChatRef, user: &OwnedUserId) -> PortalKey {
        match chat.kind {
            ChatKind::User => PortalKey::private(chat.to_string(), user.clone()),
            _ => PortalKey::shared(chat.to_string()),
        }
    }

    /// The remote user ID of a Telegram user (the ghost's `{id}`).
    pub fn remote_user(id: i64) -> RemoteUserId {
        RemoteUserId::new(id.to_string())
    }

    /// Describes a chat for portal creation, using `session`'s view of it.
    pub(crate) async fn spec_for(
        &self,
        key: &PortalKey,
        chat: &TgChat,
        session: &UserSession,
    ) -> PortalSpec {
        let kind = match chat.chat.kind {
            ChatKind::User => PortalKind::Dm,
            ChatKind::Group => PortalKind::Group,
            ChatKind::Channel => PortalKind::Group,
        };
        let mut members: Vec<RemoteUserId> = match kind {
            PortalKind::Dm => vec![Self::remote_user(chat.chat.id)],
            _ => chat
                .members
                .iter()
                .filter(|m| m.id != session.me.id)
                .map(|m| Self::remote_user(m.id))
                .collect(),
        };
        members.dedup();
        PortalSpec {
            key: key.clone(),
            kind,
            info: ChatInfo {
                // A DM is named after the ghost by clients; groups carry their title.
                name: (kind != PortalKind::Dm).then(|| chat.title.clone()),
                topic: chat.about.clone(),
                avatar: None,
            },
            alias_vars: None,
            members,
        }
    }

    /// Why a Matrix event from `user`, who has no session, cannot be delivered.
    fn not_connected(&self, user: &OwnedUserId) -> DeliveryError {
        self.host.no_session_error(user)
    }

    /// Any session that can see a shared chat (the receiver's for private ones).
    fn session_for(&self, key: &PortalKey) -> Option<Arc<UserSession>> {
        match &key.receiver {
            Some(user) => self.session(user),
            None => self.users().values().next().cloned(),
        }
    }
}

#[async_trait]
impl Bridge for TelegramBridge {
    type Config = TelegramConfig;

    fn info() -> NetworkInfo {
        NetworkInfo {
            id: "telegram",
            display_name: "Telegram",
            bot_username: "telegram",
            bot_displayname: "Telegram bridge bot",
            default_port: 29317,
            ghost_template: "_telegram_{id}",
            displayname_template: "{name} (Telegram)",
            alias_template: None,
            command_prefix: "!tg",
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
            },
        }
    }

    fn init(config: TelegramConfig, host: BridgeHost) -> Result<Arc<Self>, ConfigError> {
        let factory = crate::grammers::GrammersFactory::new(&config, host.tasks().clone())?;
        Ok(Self::with_factory(config, Arc::new(factory), host))
    }

    async fn start(self: Arc<Self>) -> Result<(), BridgeError> {
        let users: Vec<OwnedUserId> = self
            .host
            .store()
            .logged_in_users()
            .await
            .map_err(|e| BridgeError::Other(e.into()))?
            .into_iter()
            .map(|u| u.mxid)
            .collect();
        // Connecting from here on: deliveries for these users are retried until it is up.
        for user in &users {
            self.host
                .report_state(Some(user), "", ConnectionState::Connecting)
                .await;
        }
        // Reconnecting may wait on Telegram: do not hold up the appservice.
        let tasks = self.host.tasks().clone();
        tasks.spawn(self.clone().restore(users));
        Ok(())
    }

    async fn stop(&self) {
        let sessions: Vec<_> = self.users().drain().map(|(_, s)| s).collect();
        for s in sessions {
            s.stop();
            s.net.disconnect().await;
        }
    }

    fn commands(self: &Arc<Self>) -> Vec<Arc<dyn Command>> {
        crate::commands::all(self)
    }

    async fn handle_matrix_event(
        &self,
        portal: &Portal,
        event: MatrixEvent,
    ) -> Result<Delivered, DeliveryError> {
        let Some(session) = self.session(&event.sender) else {
            return Err(self.not_connected(&event.sender));
        };
        crate::relay_out::deliver(self, &self.host, &session, portal, event).await
    }

    async fn describe_chat(&self, key: &PortalKey) -> Result<PortalSpec, BridgeError> {
        let chat: ChatRef = key
            .chat
            .as_str()
            .parse()
            .map_err(|e: crate::network::BadChatId| BridgeError::Invalid(e.to_string()))?;
        let session = self.session_for(key).ok_or(BridgeError::NotLoggedIn)?;
        let info = self
            .call(session.net.chat(chat))
            .await
            .map_err(|e| BridgeError::Remote(e.to_string()))?;
        Ok(self.spec_for(key, &info, &session).await)
    }

    async fn backfill(
        &self,
        portal: &Portal,
        request: BackfillRequest,
    ) -> Result<Vec<RemoteEventKind>, BridgeError> {
        crate::history::backfill(self, portal, request).await
    }

    async fn open_dm(
        &self,
        user: &OwnedUserId,
        ghost: &RemoteUserId,
    ) -> Result<PortalKey, BridgeError> {
        let session = self.session(user).ok_or(BridgeError::NotLoggedIn)?;
        let id: i64 = ghost
            .as_str()
            .parse()
            .map_err(|_| BridgeError::Invalid(format!("{ghost} is not a Telegram user")))?;
        self.call(session.net.chat(ChatRef::user(id)))
            .await
            .map_err(|e| BridgeError::Remote(e.to_string()))?;
        Ok(Self::portal_key(ChatRef::user(id), user))
    }

    async fn start_login(
        &self,
        user: &OwnedUserId,
        _args: &[String],
    ) -> Result<Box<dyn LoginProcess>, BridgeError> {
        let bridge = self
            .me
            .upgrade()
            .ok_or_else(|| BridgeError::Remote("the Telegram bridge is shutting down".into()))?;
        let host = &self.host;
        let _ = host
            .store()
            .kv_set(PENDING_LOGINS, user.as_str(), &true)
            .await;
        Ok(Box::new(TelegramLogin::new(bridge, user.clone())))
    }

    async fn logout(&self, user: &OwnedUserId) -> Result<(), BridgeError> {
        let session = self.users().remove(user);
        let host = &self.host;
        if let Some(s) = &session {
            s.stop();
            if let Err(e) = self.call(s.net.logout()).await {
                tracing::warn!(%user, error = %e, "Telegram sign-out failed; forgetting the session anyway");
            }
            s.net.disconnect().await;
        }
        self.factory.forget(user, host.store()).await;
        host.store()
            .set_login_state(user, None)
            .await
            .map_err(|e| BridgeError::Other(e.into()))?;
        host.forget_state(Some(user), "");
        Ok(())
    }

    async fn whoami(&self, user: &OwnedUserId) -> Option<String> {
        self.session(user).map(|s| s.account_label())
    }

    /// The guide: a room with the bot that is not a direct message does not work.
    fn bot_joins_group_rooms(&self) -> bool {
        false
    }
}
