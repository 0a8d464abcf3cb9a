//! The [`Bridge`] trait: the one thing a network crate implements.
//!
//! The core owns everything Matrix-facing (the appservice API, ghosts, portals, the bot, the
//! store); a network owns only its protocol. Data crosses in two directions:
//!
//! * remote → Matrix: the network calls [`BridgeHost::send`] with a [`RemoteEvent`]; the core
//!   queues it on the portal's ordered queue, creates the ghost and portal if needed and posts it.
//! * Matrix → remote: the core calls [`Bridge::handle_matrix_event`] on the portal's queue, and
//!   records the returned remote ID in the message map, or shows the [`DeliveryError`] to the
//!   sender as a notice.
//!
//! Events for one portal are handled in order; different portals proceed concurrently.

use std::sync::Arc;

use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId};
use serde::{Serialize, de::DeserializeOwned};

use crate::commands::Command;
use crate::config::{ConfigError, NetworkConfig};
use crate::events::{ChatInfo, Delivered, DeliveryError, MatrixEvent};
use crate::ghost::GhostNaming;
use crate::host::BridgeHost;
use crate::ids::{PortalKey, PortalKind, RemoteUserId};
use crate::login::LoginProcess;
use crate::portal::Portal;

/// Static facts about a network: names and defaults the core needs before any config exists.
#[derive(Clone, Debug)]
pub struct NetworkInfo {
    /// Short lowercase identifier: `irc`, `xmpp`, `telegram`, `whatsapp`. Used as the default
    /// appservice `id` and database file name.
    pub id: &'static str,
    /// Human name: `IRC`, `XMPP`, `Telegram`, `WhatsApp`.
    pub display_name: &'static str,
    /// Default bot localpart (`telegram`, `whatsappbot`, ...).
    pub bot_username: &'static str,
    /// Default bot display name.
    pub bot_displayname: &'static str,
    /// Default port the appservice listens on.
    pub default_port: u16,
    /// Default ghost localpart template, e.g. `_irc_{id}`; see [`crate::templates`].
    pub ghost_template: &'static str,
    /// Default ghost display name template, e.g. `{name} (WA)`.
    pub displayname_template: &'static str,
    /// Default room alias localpart template for portals reachable by alias, e.g. `_irc_{id}`;
    /// `None` when the network has no alias-addressable chats.
    pub alias_template: Option<&'static str>,
    /// Default command prefix outside the management room.
    pub command_prefix: &'static str,
    /// Version string for `bridgeversion`.
    pub version: &'static str,
}

/// Optional features a network may lack; the core does not send what the network can't take,
/// so users see no noise for, say, reactions on IRC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub edits: bool,
    pub redactions: bool,
    pub reactions: bool,
    pub typing: bool,
    pub read_receipts: bool,
    /// Whether a login is needed before a user can use the network (Telegram, WhatsApp).
    pub login: bool,
}

/// What the core needs to create a portal room for a remote chat.
#[derive(Clone, Debug)]
pub struct PortalSpec {
    pub key: PortalKey,
    pub kind: PortalKind,
    pub info: ChatInfo,
    /// Variables for the alias template; `None` for chats without an alias.
    pub alias_vars: Option<Vec<(String, String)>>,
    /// Remote members to join as ghosts when the room is created.
    pub members: Vec<RemoteUserId>,
}

/// Errors of a network that are not about a single message.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The request is not valid for this network (shown to the user).
    #[error("{0}")]
    Invalid(String),
    /// The user must log in first (shown to the user).
    #[error("you are not logged in")]
    NotLoggedIn,
    /// The remote network failed or is unreachable.
    #[error("remote network error: {0}")]
    Remote(String),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The seam between the core and one network. See the module docs for the data flow.
#[async_trait]
pub trait Bridge: Send + Sync + Sized + 'static {
    /// The `network:` section of the config.
    type Config: NetworkConfig + Clone + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Names and defaults.
    fn info() -> NetworkInfo;

    /// Builds the network from its config; connects nothing yet.
    fn new(config: Self::Config) -> Result<Self, ConfigError>;

    /// What this network supports.
    fn capabilities(&self) -> Capabilities;

    /// How remote user IDs become the variables of the ghost username template and back.
    /// The default maps the whole ID to `{id}`.
    fn ghost_naming(&self) -> Arc<dyn GhostNaming> {
        Arc::new(crate::ghost::IdNaming)
    }

    /// Starts connections (restoring those that were up before a restart). The host is the
    /// network's handle on the core for the rest of its life.
    async fn start(self: Arc<Self>, host: BridgeHost) -> Result<(), BridgeError>;

    /// Stops cleanly (QUIT, stream close). Called once at shutdown.
    async fn stop(&self) {}

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

    /// Signs `user` out of the network and forgets the session.
    async fn logout(&self, _user: &OwnedUserId) -> Result<(), BridgeError> {
        Err(BridgeError::Invalid("this bridge has no login".into()))
    }

    /// Whether the bot accepts invites to rooms that are not a DM with it (for `plumb`). A
    /// network that only takes commands in a DM (Telegram) says no: the bot then explains that
    /// and leaves.
    fn bot_joins_group_rooms(&self) -> bool {
        true
    }

    /// Who `user` is logged in as, if anyone (for `ping` and `help`).
    async fn whoami(&self, _user: &OwnedUserId) -> Option<String> {
        None
    }
}
