//! The [`Bridge`] trait: the one thing a network crate implements.
//!
//! The core owns everything Matrix-facing (the appservice API, ghosts, portals, the bot, the
//! store); a network owns only its protocol. Data crosses in two directions:
//!
//! * remote → Matrix: the network calls [`BridgeHost::send`] with a [`RemoteEvent`]; the core
//!   queues it on the portal's ordered queue, creates the ghost and portal if needed and posts it.
//! * Matrix → remote: the core calls [`Bridge::handle_matrix_event`] on the portal's queue, and
//!   records the returned remote ID in the message map, or shows the [`DeliveryError`] to the
//!   sender as a notice (after retrying a retryable one for `limits.delivery_retry_secs`).
//!
//! Life cycle, in two phases like mautrix's `Init`/`Start`: [`Bridge::init`] builds the network
//! with its [`BridgeHost`] (so it never has to ask "has the core handed me my host yet?"), then
//! [`Bridge::start`] connects; the core replays the inbox only after `start` returned, and
//! [`Bridge::stop`] is called once at shutdown, after the portal queues drained.
//!
//! Events for one portal are handled in order; different portals proceed concurrently.
//!
//! [`RemoteEvent`]: crate::events::RemoteEvent

use std::sync::Arc;

use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId};
use serde::{Serialize, de::DeserializeOwned};

use crate::commands::Command;
use crate::config::NetworkConfig;
use crate::events::{Delivered, DeliveryError, MatrixEvent, RemoteEventKind};
use crate::ghost::GhostNaming;
use crate::host::BridgeHost;
use crate::ids::{LoginSlot, PortalKey, RemoteUserId};
use crate::login::LoginProcess;
use crate::network::NetworkHandle;
use crate::seam::Portal;

pub use crate::seam::{
    BackfillAnchor, BackfillReason, BackfillRequest, BridgeError, Capabilities, ConfigError,
    LoginInfo, NetworkInfo, PortalSpec,
};

/// The seam between the core and one network. See the module docs for the data flow.
#[async_trait]
pub trait Bridge: Send + Sync + Sized + 'static {
    /// The `network:` section of the config.
    type Config: NetworkConfig + Clone + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Names and defaults.
    fn info() -> NetworkInfo;

    /// Phase one: builds the network from its config and its host, the network's handle on the
    /// core for the rest of its life. Connects nothing: no remote event can arrive before
    /// [`Bridge::start`], and no Matrix event is handed over before it either.
    fn init(config: Self::Config, host: BridgeHost) -> Result<Arc<Self>, ConfigError>;

    /// How remote user IDs become the variables of the ghost username template and back.
    /// The default maps the whole ID to `{id}`.
    fn ghost_naming() -> Arc<dyn GhostNaming> {
        Arc::new(crate::ghost::IdNaming)
    }

    /// Phase two: starts connections (restoring those that were up before a restart) and
    /// returns once the network can take Matrix events. A connection that is still coming up
    /// answers deliveries with a retryable [`DeliveryError`]; the core retries those.
    async fn start(self: Arc<Self>) -> Result<(), BridgeError>;

    /// Stops cleanly (QUIT, stream close). Called once at shutdown, after the portal queues
    /// drained; tasks spawned through [`BridgeHost::tasks`] are cancelled after it returns.
    async fn stop(&self) {}

    /// Whether the bot stays in rooms that are not a DM with it (IRC: yes, to plumb them;
    /// Telegram and WhatsApp: no, commands only work in a DM, so it says so and leaves).
    fn bot_joins_group_rooms(&self) -> bool {
        true
    }

    /// The network's own bot commands, added to the core's registry.
    fn commands(self: &Arc<Self>) -> Vec<Arc<dyn Command>> {
        Vec::new()
    }

    /// Delivers a Matrix event from a portal room. Runs on that portal's ordered queue.
    async fn handle_matrix_event(
        &self,
        portal: &Portal,
        event: MatrixEvent,
    ) -> Result<Delivered, DeliveryError>;

    /// A homeserver asked for an alias in our namespace, parsed by the alias template into these
    /// variables. Return the chat to create a portal for, or `None` if there is no such chat.
    async fn resolve_alias(
        &self,
        _vars: &[(String, String)],
    ) -> Result<Option<PortalSpec>, BridgeError> {
        Ok(None)
    }

    /// The current description of a chat, used when creating its portal on demand.
    async fn describe_chat(&self, key: &PortalKey) -> Result<PortalSpec, BridgeError>;

    /// A chat's history, oldest first: messages (with `sent_at`), and edits, reactions and
    /// redactions of them. The core asks on the portal's queue when it creates a portal and,
    /// once per run, before a portal's first event (what it missed while the bridge was away);
    /// see [`BackfillRequest`]. It posts the events with their original timestamps, skips what
    /// the message map already holds (overlap is fine), and never hands them back to the
    /// network. Networks declaring [`Capabilities::backfill`] implement it.
    async fn backfill(
        &self,
        _portal: &Portal,
        _request: BackfillRequest,
    ) -> Result<Vec<RemoteEventKind>, BridgeError> {
        Ok(Vec::new())
    }

    /// A Matrix user invited a ghost into a new direct chat: the portal for it, or an error the
    /// bot shows. Networks without private messages keep the default.
    async fn open_dm(
        &self,
        _user: &OwnedUserId,
        _ghost: &RemoteUserId,
    ) -> Result<PortalKey, BridgeError> {
        Err(BridgeError::Invalid(
            "this bridge does not support private chats".into(),
        ))
    }

    /// Checks a `plumb` request (`args` are what follows the room ID) and names the chat to plumb.
    async fn validate_plumb(
        &self,
        _requester: &OwnedUserId,
        _room: &OwnedRoomId,
        _args: &[String],
    ) -> Result<PortalKey, BridgeError> {
        Err(BridgeError::Invalid(
            "this bridge does not support plumbing rooms".into(),
        ))
    }

    /// A portal was unlinked or deleted: leave the remote chat if nobody needs it.
    async fn portal_removed(&self, _portal: &Portal) {}

    /// Starts a login for `user`; `None` for networks without logins. `args` are the words after
    /// `login` (e.g. `phone +4412345678`).
    async fn start_login(
        &self,
        _user: &OwnedUserId,
        _args: &[String],
    ) -> Result<Box<dyn LoginProcess>, BridgeError> {
        Err(BridgeError::Invalid("this bridge has no login".into()))
    }

    /// Signs `user`'s login `login` out of the network and forgets its session. The network
    /// also unlinks that account from double puppeting.
    async fn logout(&self, _user: &OwnedUserId, _login: LoginSlot) -> Result<(), BridgeError> {
        Err(BridgeError::Invalid("this bridge has no login".into()))
    }

    /// Who `user` is logged in as, if anyone: their first login (for `ping`, `help` and the
    /// relay checks).
    async fn whoami(&self, _user: &OwnedUserId) -> Option<String> {
        None
    }

    /// Every login of `user`, by slot. Networks with [`Capabilities::multiple_logins`]
    /// implement it; the default is the one login [`whoami`](Self::whoami) names.
    async fn logins(&self, user: &OwnedUserId) -> Vec<LoginInfo> {
        self.whoami(user)
            .await
            .map(|account| LoginInfo {
                slot: LoginSlot::FIRST,
                account,
            })
            .into_iter()
            .collect()
    }
}

