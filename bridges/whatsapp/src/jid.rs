//! WhatsApp addresses as the bridge uses them: a [`Phone`] (a user) and a [`ChatJid`] (a DM or a
//! group), with their spellings as remote IDs of the core.

use std::fmt;

use ferrybridge_core::ids::{RemoteChatId, RemoteUserId};
use serde::{Deserialize, Serialize};

/// Server part of user JIDs.
pub const USER_SERVER: &str = "s.whatsapp.net";
/// Server part of group JIDs.
pub const GROUP_SERVER: &str = "g.us";

/// A WhatsApp user: the digits of their phone number in international format, no `+`.
/// Stored as those digits (kept history, see [`crate::history`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Parses `+44 1234-5678`, `4412345678` or `4412345678@s.whatsapp.net`.
    pub fn parse(text: &str) -> Result<Self, JidError> {
        let text = text.trim();
        let text = text
            .strip_suffix(&format!("@{USER_SERVER}"))
            .unwrap_or(text);
        let digits: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let digits = digits.strip_prefix('+').unwrap_or(&digits);
        if digits.len() < 5 || digits.len() > 20 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(JidError(format!(
                "{text:?} is not a phone number in international format (like +4412345678)"
            )));
        }
        Ok(Self(digits.to_owned()))
    }
    /// The digits.
    pub fn digits(&self) -> &str {
        &self.0
    }
    /// `+4412345678`, for people.
    pub fn pretty(&self) -> String {
        format!("+{}", self.0)
    }
    /// The ghost's remote ID.
    pub fn remote_user(&self) -> RemoteUserId {
        RemoteUserId::new(self.0.clone())
    }
    /// From a ghost's remote ID.
    pub fn from_remote(id: &RemoteUserId) -> Result<Self, JidError> {
        Self::parse(id.as_str())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.0)
    }
}

/// A chat: a direct chat with a user, or a group. Stored as its JID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ChatJid {
    Direct(Phone),
    /// The group's ID: the user part of its `@g.us` JID, e.g. `441234567891-9876543219`.
    Group(String),
}

impl ChatJid {
    /// Parses a JID string (`…@s.whatsapp.net`, `…@g.us`) or a group ID as `list groups` shows it.
    pub fn parse(text: &str) -> Result<Self, JidError> {
        let text = text.trim();
        if let Some(id) = text.strip_suffix(&format!("@{GROUP_SERVER}")) {
            return Self::group(id);
        }
        if text.contains('@') {
            return Phone::parse(text).map(ChatJid::Direct);
        }
        Self::group(text)
    }
    /// A group from its ID (digits and dashes).
    pub fn group(id: &str) -> Result<Self, JidError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '-') {
            return Err(JidError(format!("{id:?} is not a WhatsApp group ID")));
        }
        Ok(ChatJid::Group(id.to_owned()))
    }
    /// The full JID string.
    pub fn jid(&self) -> String {
        match self {
            ChatJid::Direct(p) => format!("{}@{USER_SERVER}", p.0),
            ChatJid::Group(g) => format!("{g}@{GROUP_SERVER}"),
        }
    }
    /// The core's chat ID (the JID).
    pub fn remote_chat(&self) -> RemoteChatId {
        RemoteChatId::new(self.jid())
    }
    /// From the core's chat ID.
    pub fn from_remote(id: &RemoteChatId) -> Result<Self, JidError> {
        Self::parse(id.as_str())
    }
    pub fn is_group(&self) -> bool {
        matches!(self, ChatJid::Group(_))
    }
}

impl fmt::Display for ChatJid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.jid())
    }
}

impl TryFrom<String> for Phone {
    type Error = JidError;
    fn try_from(digits: String) -> Result<Self, JidError> {
        Self::parse(&digits)
    }
}

impl From<Phone> for String {
    fn from(phone: Phone) -> String {
        phone.0
    }
}

impl TryFrom<String> for ChatJid {
    type Error = JidError;
    fn try_from(jid: String) -> Result<Self, JidError> {
        Self::parse(&jid)
    }
}

impl From<ChatJid> for String {
    fn from(chat: ChatJid) -> String {
        chat.jid()
    }
}

/// A phone number or group ID that does not parse.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct JidError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_parse_in_all_spellings() {
        for s in ["+44 1234-5678", "4412345678", "4412345678@s.whatsapp.net"] {
            assert_eq!(Phone::parse(s).unwrap().digits(), "4412345678", "{s}");
        }
        assert!(Phone::parse("hello").is_err());
        assert!(Phone::parse("+1").is_err());
        assert!(Phone::parse("").is_err());
    }

    #[test]
    fn chats_round_trip() {
        let g = ChatJid::parse("441234567891-9876543219").unwrap();
        assert_eq!(g.jid(), "441234567891-9876543219@g.us");
        assert_eq!(ChatJid::from_remote(&g.remote_chat()).unwrap(), g);
        let d = ChatJid::Direct(Phone::parse("+4412345678").unwrap());
        assert_eq!(ChatJid::from_remote(&d.remote_chat()).unwrap(), d);
        assert!(ChatJid::parse("!room:x").is_err());
        let stored = serde_json::to_string(&(g.clone(), d.clone())).unwrap();
        assert_eq!(
            stored,
            r#"["441234567891-9876543219@g.us","4412345678@s.whatsapp.net"]"#
        );
        assert_eq!(
            serde_json::from_str::<(ChatJid, ChatJid)>(&stored).unwrap(),
            (g, d)
        );
        assert!(serde_json::from_str::<Phone>(r#""x""#).is_err());
    }
}
