//! The events that cross the seam between the core and a network, in both directions.
//!
//! A network converts its protocol into [`RemoteEvent`]s and hands them to the core; the core
//! turns Matrix events in portal rooms into [`MatrixEvent`]s and hands them to the network.
//! Neither side sees the other's wire format.

use ruma::{OwnedEventId, OwnedMxcUri, OwnedUserId};
use serde::{Deserialize, Serialize};

use crate::ids::{PortalKey, RemoteChatId, RemoteMessageId, RemoteUserId};

/// The body of a message, in whichever form both sides understand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageContent {
    /// What kind of message this is.
    pub kind: MessageKind,
    /// Plain-text body (always present; the fallback for clients without HTML).
    pub body: String,
    /// Matrix `org.matrix.custom.html` body, when the message has formatting.
    pub html: Option<String>,
    /// Attached media, for media kinds.
    pub media: Option<Media>,
    /// Matrix users mentioned (for `m.mentions` and pills).
    pub mentions: Vec<OwnedUserId>,
    /// The poll, for [`MessageKind::Poll`] (`body` then holds it as readable text, for
    /// networks and clients without polls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<Poll>,
}

impl MessageContent {
    /// A plain text message.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            kind: MessageKind::Text,
            body: body.into(),
            html: None,
            media: None,
            mentions: vec![],
            poll: None,
        }
    }

    /// A plain notice (`m.notice`), as bots send.
    pub fn notice(body: impl Into<String>) -> Self {
        Self {
            kind: MessageKind::Notice,
            ..Self::text(body)
        }
    }

    /// An emote (`/me`).
    pub fn emote(body: impl Into<String>) -> Self {
        Self {
            kind: MessageKind::Emote,
            ..Self::text(body)
        }
    }

    /// Adds the poll of a [`MessageKind::Poll`] message.
    pub fn with_poll(mut self, poll: Poll) -> Self {
        self.poll = Some(poll);
        self
    }

    /// Adds an HTML body.
    pub fn with_html(mut self, html: impl Into<String>) -> Self {
        self.html = Some(html.into());
        self
    }
}

/// The `msgtype` of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    Notice,
    Emote,
    Image,
    Video,
    Audio,
    /// A voice note: audio recorded to be heard as a message (`m.audio` marked with MSC3245's
    /// `org.matrix.msc3245.voice`, which clients show as a voice message).
    Voice,
    File,
    /// A sticker, sent to Matrix as an image.
    Sticker,
    /// A location, sent as a `geo:` link.
    Location,
    /// A poll (MSC3381 on Matrix), with [`MessageContent::poll`].
    Poll,
}

impl MessageKind {
    /// Whether this kind carries a [`Media`] attachment.
    pub fn has_media(self) -> bool {
        matches!(
            self,
            Self::Image | Self::Video | Self::Audio | Self::Voice | Self::File | Self::Sticker
        )
    }
}

/// A poll: a question and the answers to choose from. On Matrix it is an MSC3381 poll start
/// event, which Element and other clients show as a poll to vote on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poll {
    pub question: String,
    pub answers: Vec<PollAnswer>,
    /// How many answers one person may choose (1: a single-choice poll).
    pub max_selections: u32,
}

/// One answer of a [`Poll`]: what it says, and the ID votes name it by (the network's own
/// option ID where it has one, so a Matrix vote finds the option without a lookup).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollAnswer {
    pub id: String,
    pub text: String,
}

/// Media attached to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// Where the content lives in the Matrix media repository (after upload).
    pub mxc: Option<OwnedMxcUri>,
    /// A public HTTP(S) URL for the content (what IRC and XMPP users get as a link).
    pub url: Option<String>,
    /// File name shown to users.
    pub filename: String,
    /// MIME type, if known.
    pub mimetype: Option<String>,
    /// Size in bytes, if known.
    pub size: Option<u64>,
    /// The bytes, when a network hands them over directly for upload (base64 in JSON, so a
    /// journaled remote event keeps its file across a crash).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "inline_bytes"
    )]
    pub data: Option<bytes::Bytes>,
}

impl Media {
    /// "No picture": as a [`RemoteProfile`] avatar it removes the ghost's avatar.
    pub fn removal() -> Self {
        Self {
            mxc: None,
            url: None,
            filename: String::new(),
            mimetype: None,
            size: None,
            data: None,
        }
    }

    /// Whether this is [`Media::removal`]: nothing to point at or upload.
    pub fn is_removal(&self) -> bool {
        self.mxc.is_none() && self.url.is_none() && self.data.is_none()
    }
}

/// An event from the remote network, addressed to one portal. Serialisable: the core journals
/// it before queueing, so a crash between receiving and posting it loses nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoteEvent {
    /// The portal it concerns; created on demand if it does not exist yet.
    pub portal: PortalKey,
    /// What happened.
    pub kind: RemoteEventKind,
}

