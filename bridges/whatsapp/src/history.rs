//! Backfill from WhatsApp's history sync. WhatsApp has no "read a chat's past" call for a
//! linked device: the phone pushes the history once after login (and small pieces later).
//! Each chat's messages are kept in the core store's key-value area (the newest
//! `network.history_per_chat`, so they survive restarts and a portal made later still finds
//! them) and served when the core asks: a new portal gets the newest, a catch-up those after
//! the newest message the portal holds. Messages that arrive while the bridge is down come as
//! offline messages when it reconnects, through the live path (the core skips duplicates), so
//! live messages are not kept here: that would cost a write per message.

use std::collections::HashMap;
use std::sync::Arc;

use ferrybridge_core::bridge::{BackfillRequest, BridgeError};
use ferrybridge_core::events::RemoteEventKind;
use ferrybridge_core::ids::{PortalKey, UserLogin};
use ferrybridge_core::portal::Portal;

use crate::bridge::Inner;
use crate::jid::ChatJid;
use crate::network::WaMessage;

/// Store namespace of kept history, keyed by portal ([`store_key`]).
const NS: &str = "whatsapp-history";
/// How far before the newest bridged message a catch-up reaches when that message is not in
/// the kept history (it came live, or from Matrix): clock skew between the homeserver and
/// WhatsApp. What overlaps is skipped by the core's message map.
const SLACK_MS: u64 = 120_000;

/// A portal's entry: `<receiver login>|<chat>` (no receiver for shared group portals; the
/// login as [`UserLogin::store_key`] spells it, so a first login's entries stay where they were).
fn store_key(key: &PortalKey) -> String {
    let receiver = key.receiver.as_ref().map_or(String::new(), |r| {
        UserLogin::new(r.clone(), key.login).store_key()
    });
    format!("{receiver}|{}", key.chat)
}

/// Keeps a history sync's messages of `chat` as a login's device delivered them.
pub async fn keep(inner: &Arc<Inner>, login: &UserLogin, chat: &ChatJid, messages: Vec<WaMessage>) {
    let cap = inner.config.history_per_chat;
    if cap == 0 || messages.is_empty() {
        return;
    }
    let host = &inner.host;
    let key = store_key(&Inner::portal_key(chat, login));
    // Two linked members' devices may deliver the same group's history at once.
    let _one_at_a_time = inner.history_lock.lock().await;
    let mut kept: Vec<WaMessage> = match host.store().kv_get(NS, &key).await {
        Ok(kept) => kept.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(%chat, error = %e, "cannot read kept history; starting it over");
            Vec::new()
        }
    };
    let added = messages.len();
    merge(&mut kept, messages, cap);
    match host.store().kv_set(NS, &key, &kept).await {
        Ok(()) => tracing::debug!(%login, %chat, added, kept = kept.len(), "kept history"),
        Err(e) => tracing::warn!(%chat, error = %e, "cannot keep history"),
    }
}

/// Adds `new` to `kept` (a message seen again replaces its copy), oldest first, keeping the
/// newest `cap`.
fn merge(kept: &mut Vec<WaMessage>, new: Vec<WaMessage>, cap: usize) {
    let mut at: HashMap<String, usize> = kept
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.clone(), i))
        .collect();
    for m in new {
        match at.get(&m.id) {
            Some(&i) => kept[i] = m,
            None => {
                at.insert(m.id.clone(), kept.len());
                kept.push(m);
            }
        }
    }
    // Stable: messages of the same second keep the order WhatsApp gave them.
    kept.sort_by_key(|m| m.timestamp);
    let cut = kept.len().saturating_sub(cap);
    kept.drain(..cut);
}

/// What a request gets of the kept history, oldest first: the newest `limit` messages, or of
/// those after the anchor (by ID when the anchor is kept, else by time).
fn select<'a>(kept: &'a [WaMessage], request: &BackfillRequest) -> &'a [WaMessage] {
    let from = match &request.after {
        None => 0,
        Some(anchor) => match kept.iter().position(|m| m.id == anchor.id.as_str()) {
            Some(i) => i + 1,
            None => {
                let since_ms = u64::from(anchor.at.get()).saturating_sub(SLACK_MS);
                kept.iter()
                    .position(|m| u64::try_from(m.timestamp).unwrap_or(0) * 1000 >= since_ms)
                    .unwrap_or(kept.len())
            }
        },
    };
    let after = &kept[from..];
    &after[after.len().saturating_sub(request.limit)..]
}

