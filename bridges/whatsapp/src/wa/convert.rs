//! whatsapp-rust's events and messages → the crate's own [`WaEvent`]s and [`PairingEvent`]s.
//! Pure functions, unit-tested on the library's real types.

use serde::{Deserialize, Serialize};
use whatsapp_rust::Jid;
use whatsapp_rust::wacore::download::MediaType;
use whatsapp_rust::wacore::types::events::Event;
use whatsapp_rust::wacore::types::message::MessageInfo;
use whatsapp_rust::wacore::types::presence::{ChatPresence, ReceiptType};
use whatsapp_rust::waproto::whatsapp as wa;

use crate::jid::{ChatJid, GROUP_SERVER, Phone};
use crate::network::{
    MediaKind, PairingEvent, WaError, WaEvent, WaMedia, WaMessage, WaMessageBody,
};

/// Where a library event goes.
#[derive(Debug, PartialEq)]
pub enum Routed {
    Pairing(PairingEvent),
    Events(Vec<WaEvent>),
    /// A group changed: fetch its details and report them.
    GroupRefresh(ChatJid),
    Ignore,
}

/// A user JID as a phone number (for LID senders, the phone-number alternative when known).
pub fn phone_of(jid: &Jid, alt: Option<&Jid>) -> Option<Phone> {
    let jid = match alt {
        Some(alt) if jid.is_lid() && alt.is_pn() => alt,
        _ => jid,
    };
    Phone::parse(&jid.user).ok()
}

/// A chat JID as the bridge's chat.
pub fn chat_of(jid: &Jid) -> Option<ChatJid> {
    if jid.to_string().ends_with(&format!("@{GROUP_SERVER}")) {
        ChatJid::group(&jid.user).ok()
    } else {
        Phone::parse(&jid.user).ok().map(ChatJid::Direct)
    }
}

/// Converts one library event.
pub fn route(event: &Event) -> Routed {
    match event {
        Event::PairingQrCode(qr) => Routed::Pairing(PairingEvent::Qr(qr.code.clone())),
        Event::PairingCode(code) => Routed::Pairing(PairingEvent::PairCode(code.code.clone())),
        Event::PairSuccess(ok) => match Phone::parse(&ok.id.user) {
            Ok(phone) => Routed::Pairing(PairingEvent::Success {
                phone,
                name: Some(ok.business_name.clone()).filter(|n| !n.is_empty()),
            }),
            Err(e) => Routed::Pairing(PairingEvent::Error(WaError::Refused(e.0))),
        },
        Event::PairError(e) => {
            Routed::Pairing(PairingEvent::Error(WaError::Refused(e.error.clone())))
        }
        Event::PairingQrCodesExhausted(_) => Routed::Pairing(PairingEvent::QrExhausted),
        Event::ClientOutdated(_) => Routed::Pairing(PairingEvent::Error(WaError::Outdated)),
        Event::TemporaryBan(_) => Routed::Pairing(PairingEvent::Error(WaError::Refused(
            "the account is temporarily banned (rate limited)".into(),
        ))),
        Event::LoggedOut(out) => Routed::Events(vec![WaEvent::LoggedOut {
            reason: format!("{:?}", out.reason),
        }]),
        Event::Connected(_) => Routed::Events(vec![WaEvent::Connected]),
        Event::Messages(batch) => Routed::Events(
            batch
                .iter()
                .filter_map(|m| message(&m.message, &m.info).map(WaEvent::Message))
                .collect(),
        ),
        Event::Receipt(r) if matches!(r.r#type, ReceiptType::Read) => {
            match (
                chat_of(&r.source.chat),
                phone_of(&r.source.sender, r.source.sender_alt.as_ref()),
            ) {
                (Some(chat), Some(sender)) => Routed::Events(vec![WaEvent::Read {
                    chat,
                    sender,
                    message_ids: r.message_ids.iter().map(|id| id.to_string()).collect(),
                }]),
                _ => Routed::Ignore,
            }
        }
        Event::ChatPresence(p) => {
            match (
                chat_of(&p.source.chat),
                phone_of(&p.source.sender, p.source.sender_alt.as_ref()),
            ) {
                (Some(chat), Some(sender)) => Routed::Events(vec![WaEvent::Typing {
                    chat,
                    sender,
                    typing: matches!(p.state, ChatPresence::Composing),
                }]),
                _ => Routed::Ignore,
            }
        }
        Event::IncomingCall(call) if call.action.wire_tag() == "offer" => {
            match phone_of(&call.from, None) {
                Some(from) => Routed::Events(vec![WaEvent::CallOffer { from }]),
                None => Routed::Ignore,
            }
        }
        Event::PushNameUpdate(u) => match phone_of(&u.jid, None) {
            Some(phone) if !u.new_push_name.is_empty() => {
                Routed::Events(vec![WaEvent::ContactName {
                    phone,
                    name: u.new_push_name.clone(),
                }])
            }
            _ => Routed::Ignore,
        },
        Event::ContactUpdate(u) => {
            let name = u
                .action
                .full_name
                .clone()
                .or_else(|| u.action.first_name.clone())
                .filter(|n| !n.is_empty());
            match (phone_of(&u.jid, None), name) {
                (Some(phone), Some(name)) => {
                    Routed::Events(vec![WaEvent::ContactName { phone, name }])
                }
                _ => Routed::Ignore,
            }
        }
        Event::GroupUpdate(u) => match chat_of(&u.group_jid) {
            Some(chat) => Routed::GroupRefresh(chat),
            None => Routed::Ignore,
        },
        Event::HistorySync(h) => match h.get() {
            Some(sync) => Routed::Events(history(sync)),
            None => Routed::Ignore,
        },
        _ => Routed::Ignore,
    }
}

