//! The types that cross the seam between the core and a network, besides the event enums
//! ([`crate::events`]) and remote IDs ([`crate::ids`]). A leaf: it imports nothing of the core
//! but those two, so every other module can use it without creating a cycle.

use ruma::{MilliSecondsSinceUnixEpoch, OwnedMxcUri, OwnedRoomId};
use serde::{Deserialize, Serialize};

use crate::events::ChatInfo;
use crate::ids::{LoginSlot, PortalKey, PortalKind, RemoteMessageId, RemoteUserId};

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
    /// What the network supports; static, so registrations can be written before it runs.
    pub capabilities: Capabilities,
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
    /// Whether the network can hand over a chat's history ([`crate::Bridge::backfill`]).
    pub backfill: bool,
    /// Whether the network has polls to vote in. Without, a Matrix poll arrives as its text
    /// and a Matrix vote gets a notice saying it was not counted there.
    pub polls: bool,
    /// Whether a user may be logged in to several accounts at once (Telegram, WhatsApp). Their
    /// logins are numbered ([`LoginSlot`]); `login` adds one, `list-logins` shows them.
    pub multiple_logins: bool,
}

/// One of a user's logins, as `list-logins`, `ping` and the provisioning API show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginInfo {
    pub slot: LoginSlot,
    /// Who the login is on the network: "Alice (+4412345678)".
    pub account: String,
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

/// Why the core asks a network for a chat's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackfillReason {
    /// The portal was just created: the chat's newest messages.
    Created,
    /// The bridge was away: what came after the newest message the portal holds.
    CatchUp,
}

/// The newest message a portal holds: where its history continues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackfillAnchor {
    /// Its remote ID (a message from Matrix included: its ID on the network).
    pub id: RemoteMessageId,
    /// When it was sent: the remote timestamp when the network gave one, else when the
    /// bridge posted or delivered it (so allow for clock skew).
    pub at: MilliSecondsSinceUnixEpoch,
}

/// A request for a chat's history ([`crate::Bridge::backfill`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackfillRequest {
    pub reason: BackfillReason,
    /// Only messages after this one; `None`: the chat's newest messages.
    pub after: Option<BackfillAnchor>,
    /// At most this many messages: the newest ones, when there are more.
    pub limit: usize,
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

/// A config problem, naming the key and what was expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{key}: {problem}")]
pub struct ConfigError {
    /// Dotted path of the key, e.g. `appservice.port`.
    pub key: String,
    /// What is wrong and what was expected.
    pub problem: String,
}

impl ConfigError {
    /// Builds an error for `key`.
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// What a Matrix user may do with the bridge, from least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionLevel {
    /// Nothing: the bridge ignores the user.
    None,
    /// May talk in bridged rooms (relayed), no commands beyond `help`.
    Relay,
    /// May use the bridge: log in, join, open chats.
    User,
    /// May manage the bridge: plumb, unlink any room.
    Admin,
}

/// A portal: one Matrix room for one remote chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalRow {
    pub key: PortalKey,
    pub room_id: OwnedRoomId,
    pub kind: PortalKind,
    /// A room that existed before and was linked by `plumb`: keeps its own name and members.
    pub plumbed: bool,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar: Option<OwnedMxcUri>,
}

/// A portal as the network sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Portal {
    pub row: PortalRow,
}

impl Portal {
    /// The portal's key.
    pub fn key(&self) -> &PortalKey {
        &self.row.key
    }
    /// The portal's room.
    pub fn room_id(&self) -> &OwnedRoomId {
        &self.row.room_id
    }
}

/// The state of one login's connection to the remote network (one IRC server connection, one
/// Telegram or WhatsApp account, the XMPP component). Networks report changes through
/// [`crate::BridgeHost::report_state`]; the core tells the user once per change worth telling,
/// shows it in `ping`, and counts it in the metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Connecting or logging in, for the first time in this run or after a disconnect.
    Connecting,
    /// Connected and usable.
    Connected,
    /// Lost for a passing reason; the network is reconnecting with backoff.
    TransientDisconnect { reason: String },
    /// The remote side refused the credentials; the user must act (log in again, fix a password).
    BadCredentials { reason: String },
    /// The session ended remotely (logged out from the phone, session revoked).
    LoggedOut,
    /// Anything else that stops the connection.
    UnknownError { reason: String },
}

impl ConnectionState {
    /// A stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::TransientDisconnect { .. } => "transient_disconnect",
            Self::BadCredentials { .. } => "bad_credentials",
            Self::LoggedOut => "logged_out",
            Self::UnknownError { .. } => "unknown_error",
        }
    }

    /// Every label, for metrics that list each state.
    pub const LABELS: [&'static str; 6] = [
        "connecting",
        "connected",
        "transient_disconnect",
        "bad_credentials",
        "logged_out",
        "unknown_error",
    ];

    /// Whether messages can be delivered now.
    pub fn is_connected(&self) -> bool {
        matches!(self, Self::Connected)
    }

    /// One line for a user, e.g. "disconnected (ping timeout); reconnecting".
    pub fn describe(&self) -> String {
        match self {
            Self::Connecting => "connecting".into(),
            Self::Connected => "connected".into(),
            Self::TransientDisconnect { reason } => {
                format!("disconnected ({reason}); reconnecting")
            }
            Self::BadCredentials { reason } => format!("login refused ({reason})"),
            Self::LoggedOut => "logged out remotely; log in again to continue".into(),
            Self::UnknownError { reason } => format!("stopped ({reason})"),
        }
    }
}
