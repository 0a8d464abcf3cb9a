//! Newtypes for the identifiers a remote network hands us.
//!
//! The core never looks inside these: each network decides what its IDs look like (an IRC
//! network name plus a lowercased channel, a bare JID, a Telegram peer ID). Keeping them as
//! distinct types stops a chat ID from being passed where a user ID is expected.

use std::fmt;

use ruma::OwnedUserId;
use serde::{Deserialize, Serialize};

macro_rules! remote_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a network-chosen identifier.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            /// The identifier as the network spelled it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

remote_id!(
    /// A user on the remote network (IRC nick, JID, Telegram or WhatsApp user ID).
    RemoteUserId
);
remote_id!(
    /// A chat on the remote network (IRC channel, MUC, Telegram chat, WhatsApp group or contact).
    RemoteChatId
);
remote_id!(
    /// A message on the remote network, used to map replies, edits and redactions.
    RemoteMessageId
);

/// Identifies one portal: a remote chat, seen by one Matrix user when the chat is private.
///
/// Group chats and channels are shared by every Matrix user, so their `receiver` is `None`.
/// A direct chat with a remote user exists once per Matrix user (Alice's DM with `bob` on IRC
/// is not Carol's), so its `receiver` names the Matrix user who owns it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortalKey {
    /// The remote chat.
    pub chat: RemoteChatId,
    /// The Matrix user this portal belongs to, for private chats.
    pub receiver: Option<OwnedUserId>,
}

impl PortalKey {
    /// A portal shared by everyone (a channel or group).
    pub fn shared(chat: impl Into<RemoteChatId>) -> Self {
        Self {
            chat: chat.into(),
            receiver: None,
        }
    }

    /// A portal private to one Matrix user (a DM).
    pub fn private(chat: impl Into<RemoteChatId>, receiver: OwnedUserId) -> Self {
        Self {
            chat: chat.into(),
            receiver: Some(receiver),
        }
    }
}

impl fmt::Display for PortalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.receiver {
            Some(r) => write!(f, "{} (for {r})", self.chat),
            None => write!(f, "{}", self.chat),
        }
    }
}

/// What kind of remote chat a portal stands for; decides room presets and power levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalKind {
    /// A one-to-one chat with a remote user.
    Dm,
    /// A closed group (Telegram or WhatsApp group, private MUC).
    Group,
    /// A public channel (IRC channel, public MUC, Telegram channel).
    Channel,
}

impl PortalKind {
    /// The spelling used in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            PortalKind::Dm => "dm",
            PortalKind::Group => "group",
            PortalKind::Channel => "channel",
        }
    }

    /// Parses the store's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dm" => Some(PortalKind::Dm),
            "group" => Some(PortalKind::Group),
            "channel" => Some(PortalKind::Channel),
            _ => None,
        }
    }
}