/// The chats of a history sync with their last activity (for the recent-chats portals).
pub fn history(sync: &wa::HistorySync) -> Vec<WaEvent> {
    sync.conversations
        .iter()
        .filter_map(|c| {
            let chat = chat_of(&c.id.parse::<Jid>().ok()?)?;
            let last = c.conversation_timestamp.or(c.last_msg_timestamp)?;
            Some(WaEvent::ChatActive {
                chat,
                last_active: i64::try_from(last).ok()?,
            })
        })
        .collect()
}

/// The serializable part of a media message needed to download it later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaHandle {
    pub direct_path: String,
    pub media_key: Vec<u8>,
    pub file_sha256: Vec<u8>,
    pub file_enc_sha256: Vec<u8>,
    pub file_length: u64,
}

impl MediaHandle {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// The library's media type for a kind.
pub fn media_type(kind: MediaKind) -> MediaType {
    match kind {
        MediaKind::Image => MediaType::Image,
        MediaKind::Video => MediaType::Video,
        MediaKind::Audio | MediaKind::Voice => MediaType::Audio,
        MediaKind::Document => MediaType::Document,
        MediaKind::Sticker => MediaType::Sticker,
    }
}

#[allow(clippy::too_many_arguments)]
fn media(
    kind: MediaKind,
    mimetype: &Option<String>,
    filename: Option<String>,
    direct_path: &Option<String>,
    media_key: &Option<Vec<u8>>,
    sha: &Option<Vec<u8>>,
    enc_sha: &Option<Vec<u8>>,
    length: Option<u64>,
) -> WaMedia {
    let handle = MediaHandle {
        direct_path: direct_path.clone().unwrap_or_default(),
        media_key: media_key.clone().unwrap_or_default(),
        file_sha256: sha.clone().unwrap_or_default(),
        file_enc_sha256: enc_sha.clone().unwrap_or_default(),
        file_length: length.unwrap_or(0),
    };
    WaMedia {
        kind,
        mimetype: mimetype
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into()),
        filename,
        size: length,
        handle: handle.encode(),
    }
}

fn quoted(ctx: Option<&wa::ContextInfo>) -> Option<String> {
    ctx.and_then(|c| c.stanza_id.clone())
}

