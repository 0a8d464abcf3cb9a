//! The bridge's chats, phones and outgoing messages → whatsapp-rust's JIDs and messages.

use whatsapp_rust::Jid;
use whatsapp_rust::buffa::MessageField;
use whatsapp_rust::upload::UploadResponse;
use whatsapp_rust::wacore::proto_helpers::MessageBuilderExt;
use whatsapp_rust::waproto::whatsapp as wa;

use crate::jid::{ChatJid, Phone};
use crate::network::{MediaKind, QuotedMessage, WaError};

/// A chat as the library's JID.
pub(crate) fn jid_of(chat: &ChatJid) -> Result<Jid, WaError> {
    chat.jid()
        .parse()
        .map_err(|e| WaError::Invalid(format!("bad JID {chat}: {e:?}")))
}

/// A phone number as the library's user JID.
pub(crate) fn pn(phone: &Phone) -> Jid {
    Jid::pn(phone.digits())
}

/// The quote of a reply: the quoted message's ID and, when known, its sender.
fn context(reply: &Option<QuotedMessage>) -> Option<wa::ContextInfo> {
    reply.as_ref().map(|q| wa::ContextInfo {
        stanza_id: Some(q.id.clone()),
        participant: q.sender.as_ref().map(|p| pn(p).to_string()),
        ..Default::default()
    })
}

/// A text message, quoting `reply_to` when set.
pub(crate) fn text(text: String, reply_to: &Option<QuotedMessage>) -> wa::Message {
    match context(reply_to) {
        Some(ctx) => wa::Message::text_with_context(text, ctx),
        None => wa::Message::text(text),
    }
}

/// A location pin.
pub(crate) fn location(latitude: f64, longitude: f64) -> wa::Message {
    wa::Message {
        location_message: MessageField::some(wa::message::LocationMessage {
            degrees_latitude: Some(latitude),
            degrees_longitude: Some(longitude),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A reaction (an empty `emoji` removes it) to `target`, sent by `target_sender` (whose JID
/// groups need) or by us (`from_me`).
pub(crate) fn reaction(
    chat: &ChatJid,
    target: &str,
    target_sender: Option<&Phone>,
    from_me: bool,
    emoji: &str,
) -> wa::Message {
    wa::Message {
        reaction_message: MessageField::some(wa::message::ReactionMessage {
            key: MessageField::some(wa::MessageKey {
                remote_jid: Some(chat.jid()),
                from_me: Some(from_me),
                id: Some(target.to_owned()),
                participant: if chat.is_group() {
                    target_sender.map(|p| pn(p).to_string())
                } else {
                    None
                },
            }),
            text: Some(emoji.to_owned()),
            sender_timestamp_ms: Some(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One media message type filled with the upload's reference and the fields all kinds share,
/// plus the kind's own fields.
macro_rules! uploaded {
    ($kind:ident, $up:expr, $mimetype:expr, $context:expr, { $($field:ident: $value:expr),* $(,)? }) => {
        MessageField::some(wa::message::$kind {
            url: Some($up.url),
            direct_path: Some($up.direct_path),
            media_key: Some($up.media_key.to_vec()),
            file_enc_sha256: Some($up.file_enc_sha256.to_vec()),
            file_sha256: Some($up.file_sha256.to_vec()),
            file_length: Some($up.file_length),
            mimetype: Some($mimetype.into()),
            context_info: $context,
            $($field: $value,)*
            ..Default::default()
        })
    };
}

/// The message for an uploaded file, quoting `reply_to` when set.
pub(crate) fn media_message(
    kind: MediaKind,
    up: UploadResponse,
    mimetype: &str,
    filename: &str,
    caption: Option<String>,
    reply_to: &Option<QuotedMessage>,
) -> wa::Message {
    let ctx = match context(reply_to) {
        Some(c) => MessageField::some(c),
        None => MessageField::none(),
    };
    let mut msg = wa::Message::default();
    match kind {
        MediaKind::Image => {
            msg.image_message = uploaded!(ImageMessage, up, mimetype, ctx, { caption: caption })
        }
        MediaKind::Video => {
            msg.video_message = uploaded!(VideoMessage, up, mimetype, ctx, { caption: caption })
        }
        MediaKind::Audio | MediaKind::Voice => {
            msg.audio_message = uploaded!(AudioMessage, up, mimetype, ctx, {
                ptt: Some(kind == MediaKind::Voice),
            })
        }
        MediaKind::Sticker => {
            msg.sticker_message = uploaded!(StickerMessage, up, mimetype, ctx, {})
        }
        MediaKind::Document => {
            msg.document_message = uploaded!(DocumentMessage, up, mimetype, ctx, {
                file_name: Some(filename.into()),
                title: Some(filename.into()),
                caption: caption,
            })
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(p: &str) -> Phone {
        Phone::parse(p).unwrap()
    }

    #[test]
    fn replies_quote_the_message_and_its_sender() {
        let quote = Some(QuotedMessage {
            id: "W1".into(),
            sender: Some(phone("4411111")),
        });
        let msg = text("answer".into(), &quote);
        let ctx = msg.extended_text_message.as_option().unwrap();
        let ctx = ctx.context_info.as_option().unwrap();
        assert_eq!(ctx.stanza_id.as_deref(), Some("W1"));
        assert_eq!(ctx.participant.as_deref(), Some("4411111@s.whatsapp.net"));
        assert_eq!(
            text("plain".into(), &None).conversation.as_deref(),
            Some("plain")
        );
    }

    #[test]
    fn reactions_name_the_sender_only_in_groups() {
        let bob = phone("4411111");
        let group = reaction(
            &ChatJid::Group("1203-1".into()),
            "T1",
            Some(&bob),
            false,
            "👍",
        );
        let key = group.reaction_message.as_option().unwrap();
        assert_eq!(key.text.as_deref(), Some("👍"));
        let key = key.key.as_option().unwrap();
        assert_eq!(key.remote_jid.as_deref(), Some("1203-1@g.us"));
        assert_eq!(key.participant.as_deref(), Some("4411111@s.whatsapp.net"));
        let direct = reaction(&ChatJid::Direct(bob.clone()), "T1", Some(&bob), false, "");
        let key = direct.reaction_message.as_option().unwrap();
        assert_eq!(key.key.as_option().unwrap().participant, None);
        assert!(jid_of(&ChatJid::Direct(bob)).is_ok());
    }
}
