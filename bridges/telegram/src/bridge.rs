//! [`TelegramBridge`]: the [`Bridge`] implementation. Holds one [`UserSession`] per logged-in
//! Matrix user; the network behind each is made by a [`NetworkFactory`] (grammers for real,
//! the fake in tests).

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use ferrybridge_core::BridgeHost;
use ferrybridge_core::bridge::{
    BackfillRequest, Bridge, BridgeError, Capabilities, LoginInfo, NetworkInfo, PortalSpec,
};
use ferrybridge_core::commands::Command;
use ferrybridge_core::config::ConfigError;
use ferrybridge_core::events::{ChatInfo, Delivered, DeliveryError, MatrixEvent, RemoteEventKind};
use ferrybridge_core::ids::{LoginSlot, PortalKey, PortalKind, RemoteUserId};
use ferrybridge_core::login::LoginProcess;
use ferrybridge_core::portal::Portal;
use ferrybridge_core::seam::ConnectionState;
use ruma::OwnedUserId;

use crate::config::TelegramConfig;
use crate::login::TelegramLogin;
use crate::logins::Logins;
use crate::network::{ChatKind, ChatRef, NetworkFactory, TelegramNetwork, TgChat, TgError, TgUser};
use crate::session::UserSession;

/// Store namespace of logins in progress (so a restart can tell the user to start over).
pub(crate) const PENDING_LOGINS: &str = "telegram-login-pending";
/// The Telegram network.
pub struct TelegramBridge {
    pub(crate) config: TelegramConfig,
    pub(crate) factory: Arc<dyn NetworkFactory>,
    pub(crate) host: BridgeHost,
    /// Every login's session.
    pub(crate) logins: Logins,
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
            logins: Logins::default(),
            restored: tokio::sync::watch::Sender::new(false),
            me: me.clone(),
        })
    }

    /// How long to wait for Telegram before giving up on a call.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.connect_timeout_secs.max(1))
    }

    /// The session of `user`'s first login: what commands without `--login` and new
    /// direct chats use.
    pub fn session(&self, user: &OwnedUserId) -> Option<Arc<UserSession>> {
        self.logins.first(user)
    }

    /// The session of `user`'s login `slot`.
    pub fn session_at(&self, user: &OwnedUserId, slot: LoginSlot) -> Option<Arc<UserSession>> {
        self.logins.at(user, slot)
    }

    /// The login a Matrix message of `user` in `key`'s chat goes out through: the direct
    /// chat's own login; in a group, the one the user `chosen` (`use-login`) while it exists,
    /// else the first of the user's logins known to be in it (it had
    /// the portal in this run), else the first Telegram shows the group to (remembered), else
    /// their first.
    pub(crate) async fn sending_session(
        &self,
        user: &OwnedUserId,
        key: &PortalKey,
        chosen: Option<LoginSlot>,
    ) -> Option<Arc<UserSession>> {
        if key.receiver.as_ref() == Some(user) {
            return self.logins.at(user, key.login);
        }
        if let Some(session) = chosen.and_then(|slot| self.logins.at(user, slot)) {
            return Some(session);
        }
        let sessions = self.logins.of(user);
        let chat = key.chat.as_str();
        if let Some(known) = sessions.iter().find(|s| s.knows_chat(chat)) {
            return Some(known.clone());
        }
        if sessions.len() > 1
            && let Ok(chat_ref) = chat.parse::<ChatRef>()
        {
            for s in &sessions {
                if self.call(s.net.chat(chat_ref)).await.is_ok() {
                    s.mark_known(chat);
                    return Some(s.clone());
                }
            }
        }
        sessions.into_iter().next()
    }

    /// How many logins there are (for the benchmark).
    pub fn session_count(&self) -> usize {
        self.logins.count()
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

    /// A login finished: remember it, start relaying and open recent chats. An account the
    /// user is already logged in with is refused (its new authorization is signed out again).
    pub(crate) async fn logged_in(
        &self,
        user: &OwnedUserId,
        slot: LoginSlot,
        net: Arc<dyn TelegramNetwork>,
        me: TgUser,
    ) -> Result<(), BridgeError> {
        let host = &self.host;
        let _ = host.store().kv_delete(PENDING_LOGINS, user.as_str()).await;
        if let Some(twin) = self.logins.of(user).iter().find(|s| s.me.id == me.id) {
            if let Err(e) = self.call(net.logout()).await {
                tracing::warn!(%user, error = %e, "cannot sign out a duplicate Telegram login");
            }
            net.disconnect().await;
            self.factory.forget(user, slot, host.store()).await;
            return Err(BridgeError::Invalid(format!(
                "you are already logged in as {} (login {})",
                twin.account_label(),
                twin.slot
            )));
        }
        crate::logins::remember(host.store(), user, slot, &me)
            .await
            .map_err(|e| BridgeError::Other(e.into()))?;
        // A fresh login is news the login dialogue tells; not a "reconnection".
        host.forget_state(Some(user), &host.slot_label(slot));
        self.activate(user, slot, net, me, true).await;
        Ok(())
    }

    /// Starts the update loop of a session; after a fresh login, also opens recent chats.
    async fn activate(
        &self,
        user: &OwnedUserId,
        slot: LoginSlot,
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
        let session = Arc::new(UserSession::new(user.clone(), slot, net, me));
        if let Some(old) = self.logins.insert(session.clone()) {
            old.stop();
        }
        if let Err(e) = session.start(bridge.clone()).await {
            tracing::error!(%user, %slot, error = %e, "cannot receive Telegram updates");
            let state = match e {
                TgError::Unauthorized => return self.session_ended(user, slot).await,
                e @ TgError::Network(_) => ConnectionState::TransientDisconnect {
                    reason: e.to_string(),
                },
                e => ConnectionState::UnknownError {
                    reason: format!("cannot receive messages: {e}"),
                },
            };
            session.report_state(&host, state).await;
            return;
        }
        session
            .report_state(&host, ConnectionState::Connected)
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
    pub(crate) async fn session_ended(&self, user: &OwnedUserId, slot: LoginSlot) {
        let session = self.logins.take(user, slot);
        let host = &self.host;
        if let Some(s) = &session {
            host.ghosts()
                .double_puppets()
                .unlink_remote(&Self::remote_user(s.me.id));
        }
        self.forget_login(user, slot).await;
        host.report_state(
            Some(user),
            &host.slot_label(slot),
            ConnectionState::LoggedOut,
        )
        .await;
        if let Some(s) = session {
            s.stop();
        }
    }

    /// Forgets a login's stored account and session.
    async fn forget_login(&self, user: &OwnedUserId, slot: LoginSlot) {
        let store = self.host.store();
        if let Err(e) = crate::logins::forget(store, user, slot).await {
            tracing::error!(%user, %slot, error = %e, "cannot forget a Telegram login");
        }
        self.factory.forget(user, slot, store).await;
    }

    /// Reconnects users who were logged in before a restart and tells those whose login was
    /// interrupted to start over.
    async fn restore(self: Arc<Self>, logins: Vec<(OwnedUserId, LoginSlot)>) {
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
        for (user, slot) in logins {
            let me = async {
                let net = self.factory.connect(&user, slot, host.store()).await?;
                let me = self.call(net.me()).await?;
                Ok::<_, TgError>((net, me))
            };
            match me.await {
                Ok((net, me)) => self.activate(&user, slot, net, me, false).await,
                Err(TgError::Unauthorized) => self.session_ended(&user, slot).await,
                Err(e) => {
                    tracing::warn!(%user, %slot, error = %e, "cannot reconnect to Telegram");
                    let reason = format!(
                        "{e}; your session is kept and the bridge tries again when it restarts"
                    );
                    let state = ConnectionState::UnknownError { reason };
                    host.report_state(Some(&user), &host.slot_label(slot), state)
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
    /// receiver's login for a private chat; every session, by Matrix ID and login, for a
    /// shared one.
    pub(crate) fn history_readers(&self, key: &PortalKey) -> Vec<Arc<UserSession>> {
        match &key.receiver {
            Some(user) => self.session_at(user, key.login).into_iter().collect(),
            None => self.logins.all(),
        }
    }

    /// The portal key of a chat as seen by `user`'s login `slot`.
    pub fn portal_key(chat: ChatRef, user: &OwnedUserId, slot: LoginSlot) -> PortalKey {
        match chat.kind {
            ChatKind::User => PortalKey::private_of(chat.to_string(), user.clone(), slot),
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
                multiple_logins: true,
            },
        }
    }

    fn init(config: TelegramConfig, host: BridgeHost) -> Result<Arc<Self>, ConfigError> {
        let factory = crate::grammers::GrammersFactory::new(&config, host.tasks().clone())?;
        Ok(Self::with_factory(config, Arc::new(factory), host))
    }

    async fn start(self: Arc<Self>) -> Result<(), BridgeError> {
        let logins = crate::logins::remembered(self.host.store())
            .await
            .map_err(|e| BridgeError::Other(e.into()))?;
        // Connecting from here on: deliveries for these users are retried until it is up.
        for (user, slot) in &logins {
            let label = self.host.slot_label(*slot);
            self.host
                .report_state(Some(user), &label, ConnectionState::Connecting)
                .await;
        }
        // Reconnecting may wait on Telegram: do not hold up the appservice.
        let tasks = self.host.tasks().clone();
        tasks.spawn(self.clone().restore(logins));
        Ok(())
    }

    async fn stop(&self) {
        for s in self.logins.drain() {
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
        let Some(session) = self
            .sending_session(&event.sender, portal.key(), event.login)
            .await
        else {
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
        // The receiver's login for a private chat; for a group, the first login Telegram
        // shows it to (a group is visible to its members only).
        let mut last = BridgeError::NotLoggedIn;
        for session in self.history_readers(key) {
            match self.call(session.net.chat(chat)).await {
                Ok(info) => return Ok(self.spec_for(key, &info, &session).await),
                Err(e) => last = BridgeError::Remote(e.to_string()),
            }
        }
        Err(last)
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
        Ok(session.portal_key(ChatRef::user(id)))
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
        let slot = self.logins.free_slot(user)?;
        let host = &self.host;
        let _ = host
            .store()
            .kv_set(PENDING_LOGINS, user.as_str(), &true)
            .await;
        Ok(Box::new(TelegramLogin::new(bridge, user.clone(), slot)))
    }

    async fn logout(&self, user: &OwnedUserId, slot: LoginSlot) -> Result<(), BridgeError> {
        let session = self.logins.take(user, slot);
        let host = &self.host;
        if let Some(s) = &session {
            s.stop();
            if let Err(e) = self.call(s.net.logout()).await {
                tracing::warn!(%user, %slot, error = %e, "Telegram sign-out failed; forgetting the session anyway");
            }
            s.net.disconnect().await;
            host.ghosts()
                .double_puppets()
                .unlink_remote(&Self::remote_user(s.me.id));
        }
        self.forget_login(user, slot).await;
        host.forget_state(Some(user), &host.slot_label(slot));
        Ok(())
    }

    async fn whoami(&self, user: &OwnedUserId) -> Option<String> {
        self.session(user).map(|s| s.account_label())
    }

    async fn logins(&self, user: &OwnedUserId) -> Vec<LoginInfo> {
        self.logins
            .of(user)
            .iter()
            .map(|s| LoginInfo {
                slot: s.slot,
                account: s.account_label(),
            })
            .collect()
    }

    /// The guide: a room with the bot that is not a direct message does not work.
    fn bot_joins_group_rooms(&self) -> bool {
        false
    }
}