/// What happened on the remote side.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RemoteEventKind {
    /// A new message.
    Message {
        id: RemoteMessageId,
        sender: RemoteUserId,
        content: MessageContent,
        /// The remote message this one replies to.
        reply_to: Option<RemoteMessageId>,
        /// When the remote server says it was sent (IRCv3 `server-time`); the Matrix event
        /// gets it as its timestamp (appservice `ts`), else the homeserver's clock is used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_at: Option<ruma::MilliSecondsSinceUnixEpoch>,
    },
    /// A message was edited.
    Edit {
        target: RemoteMessageId,
        sender: RemoteUserId,
        content: MessageContent,
    },
    /// A message was deleted.
    Redaction {
        target: RemoteMessageId,
        sender: RemoteUserId,
    },
    /// Message `target` disappears at `at` (a disappearing-message timer): the core redacts
    /// its Matrix event then, remembered in the database so a restart does not forget it.
    Expire {
        target: RemoteMessageId,
        at: ruma::MilliSecondsSinceUnixEpoch,
    },
    /// A reaction was added (`key` is usually an emoji).
    Reaction {
        id: RemoteMessageId,
        target: RemoteMessageId,
        sender: RemoteUserId,
        key: String,
    },
    /// A remote user voted in poll `target`: the [`PollAnswer::id`]s they chose (none: they
    /// took their vote back). `id` is the vote's own remote ID (a replay is not voted twice).
    PollVote {
        id: RemoteMessageId,
        target: RemoteMessageId,
        sender: RemoteUserId,
        answers: Vec<String>,
    },
    /// A remote user started or stopped typing.
    Typing { sender: RemoteUserId, typing: bool },
    /// A remote user read up to a message.
    ReadReceipt {
        sender: RemoteUserId,
        up_to: RemoteMessageId,
    },
    /// A remote user's membership changed.
    Membership {
        user: RemoteUserId,
        change: MembershipChange,
    },
    /// The chat's name, topic or avatar changed (only the fields that are `Some`).
    ChatInfo(ChatInfo),
    /// A remote user's profile changed (display name, avatar); applies to their ghost everywhere.
    Profile {
        user: RemoteUserId,
        profile: RemoteProfile,
    },
    /// A line from the bridge itself to show in the portal as a notice (e.g. "netsplit").
    Notice { body: String },
}

/// A change of membership, both directions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    Join,
    Leave {
        reason: Option<String>,
    },
    Kick {
        by: Option<RemoteUserId>,
        reason: Option<String>,
    },
    Ban {
        by: Option<RemoteUserId>,
        reason: Option<String>,
    },
    /// Power on the remote side (IRC +o/+v, MUC affiliation) as a Matrix power level.
    Power {
        level: i64,
    },
}

/// Information about a remote chat; `None` fields are unknown or unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatInfo {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar: Option<Media>,
}

/// A remote user's profile; `None` fields are unknown or unchanged. An avatar that is
/// [`Media::removal`] removes the ghost's avatar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteProfile {
    pub displayname: Option<String>,
    pub avatar: Option<Media>,
}

/// An event from Matrix in a portal room, addressed to the network.
#[derive(Clone, Debug)]
pub struct MatrixEvent {
    /// The Matrix event ID (for the message map).
    pub event_id: OwnedEventId,
    /// The Matrix user who sent it (a real user, never one of our ghosts).
    pub sender: OwnedUserId,
    /// What happened.
    pub kind: MatrixEventKind,
    /// When the homeserver accepted it (`origin_server_ts`), when known.
    pub sent_at: Option<ruma::MilliSecondsSinceUnixEpoch>,
    /// The event may already have reached the network: it was replayed after a crash that
    /// came between the send and the bookkeeping. A network that can ask whether it already
    /// has the message (by an ID derived from `event_id`) should, before sending it again.
    pub maybe_delivered: bool,
    /// In a group portal, the login of `sender` to speak through, when they chose one
    /// (`use-login`); `None`: the network picks. Networks with one login per user ignore it.
    pub login: Option<crate::ids::LoginSlot>,
}

