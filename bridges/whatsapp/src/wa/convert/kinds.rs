//! Message kinds beyond text and media: protocol messages (told apart by their type, not by
//! which fields happen to be set), contact cards, polls, and the fallback that names a kind
//! the bridge does not know, so nothing arrives as silence.

use wa::message::protocol_message::Type as ProtocolType;
use whatsapp_rust::waproto::whatsapp as wa;

use crate::network::{ContactCard, WaMessageBody};

/// A protocol message: a deletion, an edit or a timer change; `None` for the protocol's own
/// traffic (key shares, history sync notices…), which is no chat message.
pub fn protocol(p: &wa::message::ProtocolMessage) -> Option<WaMessageBody> {
    let target = || p.key.as_option().and_then(|k| k.id.clone());
    let edit = || {
        use whatsapp_rust::wacore::proto_helpers::MessageExt;
        let edited = p.edited_message.as_option()?;
        Some(WaMessageBody::Edit {
            target: target()?,
            text: edited.text_content().unwrap_or_default().to_owned(),
        })
    };
    match p.r#type {
        Some(ProtocolType::REVOKE) => Some(WaMessageBody::Revoke { target: target()? }),
        Some(ProtocolType::MESSAGE_EDIT) => edit(),
        Some(ProtocolType::EPHEMERAL_SETTING) => Some(WaMessageBody::DisappearingTimer {
            seconds: p.ephemeral_expiration.unwrap_or(0),
        }),
        // Older clients leave the type out: an edit carries the new message, else a deletion.
        None => edit().or_else(|| Some(WaMessageBody::Revoke { target: target()? })),
        Some(other) => {
            tracing::debug!(kind = ?other, "WhatsApp protocol message, not a chat message");
            None
        }
    }
}

/// A contact card message, or several.
pub fn contacts(m: &wa::Message) -> Option<WaMessageBody> {
    let card = |c: &wa::message::ContactMessage| ContactCard {
        name: c.display_name.clone().unwrap_or_default(),
        vcard: c.vcard.clone().unwrap_or_default(),
    };
    if let Some(c) = m.contact_message.as_option() {
        return Some(WaMessageBody::Contacts {
            cards: vec![card(c)],
        });
    }
    let many = m.contacts_array_message.as_option()?;
    Some(WaMessageBody::Contacts {
        cards: many.contacts.iter().map(card).collect(),
    })
}

/// A poll (any of its versions).
pub fn poll(m: &wa::Message) -> Option<WaMessageBody> {
    let p = [
        &m.poll_creation_message,
        &m.poll_creation_message_v2,
        &m.poll_creation_message_v3,
        &m.poll_creation_message_v5,
        &m.poll_creation_message_v6,
    ]
    .into_iter()
    .find_map(|p| p.as_option())?;
    let options: Vec<String> = p
        .options
        .iter()
        .filter_map(|o| o.option_name.clone())
        .collect();
    // 0 (or none) lets one choose any number of the options.
    let max_selections = match p.selectable_options_count {
        Some(n) if n > 0 => n,
        _ => u32::try_from(options.len()).unwrap_or(u32::MAX),
    };
    let secret = m
        .message_context_info
        .as_option()
        .and_then(|c| c.message_secret.clone())
        .filter(|s| !s.is_empty());
    Some(WaMessageBody::Poll {
        question: p.name.clone().unwrap_or_default(),
        options,
        max_selections,
        secret,
    })
}

/// A vote in a poll, still encrypted (the poll's key opens it; see `PollKey`).
pub fn poll_vote(m: &wa::Message) -> Option<WaMessageBody> {
    let update = m.poll_update_message.as_option()?;
    let poll = update.poll_creation_message_key.as_option()?.id.clone()?;
    let vote = update.vote.as_option()?;
    Some(WaMessageBody::PollVote {
        poll,
        payload: vote.enc_payload.clone()?,
        iv: vote.enc_iv.clone()?,
    })
}

