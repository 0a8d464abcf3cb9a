//! [`TelegramNetwork`]: the seam between the bridge logic and Telegram. The bridge only sees
//! these types; the grammers adapter ([`crate::grammers`]) implements the trait for real and
//! [`crate::fake`] implements it in memory for tests and benchmarks.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use ferrybridge_core::ids::LoginSlot;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Why a Telegram call failed, in the terms the bridge shows users.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TgError {
    #[error("the phone number is not valid; send it in international format, e.g. +4412345678")]
    InvalidPhone,
    #[error("this phone number is banned from Telegram")]
    PhoneBanned,
    #[error("the code is wrong")]
    CodeInvalid,
    #[error("the code has expired")]
    CodeExpired,
    #[error("the password is wrong")]
    PasswordInvalid,
    #[error("Telegram asks to wait {} before trying again", human_duration(*.0))]
    FloodWait(Duration),
    #[error("the Telegram session is no longer authorized")]
    Unauthorized,
    #[error("cannot reach Telegram: {0}")]
    Network(String),
    #[error("not found on Telegram")]
    NotFound,
    /// The account lacks the right (not an admin, a private chat has no title).
    #[error("Telegram does not allow you to do that in this chat")]
    NotAllowed,
    /// A file over `limits.media_max_bytes`.
    #[error(transparent)]
    TooLarge(#[from] ferrybridge_core::media_cap::TooLarge),
    #[error("{0}")]
    Other(String),
}

/// "2 minutes 5 seconds", for flood-wait notices.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let mut parts = vec![];
    if h > 0 {
        parts.push(plural(h, "hour"));
    }
    if m > 0 {
        parts.push(plural(m, "minute"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(plural(s, "second"));
    }
    parts.join(" ")
}

/// What kind of Telegram peer a chat is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChatKind {
    /// A private chat with a user.
    User,
    /// A basic group.
    Group,
    /// A supergroup or broadcast channel.
    Channel,
}

/// A Telegram chat: its kind and bare ID. Spelled `u123`, `g123` or `c123` in portal keys, so
/// IDs of different kinds (which may coincide) never collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatRef {
    pub kind: ChatKind,
    pub id: i64,
}

impl ChatRef {
    pub fn user(id: i64) -> Self {
        Self {
            kind: ChatKind::User,
            id,
        }
    }
    pub fn group(id: i64) -> Self {
        Self {
            kind: ChatKind::Group,
            id,
        }
    }
    pub fn channel(id: i64) -> Self {
        Self {
            kind: ChatKind::Channel,
            id,
        }
    }
}

impl fmt::Display for ChatRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = match self.kind {
            ChatKind::User => 'u',
            ChatKind::Group => 'g',
            ChatKind::Channel => 'c',
        };
        write!(f, "{p}{}", self.id)
    }
}

/// A chat ID that is not one of ours.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Telegram chat ID (expected e.g. g123, c123, -123 or -100123)")]
pub struct BadChatId(pub String);

impl FromStr for ChatRef {
    type Err = BadChatId;
    /// Accepts our spelling (`g123`) and the Bot API's (`-123` group, `-100123` channel, `123` user).
    fn from_str(s: &str) -> Result<Self, BadChatId> {
        let bad = || BadChatId(s.to_owned());
        let num = |t: &str| t.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(bad);
        if let Some(rest) = s.strip_prefix('u') {
            return Ok(Self::user(num(rest)?));
        }
        if let Some(rest) = s.strip_prefix('g') {
            return Ok(Self::group(num(rest)?));
        }
        if let Some(rest) = s.strip_prefix('c') {
            return Ok(Self::channel(num(rest)?));
        }
        if let Some(rest) = s.strip_prefix("-100") {
            return Ok(Self::channel(num(rest)?));
        }
        if let Some(rest) = s.strip_prefix('-') {
            return Ok(Self::group(num(rest)?));
        }
        Ok(Self::user(num(s)?))
    }
}

/// A Telegram user as the bridge needs it (ghost names, `pm`, `search`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgUser {
    pub id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub phone: Option<String>,
    /// A handle for the profile photo, for [`TelegramNetwork::download`].
    pub photo: Option<MediaRef>,
}