/// What a Matrix user did in a portal.
#[derive(Clone, Debug)]
pub enum MatrixEventKind {
    /// A message; `reply_to` is already resolved to the remote message, when it is bridged.
    Message {
        content: MessageContent,
        reply_to: Option<ReplyTarget>,
    },
    /// An edit of an earlier bridged message.
    Edit {
        target: RemoteMessageId,
        content: MessageContent,
    },
    /// A redaction of an earlier bridged message.
    Redaction {
        target: RemoteMessageId,
        reason: Option<String>,
    },
    /// A reaction to an earlier bridged message.
    Reaction {
        target: RemoteMessageId,
        key: String,
    },
    /// A vote in an earlier bridged poll: the IDs of the chosen answers (empty: the vote is
    /// taken back), as the poll's [`PollAnswer::id`]s.
    PollVote {
        target: RemoteMessageId,
        answers: Vec<String>,
    },
    /// The user joined or left the portal room.
    Membership { change: MembershipChange },
    /// The user invited a ghost into a group portal: add that person to the remote chat. On
    /// success the core joins the ghost; on failure (or [`Delivered::Ignored`]: the network
    /// cannot add people) the ghost turns the invitation down with the reason.
    GhostInvite { ghost: RemoteUserId },
    /// The user kicked or banned a ghost.
    GhostMembership {
        ghost: RemoteUserId,
        change: MembershipChange,
    },
    /// The user changed the room topic or name.
    ChatInfo(ChatInfo),
    /// The user started or stopped typing.
    Typing { typing: bool },
    /// The user read up to a bridged message.
    ReadReceipt { up_to: RemoteMessageId },
}

/// The message a Matrix reply points at, as the network needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyTarget {
    /// The remote ID of the message replied to.
    pub message: RemoteMessageId,
    /// Its remote sender, when known (IRC writes replies as `nick: text`).
    pub sender: Option<RemoteUserId>,
    /// A short excerpt of it, for networks that quote.
    pub excerpt: Option<String>,
}

/// The result of handing a Matrix event to the network.
#[derive(Debug)]
pub enum Delivered {
    /// Sent; the remote ID to record in the message map.
    As(RemoteMessageId),
    /// Sent, but the network has no ID for it (IRC).
    Untracked,
    /// Handed to the network in order, with the verdict still to come (IRC confirms a message
    /// with a PING round trip). The portal queue moves on at once, so one chat is not bounded
    /// by the server's round trip; a failure still reaches the sender as a notice.
    Pending(PendingDelivery),
    /// Deliberately not sent (a reaction on a network without reactions): no notice.
    Ignored,
}

/// The network's later verdict on a message it has already queued in order; see
/// [`Delivered::Pending`]. Recorded like [`Delivered::Untracked`], or under the remote ID the
/// verdict brings (IRC's `echo-message` gives the server's `msgid` of our own line).
pub struct PendingDelivery(
    std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<Option<RemoteMessageId>, DeliveryError>> + Send,
        >,
    >,
);

impl PendingDelivery {
    /// Wraps the future that resolves once the network confirmed (or refused) the message.
    pub fn new(
        verdict: impl std::future::Future<Output = Result<(), DeliveryError>> + Send + 'static,
    ) -> Self {
        Self(Box::pin(async move { verdict.await.map(|()| None) }))
    }

    /// As [`PendingDelivery::new`], for a confirmation that may name the message's remote ID:
    /// the message map then records it under that ID, so later replies and reactions to it
    /// from the remote side find the Matrix event.
    pub fn identified(
        verdict: impl std::future::Future<Output = Result<Option<RemoteMessageId>, DeliveryError>>
        + Send
        + 'static,
    ) -> Self {
        Self(Box::pin(verdict))
    }

    /// Waits for the verdict.
    pub async fn verdict(self) -> Result<(), DeliveryError> {
        self.0.await.map(|_| ())
    }

    /// Waits for the verdict and the remote ID it brings, if any.
    pub async fn remote_id(self) -> Result<Option<RemoteMessageId>, DeliveryError> {
        self.0.await
    }
}

impl std::fmt::Debug for PendingDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingDelivery")
    }
}

/// Why a Matrix event could not reach the network. The core shows `reason` to the sender as a
/// notice in the room: no message is dropped silently.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{reason}")]
pub struct DeliveryError {
    /// Human-readable, shown to the sender.
    pub reason: String,
    /// Whether trying again later may work (e.g. not connected yet).
    pub retryable: bool,
}

impl DeliveryError {
    /// A failure that will not go away by retrying.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retryable: false,
        }
    }
    /// A failure that may pass (connection down, flood limit).
    pub fn transient(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retryable: true,
        }
    }
}

/// A private chat the network wants opened (e.g. an IRC PM to a puppet).
#[derive(Clone, Debug)]
pub struct DmRequest {
    pub chat: RemoteChatId,
    pub with: RemoteUserId,
    pub receiver: OwnedUserId,
}

/// `Option<Bytes>` as base64 text, for [`Media::data`].
mod inline_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &Option<bytes::Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match data {
            Some(d) => s.serialize_some(&STANDARD.encode(d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bytes::Bytes>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| {
            STANDARD
                .decode(t)
                .map(bytes::Bytes::from)
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}
