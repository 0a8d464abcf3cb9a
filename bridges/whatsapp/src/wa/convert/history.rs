//! A history sync (what the phone sends a newly linked device, and again in smaller pieces
//! later) → the bridge's events: each conversation's messages, kept for backfill, and its last
//! activity, for the recent-chats portals.

use whatsapp_rust::Jid;
use whatsapp_rust::waproto::whatsapp as wa;

use super::events::{chat_of, phone_of};
use super::received::body;
use crate::jid::{ChatJid, Phone};
use crate::network::{WaEvent, WaMessage};

/// The sync's events: every conversation's [`WaEvent::History`] first, then the
/// [`WaEvent::ChatActive`] ones, so a portal they create finds its history kept. `me` is the
/// linked account (the sender of what it sent itself).
pub fn history(sync: &wa::HistorySync, me: Option<&Phone>) -> Vec<WaEvent> {
    let mut kept = Vec::new();
    let mut active = Vec::new();
    for c in &sync.conversations {
        let Some(chat) = conversation_chat(c) else {
            continue;
        };
        let messages = messages(c, &chat, me);
        if !messages.is_empty() {
            kept.push(WaEvent::History {
                chat: chat.clone(),
                messages,
            });
        }
        let last = c.conversation_timestamp.or(c.last_msg_timestamp);
        if let Some(last_active) = last.and_then(|t| i64::try_from(t).ok()) {
            active.push(WaEvent::ChatActive { chat, last_active });
        }
    }
    kept.extend(active);
    kept
}

/// A conversation's chat; one addressed by LID is taken by its phone-number JID when the sync
/// gives it (the bridge's chats are phone numbers).
fn conversation_chat(c: &wa::Conversation) -> Option<ChatJid> {
    let jid: Jid = c.id.parse().ok()?;
    if jid.is_lid()
        && let Some(pn) = c.pn_jid.as_deref().and_then(|p| p.parse::<Jid>().ok())
    {
        return chat_of(&pn);
    }
    chat_of(&jid)
}

/// A conversation's messages the bridge can show, oldest first (syncs list them newest first;
/// the order ID breaks ties within a second).
fn messages(c: &wa::Conversation, chat: &ChatJid, me: Option<&Phone>) -> Vec<WaMessage> {
    let mut found: Vec<(u64, WaMessage)> = c
        .messages
        .iter()
        .filter_map(|m| {
            let order = m.msg_order_id.unwrap_or(0);
            Some((order, web_message(m.message.as_option()?, chat, me)?))
        })
        .collect();
    found.sort_by_key(|(order, m)| (m.timestamp, *order));
    found.into_iter().map(|(_, m)| m).collect()
}

/// One stored message as the bridge's message: the same body conversion as live messages;
/// `None` for what is no chat message (stubs such as "group created", unknown senders).
pub fn web_message(
    info: &wa::WebMessageInfo,
    chat: &ChatJid,
    me: Option<&Phone>,
) -> Option<WaMessage> {
    let key = info.key.as_option()?;
    let id = key.id.clone().filter(|id| !id.is_empty())?;
    let from_me = key.from_me.unwrap_or(false);
    let participant = key
        .participant
        .as_deref()
        .or(info.participant.as_deref())
        .and_then(|p| p.parse::<Jid>().ok())
        .and_then(|jid| phone_of(&jid, None));
    let sender = match (from_me, chat) {
        (true, _) => me.cloned().or(participant)?,
        (false, ChatJid::Direct(peer)) => participant.unwrap_or_else(|| peer.clone()),
        (false, ChatJid::Group(_)) => participant?,
    };
    Some(WaMessage {
        id,
        chat: chat.clone(),
        sender,
        from_me,
        push_name: info.push_name.clone().filter(|n| !n.is_empty()),
        timestamp: info
            .message_timestamp
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or(0),
        body: body(info.message.as_option()?)?,
        expires_in: super::received::expiration(info.message.as_option()?, None),
    })
}

#[cfg(test)]
mod tests {
    use whatsapp_rust::buffa::MessageField;
    use whatsapp_rust::wacore::proto_helpers::MessageBuilderExt;

    use super::*;
    use crate::network::{MediaKind, WaMessageBody};