impl TgUser {
    /// "First Last", falling back to the username or the ID.
    pub fn display_name(&self) -> String {
        let mut name = self.first_name.trim().to_owned();
        if let Some(last) = self.last_name.as_deref().filter(|l| !l.trim().is_empty()) {
            if !name.is_empty() {
                name.push(' ');
            }
            name.push_str(last.trim());
        }
        if name.is_empty() {
            name = match &self.username {
                Some(u) => format!("@{u}"),
                None => self.id.to_string(),
            };
        }
        name
    }
}

/// A chat with what the portal shows of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgChat {
    pub chat: ChatRef,
    pub title: String,
    pub about: Option<String>,
    pub photo: Option<MediaRef>,
    /// Members known for groups (empty for private chats and large channels).
    pub members: Vec<TgUser>,
    /// Unix time of the last message, for the recent-chat window.
    pub last_message_at: Option<i64>,
}

/// An opaque handle on a file on Telegram (photo, document), resolvable by the same client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MediaRef(pub String);

/// What a media attachment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaKind {
    Photo,
    Video,
    Voice,
    Audio,
    Sticker,
    Document,
}

/// Media on a Telegram message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgMedia {
    pub kind: MediaKind,
    pub handle: MediaRef,
    pub file_name: Option<String>,
    pub mime: Option<String>,
    pub size: Option<u64>,
}

/// A formatting span; offsets and lengths count UTF-16 code units, as Telegram's do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgEntity {
    pub offset: i32,
    pub length: i32,
    pub kind: EntityKind,
}

/// The kinds of formatting the bridge carries across.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntityKind {
    Bold,
    Italic,
    Underline,
    Strike,
    Spoiler,
    Code,
    Pre { language: String },
    Url,
    TextUrl { url: String },
    Email,
    Mention,
    MentionName { user_id: i64 },
    Blockquote,
}

/// A message on Telegram.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgMessage {
    pub id: i32,
    pub chat: ChatRef,
    pub sender: TgUser,
    /// Sent by the logged-in account (from another device, or echoed back).
    pub outgoing: bool,
    pub text: String,
    pub entities: Vec<TgEntity>,
    pub reply_to: Option<i32>,
    pub media: Option<TgMedia>,
    /// What the message holds besides text that is not a file.
    #[serde(default)]
    pub content: Option<TgContent>,
    /// When it was sent, in Unix seconds (0: unknown). Matrix shows the message at this time,
    /// live or backfilled, and catch-up after downtime continues from it.
    #[serde(default)]
    pub date: i64,
}

/// Message content that is neither text nor a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TgContent {
    /// A place (a point, a live location, a venue): a `geo:` URI, and a venue's name.
    Location {
        geo_uri: String,
        name: Option<String>,
    },
    /// A shared contact.
    Contact { name: String, phone: String },
    /// A poll: its question, its options, and whether one may choose several.
    Poll {
        question: String,
        options: Vec<TgPollOption>,
        #[serde(default)]
        multiple_choice: bool,
    },
    /// An animated emoji with a random outcome (🎲 and friends).
    Dice { emoji: String, value: i32 },
    /// A kind the bridge does not know (a game, an invoice, a story…), by its Telegram name.
    Unsupported { kind: String },
}

/// One option of a Telegram poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TgPollOption {
    /// Telegram's ID of the option: what a vote names.
    pub id: Vec<u8>,
    pub text: String,
}

/// A poll to start from Matrix (Telegram numbers its options itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutPoll {
    pub question: String,
    pub options: Vec<String>,
    pub multiple_choice: bool,
}

/// A change to a group made on Matrix (the portal room's name or topic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatEdit {
    Title(String),
    /// The group's description ("about").
    About(String),
    /// The group's picture (an image file Telegram converts itself), or `None` to remove it.
    Photo(Option<bytes::Bytes>),
}

/// A message to send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutMessage {
    pub text: String,
    pub entities: Vec<TgEntity>,
    pub reply_to: Option<i32>,
}

/// A file to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutMedia {
    pub kind: MediaKind,
    pub data: bytes::Bytes,
    pub file_name: String,
    pub mime: String,
    pub caption: OutMessage,
}

