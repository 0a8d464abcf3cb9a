//! The keys of WhatsApp polls. A vote is encrypted with its poll's secret and creator, which
//! only the poll's creation message carries; the bridge keeps them (one small row per poll,
//! kept like the message map) so a Matrix user can vote in a poll seen or started earlier.

use std::sync::Arc;

use ferrybridge_core::BridgeHost;
use ferrybridge_core::events::{MessageContent, RemoteEventKind};
use ferrybridge_core::ids::{RemoteMessageId, UserLogin};

use crate::bridge::Inner;
use crate::jid::ChatJid;
use crate::network::{PollKey, WaMessage};

const KV_POLL: &str = "whatsapp_poll";

fn key(chat: &ChatJid, id: &str) -> String {
    format!("{chat}/{id}")
}

/// Keeps the key of poll `id` in `chat`. A failure is logged: the poll is still bridged, and
/// a vote in it later gets a notice.
pub async fn remember(host: &BridgeHost, chat: &ChatJid, id: &str, poll: &PollKey) {
    if let Err(e) = host.store().kv_set(KV_POLL, &key(chat, id), poll).await {
        tracing::warn!(%chat, poll = id, error = %e, "cannot keep a poll's key; votes in it will not be bridged");
    }
}

/// The key of poll `id` in `chat`, if the bridge saw it.
pub async fn find(host: &BridgeHost, chat: &ChatJid, id: &str) -> Option<PollKey> {
    match host.store().kv_get(KV_POLL, &key(chat, id)).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(%chat, poll = id, error = %e, "cannot read a poll's key");
            None
        }
    }
}

/// A WhatsApp vote (`msg`, in `poll`) as a Matrix vote by the voter's ghost; a notice in the
/// poll's place when the bridge cannot open it (no key kept, no session, a bad ciphertext).
pub async fn vote_event(
    inner: &Arc<Inner>,
    login: &UserLogin,
    msg: &WaMessage,
    poll: &str,
    payload: &[u8],
    iv: &[u8],
) -> RemoteEventKind {
    let sender = msg.sender.remote_user();
    let opened = match (
        find(&inner.host, &msg.chat, poll).await,
        inner.sessions.get(login),
    ) {
        (Some(key), Some(session)) => session
            .net
            .open_vote(poll, &key, &msg.sender, payload, iv)
            .await
            .map(|options| key.answer_ids(&options))
            .map_err(|e| e.to_string()),
        (None, _) => Err("the bridge does not have the poll's key".to_owned()),
        (Some(_), None) => Err("not logged in".to_owned()),
    };
    match opened {
        Ok(answers) => RemoteEventKind::PollVote {
            id: RemoteMessageId::new(msg.id.clone()),
            target: RemoteMessageId::new(poll.to_owned()),
            sender,
            answers,
        },
        Err(why) => {
            tracing::info!(poll, error = %why, "WhatsApp vote not bridged");
            RemoteEventKind::Message {
                id: RemoteMessageId::new(msg.id.clone()),
                sender,
                content: MessageContent::notice(format!(
                    "[a poll vote the bridge could not read ({why}): see your phone]"
                )),
                reply_to: None,
                sent_at: crate::incoming::sent_at(msg.timestamp),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::jid::Phone;
    use crate::network::PollKey;

    #[test]
    fn a_vote_names_options_by_their_text() {
        let creator = Phone::parse("+441111111").expect("valid");
        let from_whatsapp = PollKey {
            creator: creator.clone(),
            secret: vec![1],
            options: vec!["Soup".into()],
            answers: Default::default(),
        };
        let ids = ["Soup".to_owned()];
        assert_eq!(from_whatsapp.options(&ids), ["Soup"]);
        let from_matrix = PollKey {
            answers: [("s".to_owned(), "Soup".to_owned())].into(),
            ..from_whatsapp.clone()
        };
        assert_eq!(from_matrix.options(&["s".to_owned()]), ["Soup"]);
        // A decrypted vote names options by text: back to the poll's answer IDs.
        assert_eq!(from_whatsapp.answer_ids(&ids), ["Soup"]);
        assert_eq!(from_matrix.answer_ids(&ids), ["s"]);
        let json = serde_json::to_string(&from_matrix).expect("serialises");
        let back: PollKey = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, from_matrix);
    }
}
