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
///
/// On networks where a user may hold several logins (two Telegram accounts), each login has its
/// own direct chats, so `login` names which of the receiver's logins the chat is seen through.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortalKey {
    /// The remote chat.
    pub chat: RemoteChatId,
    /// The Matrix user this portal belongs to, for private chats.
    pub receiver: Option<OwnedUserId>,
    /// The receiver's login this private chat belongs to; the first for shared portals.
    #[serde(default, skip_serializing_if = "LoginSlot::is_first")]
    pub login: LoginSlot,
}

/// Which of a Matrix user's logins on a network: 1 for the first, 2, 3… for more accounts on
/// networks that allow several. Users type it (`logout 2`, `pm --login 2 …`), so it is a small
/// number that stays the same while the login lasts, not the remote account's ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct LoginSlot(std::num::NonZeroU16);

impl LoginSlot {
    /// The user's first (or only) login.
    pub const FIRST: LoginSlot = LoginSlot(std::num::NonZeroU16::MIN);

    /// Slot `n`, if `n` ≥ 1.
    pub fn new(n: u16) -> Option<Self> {
        std::num::NonZeroU16::new(n).map(Self)
    }
    pub fn get(self) -> u16 {
        self.0.get()
    }
    pub fn is_first(&self) -> bool {
        *self == Self::FIRST
    }
    /// The number a new login gets: the lowest not in `taken`, unless the user already has
    /// [`MAX_LOGINS`].
    pub fn for_new_login(
        taken: impl IntoIterator<Item = LoginSlot>,
    ) -> Result<Self, TooManyLogins> {
        let taken: Vec<LoginSlot> = taken.into_iter().collect();
        if taken.len() >= MAX_LOGINS {
            return Err(TooManyLogins);
        }
        Self::first_free(taken).ok_or(TooManyLogins)
    }

    /// The lowest slot not in `taken`.
    pub fn first_free(taken: impl IntoIterator<Item = LoginSlot>) -> Option<Self> {
        let taken: std::collections::BTreeSet<u16> = taken.into_iter().map(Self::get).collect();
        (1..=u16::MAX)
            .find(|n| !taken.contains(n))
            .and_then(Self::new)
    }
}

impl Default for LoginSlot {
    fn default() -> Self {
        Self::FIRST
    }
}

impl fmt::Display for LoginSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One login of a Matrix user. Networks key their sessions, and what they keep per session,
/// by it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserLogin {
    pub user: OwnedUserId,
    pub slot: LoginSlot,
}

impl UserLogin {
    pub fn new(user: OwnedUserId, slot: LoginSlot) -> Self {
        Self { user, slot }
    }

    /// The user's first login.
    pub fn first(user: OwnedUserId) -> Self {
        Self::new(user, LoginSlot::FIRST)
    }

    /// How store keys and file names spell it: the user ID for the first login (as they did
    /// before a user could have several, so nothing stored moves), `@user:server|2` after.
    pub fn store_key(&self) -> String {
        if self.slot.is_first() {
            self.user.to_string()
        } else {
            format!("{}|{}", self.user, self.slot)
        }
    }

    /// Inverse of [`store_key`](Self::store_key); `None` for what it never wrote.
    pub fn parse_store_key(key: &str) -> Option<Self> {
        // A server name has no `|`, so the last one separates the number.
        let (user, slot) = match key.rsplit_once('|') {
            Some((user, slot)) => {
                let slot: LoginSlot = slot.parse().ok()?;
                if slot.is_first() {
                    return None;
                }
                (user, slot)
            }
            None => (key, LoginSlot::FIRST),
        };
        Some(Self::new(OwnedUserId::try_from(user).ok()?, slot))
    }
}

impl fmt::Display for UserLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.store_key())
    }
}

/// How many logins one Matrix user may hold on one network.
pub const MAX_LOGINS: usize = 5;

/// A user already has [`MAX_LOGINS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("you have {MAX_LOGINS} logins, the most the bridge allows; `logout N` one first")]
pub struct TooManyLogins;

/// A login number a user typed that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a login number (1, 2, …; `list-logins` shows yours)")]
pub struct BadLoginSlot(pub String);

impl std::str::FromStr for LoginSlot {
    type Err = BadLoginSlot;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<u16>()
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| BadLoginSlot(s.to_owned()))
    }
}

impl TryFrom<u16> for LoginSlot {
    type Error = BadLoginSlot;
    fn try_from(n: u16) -> Result<Self, Self::Error> {
        Self::new(n).ok_or_else(|| BadLoginSlot(n.to_string()))
    }
}

impl From<LoginSlot> for u16 {
    fn from(s: LoginSlot) -> u16 {
        s.get()
    }
}

impl PortalKey {
    /// A portal shared by everyone (a channel or group).
    pub fn shared(chat: impl Into<RemoteChatId>) -> Self {
        Self {
            chat: chat.into(),
            receiver: None,
            login: LoginSlot::FIRST,
        }
    }

    /// A portal private to one Matrix user (a DM).
    pub fn private(chat: impl Into<RemoteChatId>, receiver: OwnedUserId) -> Self {
        Self {
            chat: chat.into(),
            receiver: Some(receiver),
            login: LoginSlot::FIRST,
        }
    }

    /// A private portal of one of `receiver`'s logins.
    pub fn private_of(
        chat: impl Into<RemoteChatId>,
        receiver: OwnedUserId,
        login: LoginSlot,
    ) -> Self {
        Self {
            login,
            ..Self::private(chat, receiver)
        }
    }
}

impl fmt::Display for PortalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.receiver {
            Some(r) if self.login.is_first() => write!(f, "{} (for {r})", self.chat),
            Some(r) => write!(f, "{} (for {r}, login {})", self.chat, self.login),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_store_keys_round_trip_and_junk_is_refused() {
        let user: OwnedUserId = "@alice:example.org".try_into().unwrap();
        for slot in [1, 2, 12] {
            let login = UserLogin::new(user.clone(), LoginSlot::new(slot).unwrap());
            assert_eq!(UserLogin::parse_store_key(&login.store_key()), Some(login));
        }
        assert_eq!(
            UserLogin::first(user.clone()).store_key(),
            "@alice:example.org"
        );
        for junk in [
            "",
            "nobody",
            "@alice:example.org|1",
            "@alice:example.org|01",
            "@alice:example.org|0",
            "@alice:example.org|x",
            "x|2",
        ] {
            assert_eq!(UserLogin::parse_store_key(junk), None, "{junk}");
        }
    }

    #[test]
    fn free_slots_fill_gaps() {
        let n = |n| LoginSlot::new(n).unwrap();
        assert_eq!(LoginSlot::first_free([]), Some(LoginSlot::FIRST));
        assert_eq!(LoginSlot::first_free([n(1), n(3)]), Some(n(2)));
        assert_eq!("2".parse::<LoginSlot>(), Ok(n(2)));
        assert_eq!(LoginSlot::for_new_login([n(2)]), Ok(LoginSlot::FIRST));
        assert_eq!(
            LoginSlot::for_new_login((1..=MAX_LOGINS as u16).map(n)),
            Err(TooManyLogins)
        );
        assert!("0".parse::<LoginSlot>().is_err());
    }
}