/// Something that happened on Telegram, for one logged-in account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TgUpdate {
    NewMessage(TgMessage),
    Edited(TgMessage),
    /// Messages deleted; `chat` is known only for channels (Telegram's own limitation).
    Deleted {
        chat: Option<ChatRef>,
        ids: Vec<i32>,
    },
    /// `emoji: None` means the user removed their reaction.
    Reaction {
        chat: ChatRef,
        msg_id: i32,
        sender: TgUser,
        emoji: Option<String>,
    },
    Typing {
        chat: ChatRef,
        sender: i64,
        typing: bool,
    },
    /// The other side read our messages up to `max_id`.
    ReadOutbox {
        chat: ChatRef,
        reader: i64,
        max_id: i32,
    },
    ChatTitle {
        chat: ChatRef,
        title: String,
    },
    /// The group's picture changed (`None`: removed); `by_me` when the logged-in account
    /// changed it (from another device, or the bridge's own change coming back).
    ChatPhoto {
        chat: ChatRef,
        photo: Option<MediaRef>,
        by_me: bool,
    },
    Member {
        chat: ChatRef,
        user: TgUser,
        joined: bool,
    },
    /// An incoming voice or video call (not bridged: the user gets a notice).
    Call {
        from: TgUser,
        video: bool,
    },
    /// The session was revoked elsewhere.
    LoggedOut,
    /// Updates stopped arriving (network trouble); the stream is retrying with backoff.
    StreamInterrupted {
        reason: String,
    },
    /// Updates arrive again, after catching up on what was missed.
    StreamResumed,
}

/// The result of submitting a login code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignIn {
    Done(TgUser),
    /// Two-step verification is on; the hint helps the user remember.
    PasswordRequired {
        hint: Option<String>,
    },
}

/// One Telegram account's connection. Implemented by the grammers adapter and the fake.
#[async_trait]
pub trait TelegramNetwork: Send + Sync {
    /// Asks Telegram to send a login code to `phone`; remembers the code's token internally.
    async fn request_login_code(&self, phone: &str) -> Result<(), TgError>;
    /// Submits the code the user received.
    async fn sign_in(&self, code: &str) -> Result<SignIn, TgError>;
    /// Submits the two-step verification password.
    async fn check_password(&self, password: &str) -> Result<TgUser, TgError>;
    /// Signs out on Telegram (the session is then invalid).
    async fn logout(&self) -> Result<(), TgError>;
    /// The logged-in account, or `Unauthorized`.
    async fn me(&self) -> Result<TgUser, TgError>;
    /// Starts delivering updates (with catch-up of what arrived while we were away).
    async fn updates(&self) -> Result<mpsc::Receiver<TgUpdate>, TgError>;
    /// Recent chats, newest first.
    async fn dialogs(&self, limit: usize) -> Result<Vec<TgChat>, TgError>;
    /// The current description of one chat, members included for groups.
    async fn chat(&self, chat: ChatRef) -> Result<TgChat, TgError>;
    /// A user by phone number (imported as a contact if needed), for `pm`.
    async fn resolve_phone(&self, phone: &str) -> Result<TgUser, TgError>;
    /// A user by `@username`, for `pm`.
    async fn resolve_username(&self, username: &str) -> Result<TgUser, TgError>;
    /// Contacts and chats whose name matches, for `search`.
    async fn search(&self, query: &str) -> Result<Vec<TgChat>, TgError>;
    async fn send_message(&self, chat: ChatRef, msg: OutMessage) -> Result<i32, TgError>;
    async fn send_media(&self, chat: ChatRef, media: OutMedia) -> Result<i32, TgError>;
    /// Starts a poll: its message ID, and the IDs Telegram gave its options (in order).
    async fn send_poll(&self, chat: ChatRef, poll: OutPoll)
    -> Result<(i32, Vec<Vec<u8>>), TgError>;
    /// Votes in poll `id` for the options named (none: takes the vote back).
    async fn vote(&self, chat: ChatRef, id: i32, options: Vec<Vec<u8>>) -> Result<(), TgError>;
    async fn edit_message(&self, chat: ChatRef, id: i32, msg: OutMessage) -> Result<(), TgError>;
    async fn delete_messages(&self, chat: ChatRef, ids: &[i32]) -> Result<(), TgError>;
    /// Sets our reaction on a message (`None` removes it).
    async fn react(&self, chat: ChatRef, id: i32, emoji: Option<&str>) -> Result<(), TgError>;
    async fn set_typing(&self, chat: ChatRef, typing: bool) -> Result<(), TgError>;
    async fn mark_read(&self, chat: ChatRef, up_to: i32) -> Result<(), TgError>;
    /// Renames a group or sets its description; setting what is already there is no error.
    async fn edit_chat(&self, chat: ChatRef, edit: ChatEdit) -> Result<(), TgError>;
    /// Removes `user` from a group (a Matrix kick of their ghost); `ban` keeps them out.
    async fn remove_member(&self, chat: ChatRef, user: i64, ban: bool) -> Result<(), TgError>;
    /// Adds `user` to a group (a Matrix invite of their ghost); already in it is no error.
    async fn add_member(&self, chat: ChatRef, user: i64) -> Result<(), TgError>;
    /// A chat's messages for backfill, oldest first: the newest `limit` of them, or of those
    /// with an ID above `after` (what came after a message the portal holds). Service messages
    /// (joins, title changes) are left out: they are not history the core posts.
    async fn history(
        &self,
        chat: ChatRef,
        after: Option<i32>,
        limit: usize,
    ) -> Result<Vec<TgMessage>, TgError>;
    /// The bytes of a file, refused with [`TgError::TooLarge`] past `cap` (counted while
    /// reading, whatever size was announced).
    async fn download(
        &self,
        media: &MediaRef,
        cap: ferrybridge_core::media_cap::MediaCap,
    ) -> Result<bytes::Bytes, TgError>;
    /// Drops the connection (shutdown); the session stays valid.
    async fn disconnect(&self) {}
}

