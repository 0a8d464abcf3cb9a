//! Backfill: a portal's Telegram history for the core ([`Bridge::backfill`]), read through one
//! logged-in account and converted exactly as live messages are.
//!
//! Whose login reads it: a private chat's portal belongs to one user, so their session; a
//! group or channel portal is shared, so the first session (by Matrix ID, so the same one each
//! time) that Telegram lets read the chat. Basic groups number messages per account; reading
//! with one account keeps the IDs consistent between runs.
//!
//! [`Bridge::backfill`]: ferrybridge_core::bridge::Bridge::backfill

use ferrybridge_core::bridge::{BackfillRequest, BridgeError};
use ferrybridge_core::events::RemoteEventKind;
use ferrybridge_core::portal::Portal;

use crate::bridge::TelegramBridge;
use crate::network::{BadChatId, ChatRef, TgMessage};
use crate::session::UserSession;

/// How far before the newest bridged message a catch-up without a Telegram message ID to
/// continue from (the newest was a reaction) reaches back: clock skew between the homeserver
/// and Telegram. What overlaps is skipped by the core's message map.
const SLACK_MS: u64 = 120_000;

/// Where a read continues: after a Telegram message ID, or from a moment.
#[derive(Debug, PartialEq, Eq)]
struct Continue {
    after: Option<i32>,
    since_ms: Option<u64>,
}

impl Continue {
    fn of(request: &BackfillRequest) -> Self {
        let Some(anchor) = &request.after else {
            return Self {
                after: None,
                since_ms: None,
            };
        };
        match anchor.id.as_str().parse::<i32>() {
            Ok(id) => Self {
                after: Some(id),
                since_ms: None,
            },
            Err(_) => Self {
                after: None,
                since_ms: Some(u64::from(anchor.at.get()).saturating_sub(SLACK_MS)),
            },
        }
    }

    /// Whether a message sent at `date` (Unix seconds) is after the anchor's moment.
    fn keeps(&self, date: i64) -> bool {
        self.since_ms
            .is_none_or(|since| u64::try_from(date).unwrap_or(0).saturating_mul(1000) >= since)
    }
}

/// The history the core asked for, oldest first.
pub(crate) async fn backfill(
    bridge: &TelegramBridge,
    portal: &Portal,
    request: BackfillRequest,
) -> Result<Vec<RemoteEventKind>, BridgeError> {
    let key = portal.key();
    let chat: ChatRef = key
        .chat
        .as_str()
        .parse()
        .map_err(|e: BadChatId| BridgeError::Invalid(e.to_string()))?;
    // After a start, sessions are restored in the background; the sweep may come first.
    bridge.wait_restored().await;
    let from = Continue::of(&request);
    let mut failure = BridgeError::NotLoggedIn;
    for session in bridge.history_readers(key) {
        let read = session.net.history(chat, from.after, request.limit);
        match bridge.call(read).await {
            Ok(messages) => return Ok(events(bridge, &session, messages, &from).await),
            Err(e) => {
                tracing::debug!(user = %session.mxid, %chat, error = %e, "cannot read the chat's history");
                failure = BridgeError::Remote(e.to_string());
            }
        }
    }
    Err(failure)
}

/// The messages as the core's events, with the ghosts' names set first.
async fn events(
    bridge: &TelegramBridge,
    session: &UserSession,
    messages: Vec<TgMessage>,
    from: &Continue,
) -> Vec<RemoteEventKind> {
    let host = &bridge.host;
    let mut out = Vec::with_capacity(messages.len());
    for msg in messages.iter().filter(|m| from.keeps(m.date)) {
        session.remember(msg.id, msg.chat);
        session.ensure_profile(host, &msg.sender).await;
        out.push(crate::relay_in::message_event(host, session, msg).await);
    }
    out
}

#[cfg(test)]
mod tests {
    use ferrybridge_core::bridge::{BackfillAnchor, BackfillReason};
    use ferrybridge_core::ids::RemoteMessageId;

    use super::*;

    fn request(anchor: Option<(&str, u64)>) -> BackfillRequest {
        BackfillRequest {
            reason: BackfillReason::CatchUp,
            after: anchor.map(|(id, at)| BackfillAnchor {
                id: RemoteMessageId::new(id),
                at: ruma::MilliSecondsSinceUnixEpoch(ruma::UInt::from(at as u32)),
            }),
            limit: 10,
        }
    }

    #[test]
    fn catch_up_continues_after_the_message_id_or_else_from_its_time() {
        let newest = Continue::of(&request(None));
        assert_eq!(
            newest,
            Continue {
                after: None,
                since_ms: None
            }
        );
        assert!(newest.keeps(0));
        let after_id = Continue::of(&request(Some(("42", 1_000_000))));
        assert_eq!(after_id.after, Some(42));
        assert!(after_id.keeps(1), "the ID decides, not the time");
        // The newest row was a reaction: continue from its time, less the slack.
        let by_time = Continue::of(&request(Some(("r42.7", 1_000_000_000))));
        assert_eq!(by_time.after, None);
        assert!(by_time.keeps(1_000_000));
        assert!(by_time.keeps(999_880));
        assert!(!by_time.keeps(999_000));
    }
}
