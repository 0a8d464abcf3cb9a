//! whatsapp-rust's events → the crate's own [`WaEvent`]s and [`PairingEvent`]s, and the
//! library's JIDs and group details → the bridge's phones, chats and groups.

use super::received::message;
use crate::jid::{ChatJid, GROUP_SERVER, Phone};
use crate::network::{GroupInfo, PairingEvent, WaError, WaEvent};
use whatsapp_rust::Jid;
use whatsapp_rust::wacore::types::events::Event;
use whatsapp_rust::wacore::types::presence::{ChatPresence, ReceiptType};

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
        Event::Disconnected(_) => Routed::Events(vec![WaEvent::Disconnected {
            reason: "connection lost".into(),
        }]),
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
        // A group's new picture comes with the group's refresh; a contact's is looked up.
        Event::PictureUpdate(u) => match (chat_of(&u.jid), phone_of(&u.jid, None)) {
            (Some(group @ ChatJid::Group(_)), _) => Routed::GroupRefresh(group),
            (_, Some(phone)) => Routed::Events(vec![WaEvent::PictureChanged { phone }]),
            _ => Routed::Ignore,
        },
        _ => Routed::Ignore,
    }
}

/// A group's details as the bridge's [`GroupInfo`] (without its picture, fetched apart).
pub fn group_info(meta: &whatsapp_rust::features::GroupMetadata) -> Option<GroupInfo> {
    Some(GroupInfo {
        jid: chat_of(&meta.id)?,
        subject: meta.subject.clone(),
        description: meta.description.clone(),
        participants: meta
            .participants
            .iter()
            .filter_map(|p| phone_of(&p.jid, p.phone_number.as_ref()))
            .collect(),
        picture: None,
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
    use whatsapp_rust::wacore::types::message::{MessageInfo, MessageSource};
    use whatsapp_rust::waproto::whatsapp as wa;

    use super::*;
    use crate::network::{WaMessage, WaMessageBody};

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
    fn picture_updates_of_contacts_and_groups() {
        use whatsapp_rust::wacore::types::events::PictureUpdate;
        let update = |of: &str, removed: bool| {
            Event::PictureUpdate(
                PictureUpdate::builder()
                    .jid(jid(of))
                    .timestamp(whatsapp_rust::chrono::Utc::now())
                    .removed(removed)
                    .build(),
            )
        };
        let contact = Routed::Events(vec![WaEvent::PictureChanged {
            phone: Phone::parse("4411111").unwrap(),
        }]);
        assert_eq!(route(&update("4411111@s.whatsapp.net", false)), contact);
        assert_eq!(route(&update("4411111@s.whatsapp.net", true)), contact);
        assert_eq!(
            route(&update("1203-1@g.us", false)),
            Routed::GroupRefresh(ChatJid::Group("1203-1".into()))
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
}