/// A message's body, unwrapping ephemeral and view-once wrappers.
pub fn body(message: &wa::Message) -> Option<WaMessageBody> {
    use whatsapp_rust::wacore::proto_helpers::MessageExt;
    let m = message.get_base_message();
    if let Some(p) = m.protocol_message.as_option() {
        let target = p.key.as_option().and_then(|k| k.id.clone())?;
        if let Some(edited) = p.edited_message.as_option() {
            let text = edited.text_content().unwrap_or_default().to_owned();
            return Some(WaMessageBody::Edit { target, text });
        }
        return Some(WaMessageBody::Revoke { target });
    }
    if let Some(r) = m.reaction_message.as_option() {
        let target = r.key.as_option().and_then(|k| k.id.clone())?;
        return Some(WaMessageBody::Reaction {
            target,
            emoji: r.text.clone().unwrap_or_default(),
        });
    }
    if let Some(t) = &m.conversation
        && !t.is_empty()
    {
        return Some(WaMessageBody::Text {
            text: t.clone(),
            reply_to: None,
        });
    }
    if let Some(t) = m.extended_text_message.as_option() {
        return Some(WaMessageBody::Text {
            text: t.text.clone().unwrap_or_default(),
            reply_to: quoted(t.context_info.as_option()),
        });
    }
    if let Some(i) = m.image_message.as_option() {
        return Some(WaMessageBody::Media {
            media: media(
                MediaKind::Image,
                &i.mimetype,
                None,
                &i.direct_path,
                &i.media_key,
                &i.file_sha256,
                &i.file_enc_sha256,
                i.file_length,
            ),
            caption: i.caption.clone().unwrap_or_default(),
            reply_to: quoted(i.context_info.as_option()),
        });
    }
    if let Some(v) = m.video_message.as_option() {
        return Some(WaMessageBody::Media {
            media: media(
                MediaKind::Video,
                &v.mimetype,
                None,
                &v.direct_path,
                &v.media_key,
                &v.file_sha256,
                &v.file_enc_sha256,
                v.file_length,
            ),
            caption: v.caption.clone().unwrap_or_default(),
            reply_to: quoted(v.context_info.as_option()),
        });
    }
    if let Some(a) = m.audio_message.as_option() {
        let kind = if a.ptt == Some(true) {
            MediaKind::Voice
        } else {
            MediaKind::Audio
        };
        return Some(WaMessageBody::Media {
            media: media(
                kind,
                &a.mimetype,
                None,
                &a.direct_path,
                &a.media_key,
                &a.file_sha256,
                &a.file_enc_sha256,
                a.file_length,
            ),
            caption: String::new(),
            reply_to: quoted(a.context_info.as_option()),
        });
    }
    if let Some(d) = m.document_message.as_option() {
        return Some(WaMessageBody::Media {
            media: media(
                MediaKind::Document,
                &d.mimetype,
                d.file_name.clone().or_else(|| d.title.clone()),
                &d.direct_path,
                &d.media_key,
                &d.file_sha256,
                &d.file_enc_sha256,
                d.file_length,
            ),
            caption: d.caption.clone().unwrap_or_default(),
            reply_to: quoted(d.context_info.as_option()),
        });
    }
    if let Some(s) = m.sticker_message.as_option() {
        return Some(WaMessageBody::Media {
            media: media(
                MediaKind::Sticker,
                &s.mimetype,
                None,
                &s.direct_path,
                &s.media_key,
                &s.file_sha256,
                &s.file_enc_sha256,
                s.file_length,
            ),
            caption: String::new(),
            reply_to: quoted(s.context_info.as_option()),
        });
    }
    if let Some(l) = m.location_message.as_option() {
        return Some(WaMessageBody::Location {
            latitude: l.degrees_latitude.unwrap_or_default(),
            longitude: l.degrees_longitude.unwrap_or_default(),
            name: l.name.clone(),
        });
    }
    if m.poll_creation_message.as_option().is_some() {
        return Some(WaMessageBody::Unsupported {
            description: "a poll".into(),
        });
    }
    if m.contact_message.as_option().is_some() {
        return Some(WaMessageBody::Unsupported {
            description: "a contact card".into(),
        });
    }
    None
}

