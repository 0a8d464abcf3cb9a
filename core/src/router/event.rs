//! The few fields of a raw Matrix event the router needs, parsed leniently: an event we can't
//! read is logged and skipped, never a reason to stop the queue.

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use serde::Deserialize;

/// A timeline event from a transaction.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RawEvent {
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    pub sender: OwnedUserId,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub state_key: Option<String>,
    #[serde(default)]
    pub content: serde_json::Value,
    /// When the homeserver accepted it.
    #[serde(default)]
    pub origin_server_ts: Option<ruma::MilliSecondsSinceUnixEpoch>,
    /// Top-level `redacts` of room versions before 11.
    #[serde(default)]
    pub redacts: Option<OwnedEventId>,
    /// Replayed from the inbox at start-up (it may have been delivered before a crash), as
    /// opposed to fresh from a transaction, which the homeserver never repeats under another
    /// transaction ID.
    #[serde(skip)]
    pub replayed: bool,
    /// The event as the homeserver sent it, kept for `m.room.encrypted` events only (the
    /// crypto layer decrypts the whole event; everything else needs only the fields above).
    #[serde(skip)]
    pub encrypted_json: Option<std::sync::Arc<str>>,
}

impl RawEvent {
    /// Parses an inbox row.
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        let mut event: Self = serde_json::from_str(json)?;
        if event.kind == "m.room.encrypted" {
            event.encrypted_json = Some(json.into());
        }
        Ok(event)
    }

    /// The event `outer` decrypts to. It must keep the outer event's ID, sender and room (the
    /// crypto layer checks the room against the key's; this checks the rest again).
    pub fn from_decrypted(json: serde_json::Value, outer: &RawEvent) -> Result<Self, String> {
        let mut event: Self = serde_json::from_value(json).map_err(|e| e.to_string())?;
        if event.event_id != outer.event_id || event.sender != outer.sender {
            return Err("its event ID or sender differs from the encrypted event's".into());
        }
        if event.kind == "m.room.encrypted" {
            return Err("it decrypts to another encrypted event".into());
        }
        event.room_id = outer.room_id.clone();
        event.replayed = outer.replayed;
        Ok(event)
    }

    /// The raw JSON of an encrypted event (empty for others).
    pub fn json(&self) -> std::sync::Arc<str> {
        self.encrypted_json.clone().unwrap_or_else(|| "".into())
    }

    /// A string field of `content`.
    pub fn content_str(&self, key: &str) -> Option<&str> {
        self.content.get(key).and_then(|v| v.as_str())
    }

    /// `content.membership` of a member event.
    pub fn membership(&self) -> Option<&str> {
        self.content_str("membership")
    }

    /// The target of a member event.
    pub fn state_user(&self) -> Option<OwnedUserId> {
        self.state_key
            .as_deref()
            .and_then(|s| ruma::UserId::parse(s).ok())
    }

    /// The event a redaction redacts (in `content` since room version 11).
    pub fn redacts(&self) -> Option<OwnedEventId> {
        self.redacts.clone().or_else(|| {
            self.content
                .get("redacts")
                .and_then(|r| r.as_str())
                .and_then(|r| ruma::EventId::parse(r).ok())
        })
    }

    /// `content.body` of a message.
    pub fn body(&self) -> Option<&str> {
        self.content_str("body")
    }

    /// Whether this says something to the room (a message or a new poll): what a sender is
    /// told about when it cannot be bridged.
    pub fn is_message(&self) -> bool {
        self.kind == "m.room.message" || crate::matrix::polls::is_poll_start(&self.kind)
    }

    /// Whether this is an `m.replace` edit.
    pub fn is_edit(&self) -> bool {
        self.content
            .pointer("/m.relates_to/rel_type")
            .and_then(|r| r.as_str())
            == Some("m.replace")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_message_and_reads_fields() {
        let e = RawEvent::parse(
            r#"{"event_id":"$a","room_id":"!r","sender":"@u:hs","type":"m.room.message","content":{"body":"hi","m.relates_to":{"rel_type":"m.replace","event_id":"$b"}}}"#,
        )
        .unwrap();
        assert_eq!(e.body(), Some("hi"));
        assert!(e.is_edit());
        assert_eq!(e.room_id.as_str(), "!r");
    }

    #[test]
    fn redacts_from_content_or_top_level() {
        let v11 = RawEvent::parse(r#"{"event_id":"$a","room_id":"!r","sender":"@u:hs","type":"m.room.redaction","content":{"redacts":"$x"}}"#).unwrap();
        assert_eq!(v11.redacts().unwrap().as_str(), "$x");
        let old = RawEvent::parse(r#"{"event_id":"$a","room_id":"!r:hs","sender":"@u:hs","type":"m.room.redaction","redacts":"$y","content":{}}"#).unwrap();
        assert_eq!(old.redacts().unwrap().as_str(), "$y");
    }

    #[test]
    fn decrypted_events_keep_the_outer_identity() {
        let outer = RawEvent::parse(r#"{"event_id":"$a","room_id":"!r","sender":"@u:hs","type":"m.room.encrypted","content":{"algorithm":"m.megolm.v1.aes-sha2"}}"#).unwrap();
        assert!(outer.json().contains("megolm"));
        let inner = serde_json::json!({"event_id":"$a","room_id":"!r","sender":"@u:hs","type":"m.room.message","content":{"body":"hi"}});
        let e = RawEvent::from_decrypted(inner, &outer).unwrap();
        assert_eq!((e.kind.as_str(), e.body()), ("m.room.message", Some("hi")));
        let forged = serde_json::json!({"event_id":"$b","room_id":"!r","sender":"@u:hs","type":"m.room.message","content":{}});
        assert!(RawEvent::from_decrypted(forged, &outer).is_err());
        let nested = serde_json::json!({"event_id":"$a","room_id":"!r","sender":"@u:hs","type":"m.room.encrypted","content":{}});
        assert!(RawEvent::from_decrypted(nested, &outer).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(RawEvent::parse("{}").is_err());
        assert!(RawEvent::parse("[]").is_err());
        assert!(
            RawEvent::parse(
                r#"{"event_id":"no-sigil","room_id":"!r","sender":"@u:hs","type":"x"}"#
            )
            .is_err()
        );
    }
}