/// The history the core asked for, converted as live messages are (media downloaded
/// through the portal's user's device, or for a group any linked member's).
pub async fn backfill(
    inner: &Arc<Inner>,
    portal: &Portal,
    request: BackfillRequest,
) -> Result<Vec<RemoteEventKind>, BridgeError> {
    let key = portal.key();
    let host = &inner.host;
    let kept: Vec<WaMessage> = host
        .store()
        .kv_get(NS, &store_key(key))
        .await
        .map_err(|e| BridgeError::Other(e.into()))?
        .unwrap_or_default();
    let chosen = select(&kept, &request);
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    // After a start, devices reconnect in the background; media needs one.
    inner.wait_restored().await;
    let login = match &key.receiver {
        Some(user) => UserLogin::new(user.clone(), key.login),
        None => inner
            .sessions
            .all()
            .into_iter()
            .map(|(login, _)| login)
            .next()
            .ok_or(BridgeError::NotLoggedIn)?,
    };
    let mut named = std::collections::HashSet::new();
    let mut events = Vec::with_capacity(chosen.len());
    for msg in chosen {
        if let Some(name) = msg.push_name.as_deref()
            && named.insert(msg.sender.clone())
        {
            crate::incoming::learn_name(host, &login, &msg.sender, name).await;
        }
        if let Some(event) = crate::incoming::message_event(inner, &login, msg).await {
            let expire = crate::incoming::expiry_event(msg, &event);
            events.push(event);
            events.extend(expire);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use ferrybridge_core::bridge::{BackfillAnchor, BackfillReason};
    use ferrybridge_core::ids::RemoteMessageId;

    use super::*;
    use crate::jid::Phone;
    use crate::network::WaMessageBody;

    fn msg(id: &str, timestamp: i64) -> WaMessage {
        WaMessage {
            id: id.into(),
            chat: ChatJid::Group("1203-1".into()),
            sender: Phone::parse("4411111").unwrap(),
            from_me: false,
            push_name: None,
            timestamp,
            body: WaMessageBody::Text {
                text: id.into(),
                reply_to: None,
            },
            expires_in: None,
        }
    }

    fn ids(ms: &[WaMessage]) -> Vec<&str> {
        ms.iter().map(|m| m.id.as_str()).collect()
    }

    fn request(after: Option<(&str, u64)>, limit: usize) -> BackfillRequest {
        BackfillRequest {
            reason: if after.is_some() {
                BackfillReason::CatchUp
            } else {
                BackfillReason::Created
            },
            after: after.map(|(id, ms)| BackfillAnchor {
                id: RemoteMessageId::new(id),
                at: ruma::MilliSecondsSinceUnixEpoch(ruma::UInt::try_from(ms).unwrap()),
            }),
            limit,
        }
    }

    #[test]
    fn kept_history_is_merged_ordered_and_bounded() {
        let mut kept = vec![msg("B", 20), msg("C", 30)];
        let mut edited = msg("B", 20);
        edited.push_name = Some("again".into());
        merge(&mut kept, vec![msg("D", 40), msg("A", 10), edited], 3);
        assert_eq!(ids(&kept), ["B", "C", "D"], "the newest 3, oldest first");
        assert_eq!(kept[0].push_name.as_deref(), Some("again"), "replaced");
        let stored = serde_json::to_string(&kept).unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<WaMessage>>(&stored).unwrap(),
            kept
        );
    }

    #[test]
    fn a_poll_kept_by_an_older_version_still_reads() {
        let old = r#"{"Poll":{"question":"Lunch?","options":["Pizza"]}}"#;
        let body: WaMessageBody = serde_json::from_str(old).expect("reads");
        assert_eq!(
            body,
            WaMessageBody::Poll {
                question: "Lunch?".into(),
                options: vec!["Pizza".into()],
                max_selections: 0,
                secret: None,
            }
        );
    }

    #[test]
    fn created_gets_the_newest_and_catch_up_what_came_after() {
        let kept: Vec<WaMessage> = (1..=5).map(|i| msg(&format!("M{i}"), i * 100)).collect();
        assert_eq!(ids(select(&kept, &request(None, 2))), ["M4", "M5"]);
        assert_eq!(ids(select(&kept, &request(None, 50))).len(), 5);
        // The anchor is kept: what follows it.
        assert_eq!(
            ids(select(&kept, &request(Some(("M3", 0)), 50))),
            ["M4", "M5"]
        );
        assert!(select(&kept, &request(Some(("M5", 0)), 50)).is_empty());
        // The anchor came live: by time, less the slack for clock skew.
        let at = 400 * 1000 + SLACK_MS;
        assert_eq!(
            ids(select(&kept, &request(Some(("LIVE", at)), 50))),
            ["M4", "M5"]
        );
        let later = 10_000 * 1000;
        assert!(select(&kept, &request(Some(("LIVE", later)), 50)).is_empty());
    }
}
