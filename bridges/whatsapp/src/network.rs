//! The seam between the bridge and WhatsApp: [`WhatsAppNetwork`], one linked device of one
//! Matrix user, and the plain types that cross it.
//!
//! The bridge logic only speaks these types, so the whatsapp-rust adapter ([`crate::wa`]) and the
//! scriptable fake (`fake`, behind the `fake` feature) are interchangeable.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ruma::OwnedUserId;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::jid::{ChatJid, Phone};

/// What WhatsApp (or the fake) failed at, typed so the bridge can word notices.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum WaError {
    /// No link to the WhatsApp servers (no route, connection refused, timeout).
    #[error("cannot reach WhatsApp: {0}")]
    Unreachable(String),
    /// The device is not linked (never paired, logged out or the session was deleted).
    #[error("not linked to WhatsApp")]
    NotLinked,
    /// WhatsApp refused the request (rate limit, unknown chat, not a group member...).
    #[error("WhatsApp refused: {0}")]
    Refused(String),
    /// WhatsApp says this client version is too old.
    #[error("this WhatsApp client is outdated; the bridge needs an update")]
    Outdated,
    /// The local session store failed.
    #[error("session store error: {0}")]
    Store(String),
    /// Media could not be uploaded or downloaded.
    #[error("media error: {0}")]
    Media(String),
    /// A file over `limits.media_max_bytes`.
    #[error(transparent)]
    TooLarge(#[from] ferrybridge_core::media_cap::TooLarge),
    /// Bad input from the user (phone number, group ID).
    #[error("{0}")]
    Invalid(String),
}

/// Progress of a pairing, in the order WhatsApp reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairingEvent {
    /// A QR payload to show; a new one replaces the previous one.
    Qr(String),
    /// The 8-character code to type on the phone (pairing by phone number).
    PairCode(String),
    /// The phone accepted: linked as `jid` (`name` is the push name, when known).
    Success { phone: Phone, name: Option<String> },
    /// All QR codes expired unscanned.
    QrExhausted,
    /// Pairing failed (shown to the user).
    Error(WaError),
}

/// One incoming thing from WhatsApp, already out of the library's types.
#[derive(Clone, Debug, PartialEq)]
pub enum WaEvent {
    /// A message (new, or an edit/revoke/reaction, see [`WaMessageBody`]).
    Message(WaMessage),
    /// Someone read messages up to `message_id`.
    Read {
        chat: ChatJid,
        sender: Phone,
        message_ids: Vec<String>,
    },
    /// Someone started or stopped typing in a chat.
    Typing {
        chat: ChatJid,
        sender: Phone,
        typing: bool,
    },
    /// A group's subject, description or members changed.
    GroupChanged { group: GroupInfo },
    /// Someone is calling (calls are not bridged; the user gets a notice).
    CallOffer { from: Phone },
    /// WhatsApp unlinked this device (the phone removed it, or it was offline for 14 days).
    LoggedOut { reason: String },
    /// A contact's name as the user saved it, or the name they set themselves.
    ContactName { phone: Phone, name: String },
    /// A contact set, changed or removed their profile picture.
    PictureChanged { phone: Phone },
    /// A chat had activity at `last_active` (Unix seconds), from the history sync after login.
    ChatActive { chat: ChatJid, last_active: i64 },
    /// Messages of one chat from a history sync, oldest first: kept for backfill. Those the
    /// account sent itself are `from_me`, their `sender` is the account (when the sync says
    /// so) and is set to it by the receiver in any case. A sync's `History` events come before
    /// its `ChatActive` ones, so a portal the latter create finds its history.
    History {
        chat: ChatJid,
        messages: Vec<WaMessage>,
    },
    /// The connection is up (after start or a reconnect).
    Connected,
    /// The connection dropped; the client reconnects by itself (then [`WaEvent::Connected`]).
    Disconnected { reason: String },
}

/// A message from WhatsApp.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaMessage {
    pub id: String,
    pub chat: ChatJid,
    pub sender: Phone,
    /// Sent by the linked account itself (from the phone).
    pub from_me: bool,
    /// The sender's push name, when the message carried one.
    pub push_name: Option<String>,
    /// Unix seconds.
    pub timestamp: i64,
    pub body: WaMessageBody,
    /// Sent in a chat with a disappearing-messages timer (`contextInfo.expiration`): it
    /// disappears this many seconds after `timestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u32>,
}