/// Every [`Bridge`] is a [`NetworkHandle`], the object-safe view the core holds.
#[async_trait]
impl<B: Bridge> NetworkHandle for B {
    fn info(&self) -> NetworkInfo {
        B::info()
    }
    fn capabilities(&self) -> Capabilities {
        B::info().capabilities
    }
    fn bot_joins_group_rooms(&self) -> bool {
        Bridge::bot_joins_group_rooms(self)
    }
    async fn handle_matrix_event(
        &self,
        portal: &Portal,
        event: MatrixEvent,
    ) -> Result<Delivered, DeliveryError> {
        Bridge::handle_matrix_event(self, portal, event).await
    }
    async fn resolve_alias(
        &self,
        vars: &[(String, String)],
    ) -> Result<Option<PortalSpec>, BridgeError> {
        Bridge::resolve_alias(self, vars).await
    }
    async fn describe_chat(&self, key: &PortalKey) -> Result<PortalSpec, BridgeError> {
        Bridge::describe_chat(self, key).await
    }
    async fn backfill(
        &self,
        portal: &Portal,
        request: BackfillRequest,
    ) -> Result<Vec<RemoteEventKind>, BridgeError> {
        Bridge::backfill(self, portal, request).await
    }
    async fn open_dm(
        &self,
        user: &OwnedUserId,
        ghost: &RemoteUserId,
    ) -> Result<PortalKey, BridgeError> {
        Bridge::open_dm(self, user, ghost).await
    }
    async fn validate_plumb(
        &self,
        requester: &OwnedUserId,
        room: &OwnedRoomId,
        args: &[String],
    ) -> Result<PortalKey, BridgeError> {
        Bridge::validate_plumb(self, requester, room, args).await
    }
    async fn portal_removed(&self, portal: &Portal) {
        Bridge::portal_removed(self, portal).await
    }
    async fn start_login(
        &self,
        user: &OwnedUserId,
        args: &[String],
    ) -> Result<Box<dyn LoginProcess>, BridgeError> {
        Bridge::start_login(self, user, args).await
    }
    async fn logout(&self, user: &OwnedUserId, login: LoginSlot) -> Result<(), BridgeError> {
        Bridge::logout(self, user, login).await
    }
    async fn whoami(&self, user: &OwnedUserId) -> Option<String> {
        Bridge::whoami(self, user).await
    }
    async fn logins(&self, user: &OwnedUserId) -> Vec<LoginInfo> {
        Bridge::logins(self, user).await
    }
}