    fn stored(
        id: &str,
        from_me: bool,
        participant: Option<&str>,
        at: u64,
        message: Option<wa::Message>,
    ) -> wa::HistorySyncMsg {
        wa::HistorySyncMsg {
            message: MessageField::some(wa::WebMessageInfo {
                key: MessageField::some(wa::MessageKey {
                    remote_jid: None,
                    from_me: Some(from_me),
                    id: Some(id.into()),
                    participant: participant.map(str::to_owned),
                }),
                message: match message {
                    Some(m) => MessageField::some(m),
                    None => MessageField::none(),
                },
                message_timestamp: Some(at),
                push_name: Some("Bob".into()),
                ..Default::default()
            }),
            msg_order_id: Some(at),
        }
    }

    fn phone(p: &str) -> Phone {
        Phone::parse(p).unwrap()
    }

    #[test]
    fn a_sync_keeps_each_chats_messages_before_listing_the_chats() {
        let image = wa::Message {
            image_message: MessageField::some(wa::message::ImageMessage {
                mimetype: Some("image/jpeg".into()),
                caption: Some("look".into()),
                direct_path: Some("/v/t62/abc".into()),
                media_key: Some(vec![1; 32]),
                file_length: Some(1234),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sync = wa::HistorySync {
            conversations: vec![
                wa::Conversation {
                    id: "4411111@s.whatsapp.net".into(),
                    conversation_timestamp: Some(1_700_000_300),
                    // Newest first, as WhatsApp sends them.
                    messages: vec![
                        stored(
                            "M3",
                            true,
                            None,
                            1_700_000_300,
                            Some(wa::Message::text("mine")),
                        ),
                        stored("STUB", false, None, 1_700_000_250, None),
                        stored("M2", false, None, 1_700_000_200, Some(image)),
                        stored(
                            "M1",
                            false,
                            None,
                            1_700_000_100,
                            Some(wa::Message::text("*hi*")),
                        ),
                    ],
                    ..Default::default()
                },
                wa::Conversation {
                    id: "1203-1@g.us".into(),
                    last_msg_timestamp: Some(1_600_000_000),
                    messages: vec![
                        stored(
                            "G1",
                            false,
                            Some("4422222@s.whatsapp.net"),
                            1_600_000_000,
                            Some(wa::Message::text("group")),
                        ),
                        // No sender: nobody to show it from.
                        stored(
                            "G0",
                            false,
                            None,
                            1_500_000_000,
                            Some(wa::Message::text("?")),
                        ),
                    ],
                    ..Default::default()
                },
                wa::Conversation {
                    id: "status@broadcast".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let me = phone("4499999");
        let events = history(&sync, Some(&me));
        let bob = ChatJid::Direct(phone("4411111"));
        let group = ChatJid::Group("1203-1".into());
        assert_eq!(events.len(), 4, "{events:?}");
        let WaEvent::History { chat, messages } = &events[0] else {
            panic!("history first: {events:?}")
        };
        assert_eq!(chat, &bob);
        let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["M1", "M2", "M3"], "oldest first, stubs left out");
        assert_eq!(messages[0].sender, phone("4411111"));
        assert_eq!(messages[0].timestamp, 1_700_000_100);
        assert_eq!(messages[0].push_name.as_deref(), Some("Bob"));
        assert_eq!(
            messages[0].body,
            WaMessageBody::Text {
                text: "*hi*".into(),
                reply_to: None
            }
        );
        assert!(
            matches!(&messages[1].body, WaMessageBody::Media { media, caption, .. }
                if media.kind == MediaKind::Image && caption == "look")
        );
        assert!(messages[2].from_me);
        assert_eq!(messages[2].sender, me);
        let WaEvent::History { chat, messages } = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(chat, &group);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].sender, phone("4422222"));
        assert_eq!(
            events[2..],
            [
                WaEvent::ChatActive {
                    chat: bob,
                    last_active: 1_700_000_300
                },
                WaEvent::ChatActive {
                    chat: group,
                    last_active: 1_600_000_000
                },
            ]
        );
    }

    #[test]
    fn own_messages_need_the_account_and_lid_chats_use_their_phone_number() {
        let chat = ChatJid::Direct(phone("4411111"));
        let mine = stored("M", true, None, 5, Some(wa::Message::text("x")));
        let info = mine.message.as_option().unwrap();
        assert_eq!(web_message(info, &chat, None), None);
        assert!(web_message(info, &chat, Some(&phone("4499999"))).is_some());
        let lid = wa::Conversation {
            id: "123456789@lid".into(),
            pn_jid: Some("4411111@s.whatsapp.net".into()),
            ..Default::default()
        };
        assert_eq!(conversation_chat(&lid), Some(chat));
    }
}