/// The content of a WhatsApp message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WaMessageBody {
    /// Text in WhatsApp's own markup, maybe quoting an earlier message.
    Text {
        text: String,
        reply_to: Option<String>,
    },
    /// An attachment; `caption` may be empty.
    Media {
        media: WaMedia,
        caption: String,
        reply_to: Option<String>,
    },
    /// A shared location.
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
    },
    /// An edit of message `target`.
    Edit { target: String, text: String },
    /// Message `target` was deleted for everyone.
    Revoke { target: String },
    /// A reaction to `target`; an empty `emoji` removes it.
    Reaction { target: String, emoji: String },
    /// One or more contact cards.
    Contacts { cards: Vec<ContactCard> },
    /// A poll: its question and options (named by their text, as WhatsApp's votes name
    /// them), and how many of them one may choose.
    Poll {
        question: String,
        options: Vec<String>,
        /// (Absent from history kept by older versions: read as 1.)
        #[serde(default)]
        max_selections: u32,
        /// The poll's secret (`messageContextInfo.messageSecret`): votes are encrypted with it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<Vec<u8>>,
    },
    /// A vote in poll `poll`, encrypted with the poll's key (see [`PollKey`]).
    PollVote {
        poll: String,
        payload: Vec<u8>,
        iv: Vec<u8>,
    },
    /// The chat's disappearing-messages timer was set (`0`: turned off).
    DisappearingTimer { seconds: u32 },
    /// Something the bridge can't show: its kind, in words.
    Unsupported { description: String },
}

/// A shared contact: the name shown and its vCard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactCard {
    pub name: String,
    pub vcard: String,
}

/// The kinds of WhatsApp attachments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    /// A voice note (push-to-talk audio).
    Voice,
    Document,
    Sticker,
}

/// An attachment: enough to download it later, or the bytes themselves when sending.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaMedia {
    pub kind: MediaKind,
    pub mimetype: String,
    pub filename: Option<String>,
    pub size: Option<u64>,
    /// Opaque handle the network needs to download it (the serialized media message).
    pub handle: Vec<u8>,
}

/// What the bridge asks WhatsApp to send.
#[derive(Clone, Debug, PartialEq)]
pub enum Outgoing {
    Text {
        text: String,
        reply_to: Option<QuotedMessage>,
    },
    Media {
        kind: MediaKind,
        data: Bytes,
        mimetype: String,
        filename: String,
        caption: Option<String>,
        reply_to: Option<QuotedMessage>,
    },
    Location {
        latitude: f64,
        longitude: f64,
    },
}

/// What a vote in a poll is encrypted with (the poll's creator and secret), and for a poll
/// started on Matrix the option text of each Matrix answer ID (WhatsApp's votes name options
/// by their text, which is also the answer ID of a poll that came from WhatsApp).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollKey {
    pub creator: Phone,
    pub secret: Vec<u8>,
    /// The options' text, which a decrypted vote names by hash.
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub answers: std::collections::BTreeMap<String, String>,
}

impl PollKey {
    /// The Matrix answer IDs of the WhatsApp options a vote chose.
    pub fn answer_ids(&self, options: &[String]) -> Vec<String> {
        options
            .iter()
            .map(|text| {
                self.answers
                    .iter()
                    .find(|(_, t)| *t == text)
                    .map_or_else(|| text.clone(), |(id, _)| id.clone())
            })
            .collect()
    }

    /// The WhatsApp options a Matrix vote names by answer ID.
    pub fn options(&self, answers: &[String]) -> Vec<String> {
        answers
            .iter()
            .map(|id| self.answers.get(id).unwrap_or(id).clone())
            .collect()
    }
}

/// A message a reply quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotedMessage {
    pub id: String,
    /// Its sender, when known (groups need it).
    pub sender: Option<Phone>,
}

/// A contact the bridge has heard of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    pub phone: Phone,
    pub name: String,
}

/// A WhatsApp group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    pub jid: ChatJid,
    pub subject: String,
    pub description: Option<String>,
    pub participants: Vec<Phone>,
    /// The group picture, when fetched.
    pub picture: Option<Bytes>,
}

/// A contact's profile picture: WhatsApp's ID for it (new when it changes) and the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactPicture {
    pub id: String,
    pub data: Bytes,
}

/// A change to a group made on Matrix (the portal room's name or topic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupEdit {
    Subject(String),
    /// The group description; empty removes it.
    Description(String),
    /// The group picture (JPEG: WhatsApp takes no other format), or `None` to remove it.
    Picture(Option<bytes::Bytes>),
}

