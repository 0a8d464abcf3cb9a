//! Received whatsapp-rust messages → the crate's own [`WaMessage`]s, and the [`MediaHandle`]
//! that keeps what is needed to download their media later.

use serde::{Deserialize, Serialize};
use whatsapp_rust::wacore::download::MediaType;
use whatsapp_rust::wacore::types::message::MessageInfo;
use whatsapp_rust::waproto::whatsapp as wa;

use super::events::{chat_of, phone_of};
use crate::network::{MediaKind, WaMedia, WaMessage, WaMessageBody};

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
        return super::kinds::protocol(p);
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
    // A round video note (`ptv`) is a video all the same.
    if let Some(v) = m.video_message.as_option().or(m.ptv_message.as_option()) {
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
    if let Some(l) = m.live_location_message.as_option() {
        return Some(WaMessageBody::Location {
            latitude: l.degrees_latitude.unwrap_or_default(),
            longitude: l.degrees_longitude.unwrap_or_default(),
            name: l.caption.clone(),
        });
    }
    super::kinds::contacts(m)
        .or_else(|| super::kinds::poll(m))
        .or_else(|| super::kinds::poll_vote(m))
        .or_else(|| super::kinds::described(m))
        .or_else(|| super::kinds::unknown(m))
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
        expires_in: expiration(message, info.ephemeral_expiration),
    })
}

/// A message's disappearing timer: what the library read from the envelope, else the
/// `contextInfo.expiration` of the (unwrapped) message; `0` means none.
pub fn expiration(message: &wa::Message, envelope: Option<u32>) -> Option<u32> {
    use whatsapp_rust::wacore::proto_helpers::MessageExt;
    envelope
        .or_else(|| message.get_base_message().get_ephemeral_expiration())
        .filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use whatsapp_rust::wacore::proto_helpers::MessageBuilderExt;

    use super::*;

    #[test]
    fn disappearing_timers_from_the_envelope_or_the_context_info() {
        use whatsapp_rust::wacore::proto_helpers::MessageExt;
        let plain = wa::Message {
            conversation: Some("hi".into()),
            ..Default::default()
        };
        assert_eq!(expiration(&plain, None), None);
        // The envelope wins; 0 is "no timer".
        assert_eq!(expiration(&plain, Some(604_800)), Some(604_800));
        assert_eq!(expiration(&plain, Some(0)), None);
        // A timed text as WhatsApp sends it: promoted to an extended text with contextInfo.
        let mut timed = plain.clone();
        assert!(timed.set_ephemeral_expiration(86_400));
        assert_eq!(expiration(&timed, None), Some(86_400));
        assert!(matches!(body(&timed), Some(WaMessageBody::Text { text, .. }) if text == "hi"));
        // Inside the ephemeral wrapper too.
        let wrapped = wa::Message {
            ephemeral_message: whatsapp_rust::buffa::MessageField::some(
                wa::message::FutureProofMessage {
                    message: whatsapp_rust::buffa::MessageField::some(timed),
                },
            ),
            ..Default::default()
        };
        assert_eq!(expiration(&wrapped, None), Some(86_400));
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