/// The options a decrypted vote chose: WhatsApp names each by the SHA-256 of its text.
/// Hashes of no known option (an option added later, a corrupt vote) are left out.
pub fn chosen_options(hashes: &[Vec<u8>], options: &[String]) -> Vec<String> {
    use whatsapp_rust::wacore::poll::compute_option_hash;
    hashes
        .iter()
        .filter_map(|h| {
            options
                .iter()
                .find(|o| compute_option_hash(o).as_slice() == h.as_slice())
                .cloned()
        })
        .collect()
}

/// Fields of a message that are protocol plumbing, never its content.
const NOT_CONTENT: [&str; 6] = [
    "messageContextInfo",
    "message_context_info",
    "senderKeyDistributionMessage",
    "sender_key_distribution_message",
    "fastRatchetKeySenderKeyDistributionMessage",
    "fast_ratchet_key_sender_key_distribution_message",
];

/// A message the conversions above do not know: its kind, named after the field that holds
/// it (`None` when it holds nothing but plumbing).
pub fn unknown(m: &wa::Message) -> Option<WaMessageBody> {
    let fields = serde_json::to_value(m).ok()?;
    let kind = fields.as_object()?.iter().find_map(|(name, value)| {
        // An empty object is a sub-message that is there, with only default fields.
        let empty = match value {
            serde_json::Value::Null => true,
            serde_json::Value::Array(a) => a.is_empty(),
            _ => false,
        };
        (!empty && !NOT_CONTENT.contains(&name.as_str())).then(|| name.clone())
    })?;
    Some(WaMessageBody::Unsupported {
        description: format!("a WhatsApp message of a kind the bridge does not know ({kind})"),
    })
}