/// A library message as the bridge's message, or `None` for what is not a chat message
/// (key shares, history notifications, status broadcasts).
pub fn message(message: &wa::Message, info: &MessageInfo) -> Option<WaMessage> {
    let chat = chat_of(&info.source.chat)?;
    let sender = phone_of(&info.source.sender, info.source.sender_alt.as_ref())?;
    Some(WaMessage {
        id: info.id.to_string(),
        chat,
        sender,
        from_me: info.source.is_from_me,
        push_name: Some(info.push_name.clone()).filter(|n| !n.is_empty()),
        timestamp: info.timestamp.timestamp(),
        body: body(message)?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use whatsapp_rust::wacore::proto_helpers::MessageBuilderExt;
    use whatsapp_rust::wacore::types::events::{
        BatchOrigin, ConnectFailureReason, InboundMessage, LoggedOut, MessageBatch, PairSuccess,
        PairingQrCode, PairingQrCodesExhausted, PushNameUpdate,
    };
    use whatsapp_rust::wacore::types::message::MessageSource;
    use whatsapp_rust::waproto::whatsapp as wa;

    use super::*;

    fn jid(s: &str) -> Jid {
        s.parse().unwrap()
    }

    fn info(chat: &str, sender: &str) -> MessageInfo {
        MessageInfo {
            source: MessageSource {
                chat: jid(chat),
                sender: jid(sender),
                is_group: chat.ends_with("@g.us"),
                ..Default::default()
            },
            id: "3EB0ABC".into(),
            push_name: "Bob".into(),
            ..Default::default()
        }
    }

    fn batch(message: wa::Message, info: MessageInfo) -> Event {
        let inbound = InboundMessage::builder()
            .message(Arc::new(message))
            .info(Arc::new(info))
            .build();
        Event::Messages(
            MessageBatch::builder()
                .messages(Arc::from(vec![inbound]))
                .origin(BatchOrigin::Live)
                .build(),
        )
    }

    fn only_message(event: &Event) -> WaMessage {
        match route(event) {
            Routed::Events(mut evs) if evs.len() == 1 => match evs.remove(0) {
                WaEvent::Message(m) => m,
                other => panic!("not a message: {other:?}"),
            },
            other => panic!("unexpected: {other:?}"),
        }
    }

    #[test]
    fn pairing_events() {
        let qr = Event::PairingQrCode(
            PairingQrCode::builder()
                .code("2@abc".to_string())
                .timeout(Duration::from_secs(20))
                .build(),
        );
        assert_eq!(
            route(&qr),
            Routed::Pairing(PairingEvent::Qr("2@abc".into()))
        );
        let gone = Event::PairingQrCodesExhausted(
            PairingQrCodesExhausted::builder()
                .disconnected(true)
                .build(),
        );
        assert_eq!(route(&gone), Routed::Pairing(PairingEvent::QrExhausted));
        let ok = Event::PairSuccess(
            PairSuccess::builder()
                .id(jid("4412345678:5@s.whatsapp.net"))
                .lid(jid("1234@lid"))
                .business_name(String::new())
                .platform("android".to_string())
                .build(),
        );
        assert_eq!(
            route(&ok),
            Routed::Pairing(PairingEvent::Success {
                phone: Phone::parse("4412345678").unwrap(),
                name: None
            })
        );
    }

    #[test]
    fn history_sync_lists_recent_chats() {
        let sync = wa::HistorySync {
            conversations: vec![
                wa::Conversation {
                    id: "4411111@s.whatsapp.net".into(),
                    conversation_timestamp: Some(1_700_000_000),
                    ..Default::default()
                },
                wa::Conversation {
                    id: "1203-1@g.us".into(),
                    last_msg_timestamp: Some(1_600_000_000),
                    ..Default::default()
                },
                wa::Conversation {
                    id: "status@broadcast".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            history(&sync),
            vec![
                WaEvent::ChatActive {
                    chat: ChatJid::Direct(Phone::parse("4411111").unwrap()),
                    last_active: 1_700_000_000
                },
                WaEvent::ChatActive {
                    chat: ChatJid::Group("1203-1".into()),
                    last_active: 1_600_000_000
                },
            ]
        );
    }

    #[test]
    fn logout_and_names() {
        let out = Event::LoggedOut(
            LoggedOut::builder()
                .on_connect(true)
                .reason(ConnectFailureReason::LoggedOut)
                .build(),
        );
        assert!(
            matches!(route(&out), Routed::Events(e) if matches!(e[0], WaEvent::LoggedOut { .. }))
        );
        let name = Event::PushNameUpdate(
            PushNameUpdate::builder()
                .jid(jid("4411111@s.whatsapp.net"))
                .message(Box::new(info(
                    "4411111@s.whatsapp.net",
                    "4411111@s.whatsapp.net",
                )))
                .old_push_name(String::new())
                .new_push_name("Bobby".to_string())
                .build(),
        );
        assert_eq!(
            route(&name),
            Routed::Events(vec![WaEvent::ContactName {
                phone: Phone::parse("4411111").unwrap(),
                name: "Bobby".into()
            }])
        );
    }

    #[test]
    fn text_and_reply() {
        let m = only_message(&batch(
            wa::Message {
                conversation: Some("*hi*".into()),
                ..Default::default()
            },
            info("4411111@s.whatsapp.net", "4411111@s.whatsapp.net"),
        ));
        assert_eq!(m.chat, ChatJid::Direct(Phone::parse("4411111").unwrap()));
        assert_eq!(m.id, "3EB0ABC");
        assert_eq!(m.push_name.as_deref(), Some("Bob"));
        assert_eq!(
            m.body,
            WaMessageBody::Text {
                text: "*hi*".into(),
                reply_to: None
            }
        );
        let reply = wa::Message::text_with_context(
            "answer",
            wa::ContextInfo {
                stanza_id: Some("OLD1".into()),
                ..Default::default()
            },
        );
        let m = only_message(&batch(reply, info("1203-1@g.us", "4411111@s.whatsapp.net")));
        assert_eq!(m.chat, ChatJid::Group("1203-1".into()));
        assert_eq!(
            m.body,
            WaMessageBody::Text {
                text: "answer".into(),
                reply_to: Some("OLD1".into())
            }
        );
    }

    #[test]
    fn media_reactions_edits_revokes_locations() {
        let img = wa::Message {
            image_message: whatsapp_rust::buffa::MessageField::some(wa::message::ImageMessage {
                mimetype: Some("image/jpeg".into()),
                caption: Some("look".into()),
                direct_path: Some("/v/t62/abc".into()),
                media_key: Some(vec![1; 32]),
                file_length: Some(1234),
                ..Default::default()
            }),
            ..Default::default()
        };
        let WaMessageBody::Media { media, caption, .. } = body(&img).unwrap() else {
            panic!("not media")
        };
        assert_eq!((media.kind, caption.as_str()), (MediaKind::Image, "look"));
        let handle = MediaHandle::decode(&media.handle).unwrap();
        assert_eq!(handle.direct_path, "/v/t62/abc");
        assert_eq!(handle.file_length, 1234);

        let voice = wa::Message {
            audio_message: whatsapp_rust::buffa::MessageField::some(wa::message::AudioMessage {
                ptt: Some(true),
                mimetype: Some("audio/ogg; codecs=opus".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(
            matches!(body(&voice), Some(WaMessageBody::Media { media, .. }) if media.kind == MediaKind::Voice)
        );

        let key = wa::MessageKey {
            id: Some("T1".into()),
            ..Default::default()
        };
        let reaction = wa::Message {
            reaction_message: whatsapp_rust::buffa::MessageField::some(
                wa::message::ReactionMessage {
                    key: whatsapp_rust::buffa::MessageField::some(key.clone()),
                    text: Some("👍".into()),
                    ..Default::default()
                },
            ),
            ..Default::default()
        };
        assert_eq!(
            body(&reaction),
            Some(WaMessageBody::Reaction {
                target: "T1".into(),
                emoji: "👍".into()
            })
        );
        let revoke = wa::Message {
            protocol_message: whatsapp_rust::buffa::MessageField::some(
                wa::message::ProtocolMessage {
                    key: whatsapp_rust::buffa::MessageField::some(key.clone()),
                    ..Default::default()
                },
            ),
            ..Default::default()
        };
        assert_eq!(
            body(&revoke),
            Some(WaMessageBody::Revoke {
                target: "T1".into()
            })
        );
        let edit = wa::Message {
            protocol_message: whatsapp_rust::buffa::MessageField::some(
                wa::message::ProtocolMessage {
                    key: whatsapp_rust::buffa::MessageField::some(key),
                    edited_message: whatsapp_rust::buffa::MessageField::some(wa::Message::text(
                        "new",
                    )),
                    ..Default::default()
                },
            ),
            ..Default::default()
        };
        assert_eq!(
            body(&edit),
            Some(WaMessageBody::Edit {
                target: "T1".into(),
                text: "new".into()
            })
        );
        let loc = wa::Message {
            location_message: whatsapp_rust::buffa::MessageField::some(
                wa::message::LocationMessage {
                    degrees_latitude: Some(51.5),
                    degrees_longitude: Some(-0.1),
                    ..Default::default()
                },
            ),
            ..Default::default()
        };
        assert!(
            matches!(body(&loc), Some(WaMessageBody::Location { latitude, .. }) if latitude == 51.5)
        );
        assert_eq!(body(&wa::Message::default()), None);
    }
}