/// One linked (or linking) WhatsApp device of one Matrix user.
#[async_trait]
pub trait WhatsAppNetwork: Send + Sync {
    /// The linked account, if the session store holds a paired device.
    async fn account(&self) -> Option<Phone>;
    /// Starts pairing by QR code; the stream ends after `Success`, `QrExhausted` or `Error`.
    async fn start_pairing(&self) -> Result<mpsc::Receiver<PairingEvent>, WaError>;
    /// Starts pairing by phone number: the stream carries a `PairCode`, then the outcome.
    async fn pair_with_code(&self, phone: &Phone) -> Result<mpsc::Receiver<PairingEvent>, WaError>;
    /// Connects a paired device; the stream carries everything that happens until it closes.
    async fn connect(&self) -> Result<mpsc::Receiver<WaEvent>, WaError>;
    /// Closes the connection, keeping the session.
    async fn disconnect(&self);
    /// Unlinks the device on WhatsApp and deletes the local session.
    async fn logout(&self) -> Result<(), WaError>;
    /// Forgets the session locally without telling WhatsApp.
    async fn delete_session(&self) -> Result<(), WaError>;
    /// Which of these phone numbers have WhatsApp.
    async fn is_on_whatsapp(&self, phones: &[Phone]) -> Result<Vec<(Phone, bool)>, WaError>;
    /// Sends a message; returns its WhatsApp ID.
    async fn send(&self, chat: &ChatJid, message: Outgoing) -> Result<String, WaError>;
    /// Replaces the text of an earlier message of ours.
    /// Starts a poll (2–12 distinct options; WhatsApp says so when not): its message ID and
    /// secret, which votes in it need.
    async fn send_poll(
        &self,
        chat: &ChatJid,
        question: &str,
        options: &[String],
        max_selections: u32,
    ) -> Result<(String, Vec<u8>), WaError>;
    /// Votes in poll `poll` for the options named (none: takes the vote back).
    async fn vote(
        &self,
        chat: &ChatJid,
        poll: &str,
        key: &PollKey,
        options: &[String],
    ) -> Result<String, WaError>;
    /// The options `voter` chose in a vote (a [`WaMessageBody::PollVote`]) in `poll`.
    async fn open_vote(
        &self,
        poll: &str,
        key: &PollKey,
        voter: &Phone,
        payload: &[u8],
        iv: &[u8],
    ) -> Result<Vec<String>, WaError>;
    async fn edit(&self, chat: &ChatJid, target: &str, text: &str) -> Result<String, WaError>;
    /// Deletes an earlier message of ours for everyone.
    async fn revoke(&self, chat: &ChatJid, target: &str) -> Result<(), WaError>;
    /// Reacts to a message (`sender` of the target; empty `emoji` removes the reaction).
    async fn react(
        &self,
        chat: &ChatJid,
        target: &str,
        target_sender: Option<&Phone>,
        emoji: &str,
    ) -> Result<String, WaError>;
    /// Marks messages of `sender` in `chat` as read.
    async fn mark_read(
        &self,
        chat: &ChatJid,
        sender: &Phone,
        ids: &[String],
    ) -> Result<(), WaError>;
    /// Shows or stops "typing..." in a chat.
    async fn set_typing(&self, chat: &ChatJid, typing: bool) -> Result<(), WaError>;
    /// The groups the account is in.
    async fn groups(&self) -> Result<Vec<GroupInfo>, WaError>;
    /// One group's details.
    async fn group_info(&self, group: &ChatJid) -> Result<GroupInfo, WaError>;
    /// A contact's profile picture; `None` when they have none or hide it from this account.
    async fn contact_picture(&self, phone: &Phone) -> Result<Option<ContactPicture>, WaError>;
    /// Renames a group or sets its description (admins only, or everyone where the group
    /// allows it).
    async fn edit_group(&self, group: &ChatJid, edit: GroupEdit) -> Result<(), WaError>;
    /// Removes a member from a group (a Matrix kick or ban of their ghost).
    async fn remove_participant(&self, group: &ChatJid, member: &Phone) -> Result<(), WaError>;
    /// Adds someone to a group (a Matrix invite of their ghost); already in it is no error.
    async fn add_participant(&self, group: &ChatJid, member: &Phone) -> Result<(), WaError>;
    /// Downloads (and decrypts) an attachment, refused with [`WaError::TooLarge`] past `cap`
    /// (counted while reading, whatever size was announced).
    async fn download(
        &self,
        media: &WaMedia,
        cap: ferrybridge_core::media_cap::MediaCap,
    ) -> Result<Bytes, WaError>;
}

/// Makes a [`WhatsAppNetwork`] for one Matrix user, its session kept at `session_path`.
#[async_trait]
pub trait WhatsAppFactory: Send + Sync {
    async fn open(
        &self,
        user: &OwnedUserId,
        session_path: &Path,
    ) -> Result<Arc<dyn WhatsAppNetwork>, WaError>;
}