/// Kinds the bridge knows but cannot show, in words.
pub fn described(m: &wa::Message) -> Option<WaMessageBody> {
    let description = if m.poll_update_message.as_option().is_some() {
        "a poll vote"
    } else if m.event_message.as_option().is_some() {
        "an event invitation"
    } else if m.group_invite_message.as_option().is_some() {
        "a group invitation"
    } else if m.list_message.as_option().is_some() || m.buttons_message.as_option().is_some() {
        "a message with buttons"
    } else if m.template_message.as_option().is_some() {
        "a business template message"
    } else if m.order_message.as_option().is_some() || m.product_message.as_option().is_some() {
        "a business order or product"
    } else {
        return None;
    };
    Some(WaMessageBody::Unsupported {
        description: description.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapp_rust::buffa::MessageField;
    use whatsapp_rust::prelude::MessageBuilderExt;

    fn key(id: &str) -> MessageField<wa::MessageKey> {
        MessageField::some(wa::MessageKey {
            id: Some(id.into()),
            ..Default::default()
        })
    }

    #[test]
    fn protocol_messages_go_by_their_type() {
        let of = |t: Option<ProtocolType>, edited: bool| wa::message::ProtocolMessage {
            key: key("T1"),
            r#type: t,
            ephemeral_expiration: Some(86_400),
            edited_message: if edited {
                MessageField::some(wa::Message::text("new"))
            } else {
                MessageField::none()
            },
            ..Default::default()
        };
        let revoke = WaMessageBody::Revoke {
            target: "T1".into(),
        };
        let edit = WaMessageBody::Edit {
            target: "T1".into(),
            text: "new".into(),
        };
        assert_eq!(
            protocol(&of(Some(ProtocolType::REVOKE), false)),
            Some(revoke.clone())
        );
        assert_eq!(
            protocol(&of(Some(ProtocolType::MESSAGE_EDIT), true)),
            Some(edit.clone())
        );
        assert_eq!(
            protocol(&of(Some(ProtocolType::EPHEMERAL_SETTING), false)),
            Some(WaMessageBody::DisappearingTimer { seconds: 86_400 })
        );
        assert_eq!(
            protocol(&of(Some(ProtocolType::HISTORY_SYNC_NOTIFICATION), false)),
            None,
            "a key or history notice is no deletion"
        );
        assert_eq!(protocol(&of(Some(ProtocolType::MESSAGE_EDIT), false)), None);
        assert_eq!(protocol(&of(None, true)), Some(edit));
        assert_eq!(protocol(&of(None, false)), Some(revoke));
    }

    #[test]
    fn contact_cards_and_polls_keep_their_content() {
        let card = wa::message::ContactMessage {
            display_name: Some("Dora".into()),
            vcard: Some("BEGIN:VCARD\nTEL:+44 7000\nEND:VCARD".into()),
            ..Default::default()
        };
        let one = wa::Message {
            contact_message: MessageField::some(card.clone()),
            ..Default::default()
        };
        let expected = ContactCard {
            name: "Dora".into(),
            vcard: "BEGIN:VCARD\nTEL:+44 7000\nEND:VCARD".into(),
        };
        assert_eq!(
            contacts(&one),
            Some(WaMessageBody::Contacts {
                cards: vec![expected.clone()]
            })
        );
        let many = wa::Message {
            contacts_array_message: MessageField::some(wa::message::ContactsArrayMessage {
                contacts: vec![card.clone(), card],
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(
            matches!(contacts(&many), Some(WaMessageBody::Contacts { cards }) if cards.len() == 2)
        );
        let option = |name: &str| wa::message::poll_creation_message::Option {
            option_name: Some(name.into()),
            ..Default::default()
        };
        let p = wa::Message {
            poll_creation_message_v3: MessageField::some(wa::message::PollCreationMessage {
                name: Some("Lunch?".into()),
                options: vec![option("Pizza"), option("Soup")],
                selectable_options_count: Some(1),
                ..Default::default()
            }),
            message_context_info: MessageField::some(wa::MessageContextInfo {
                message_secret: Some(vec![7; 32]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            poll(&p),
            Some(WaMessageBody::Poll {
                question: "Lunch?".into(),
                options: vec!["Pizza".into(), "Soup".into()],
                max_selections: 1,
                secret: Some(vec![7; 32]),
            })
        );
    }

    #[test]
    fn unknown_kinds_are_named_and_plumbing_is_not_content() {
        let keep = wa::Message {
            keep_in_chat_message: MessageField::some(Default::default()),
            ..Default::default()
        };
        let Some(WaMessageBody::Unsupported { description }) = unknown(&keep) else {
            panic!("{:?}", unknown(&keep));
        };
        assert!(description.to_lowercase().contains("keep"), "{description}");
        let plumbing = wa::Message {
            sender_key_distribution_message: MessageField::some(Default::default()),
            message_context_info: MessageField::some(Default::default()),
            ..Default::default()
        };
        assert_eq!(unknown(&plumbing), None);
        let vote = wa::Message {
            poll_update_message: MessageField::some(Default::default()),
            ..Default::default()
        };
        assert!(
            matches!(described(&vote), Some(WaMessageBody::Unsupported { description }) if description == "a poll vote")
        );
        // Without its poll and ciphertext a vote is only described.
        assert_eq!(poll_vote(&vote), None);
    }

    #[test]
    fn a_decrypted_vote_names_options_by_their_hash() {
        use whatsapp_rust::wacore::poll::compute_option_hash;
        let options = ["Pizza".to_owned(), "Soup".to_owned()];
        let hashes = vec![compute_option_hash("Soup").to_vec(), vec![0; 32]];
        assert_eq!(chosen_options(&hashes, &options), ["Soup"]);
    }

    #[test]
    fn a_vote_keeps_its_poll_and_ciphertext() {
        let vote = wa::Message {
            poll_update_message: MessageField::some(wa::message::PollUpdateMessage {
                poll_creation_message_key: MessageField::some(wa::MessageKey {
                    id: Some("P1".into()),
                    ..Default::default()
                }),
                vote: MessageField::some(wa::message::PollEncValue {
                    enc_payload: Some(vec![1, 2]),
                    enc_iv: Some(vec![3]),
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            poll_vote(&vote),
            Some(WaMessageBody::PollVote {
                poll: "P1".into(),
                payload: vec![1, 2],
                iv: vec![3],
            })
        );
    }
}
