//! The keys of WhatsApp polls. A vote is encrypted with its poll's secret and creator, which
//! only the poll's creation message carries; the bridge keeps them (one small row per poll,
//! kept like the message map) so a Matrix user can vote in a poll seen or started earlier.

use ferrybridge_core::BridgeHost;

use crate::jid::ChatJid;
use crate::network::PollKey;

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
            answers: Default::default(),
        };
        let ids = ["Soup".to_owned()];
        assert_eq!(from_whatsapp.options(&ids), ["Soup"]);
        let from_matrix = PollKey {
            answers: [("s".to_owned(), "Soup".to_owned())].into(),
            ..from_whatsapp
        };
        assert_eq!(from_matrix.options(&["s".to_owned()]), ["Soup"]);
        let json = serde_json::to_string(&from_matrix).expect("serialises");
        let back: PollKey = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, from_matrix);
    }
}