/// Creates one [`TelegramNetwork`] per Matrix user: the real factory connects with grammers and
/// a session in the bridge's store; tests hand out fakes.
#[async_trait]
pub trait NetworkFactory: Send + Sync {
    /// A client for `user`'s login `slot`, with its stored session if there is one.
    async fn connect(
        &self,
        user: &ruma::OwnedUserId,
        slot: LoginSlot,
        store: &ferrybridge_core::store::Store,
    ) -> Result<std::sync::Arc<dyn TelegramNetwork>, TgError>;
    /// Forgets the stored session of `user`'s login `slot` (after logout or a failed login).
    async fn forget(
        &self,
        user: &ruma::OwnedUserId,
        slot: LoginSlot,
        store: &ferrybridge_core::store::Store,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_ids_round_trip_and_accept_bot_api_spelling() {
        for c in [ChatRef::user(5), ChatRef::group(7), ChatRef::channel(9)] {
            assert_eq!(c.to_string().parse::<ChatRef>(), Ok(c));
        }
        assert_eq!("-100123".parse(), Ok(ChatRef::channel(123)));
        assert_eq!("-123".parse(), Ok(ChatRef::group(123)));
        assert_eq!("123".parse(), Ok(ChatRef::user(123)));
        assert!("gx".parse::<ChatRef>().is_err());
        assert!("".parse::<ChatRef>().is_err());
        assert!("g-5".parse::<ChatRef>().is_err());
    }

    #[test]
    fn flood_wait_reads_like_a_person_wrote_it() {
        assert_eq!(
            TgError::FloodWait(Duration::from_secs(125)).to_string(),
            "Telegram asks to wait 2 minutes 5 seconds before trying again"
        );
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(human_duration(Duration::ZERO), "0 seconds");
    }

    #[test]
    fn display_names_fall_back() {
        let mut u = TgUser {
            id: 42,
            first_name: "Ada".into(),
            last_name: Some("Lovelace".into()),
            ..Default::default()
        };
        assert_eq!(u.display_name(), "Ada Lovelace");
        u.first_name.clear();
        u.last_name = None;
        u.username = Some("ada".into());
        assert_eq!(u.display_name(), "@ada");
        u.username = None;
        assert_eq!(u.display_name(), "42");
    }
}
