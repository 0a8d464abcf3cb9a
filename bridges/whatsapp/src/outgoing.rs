//! Matrix → WhatsApp: delivers a portal's Matrix events through the sender's own device.

use std::sync::Arc;

use ferrybridge_core::events::{
    Delivered, DeliveryError, MatrixEvent, MatrixEventKind, MembershipChange, MessageContent,
    MessageKind, ReplyTarget,
};
use ferrybridge_core::ids::RemoteMessageId;
use ferrybridge_core::portal::Portal;
use ruma::OwnedUserId;

use crate::bridge::Inner;
use crate::format;
use crate::jid::{ChatJid, Phone};
use crate::network::{GroupEdit, MediaKind, Outgoing, PollKey, QuotedMessage, WaError};
use crate::recent::OurReaction;

fn delivery_error(e: WaError) -> DeliveryError {
    match e {
        WaError::Unreachable(_) => DeliveryError::transient(format!("{e}")),
        WaError::NotLinked => DeliveryError::permanent(
            "you are not logged in to WhatsApp (send `login` to the bridge bot)",
        ),
        other => DeliveryError::permanent(other.to_string()),
    }
}

/// Why a Matrix event from `user`, who has no session, cannot be delivered.
fn not_connected(inner: &Inner, user: &OwnedUserId) -> DeliveryError {
    inner.host.no_session_error(user)
}

/// Sends one Matrix event to WhatsApp as its sender.
pub async fn deliver(
    inner: &Arc<Inner>,
    portal: &Portal,
    event: MatrixEvent,
) -> Result<Delivered, DeliveryError> {
    let chat =
        ChatJid::from_remote(&portal.key().chat).map_err(|e| DeliveryError::permanent(e.0))?;
    let Some((_, session)) = inner
        .sending_session(&event.sender, portal.key(), event.login)
        .await
    else {
        return Err(not_connected(inner, &event.sender));
    };
    let net = &session.net;
    match event.kind {
        MatrixEventKind::Message { content, .. } if content.kind == MessageKind::Poll => {
            let Some(poll) = &content.poll else {
                return Err(DeliveryError::permanent("the poll has no answers"));
            };
            let options: Vec<String> = poll.answers.iter().map(|a| a.text.clone()).collect();
            let (id, secret) = net
                .send_poll(&chat, &poll.question, &options, poll.max_selections)
                .await
                .map_err(delivery_error)?;
            let key = PollKey {
                creator: session.account.clone(),
                secret,
                options,
                answers: poll
                    .answers
                    .iter()
                    .map(|a| (a.id.clone(), a.text.clone()))
                    .collect(),
            };
            crate::polls::remember(&inner.host, &chat, &id, &key).await;
            inner.recent.sender(&id, &session.account);
            Ok(Delivered::As(RemoteMessageId::new(id)))
        }
        MatrixEventKind::PollVote { target, answers } => {
            // WhatsApp's votes name options by their text: the answer IDs bridged polls carry.
            let Some(key) = crate::polls::find(&inner.host, &chat, target.as_str()).await else {
                return Err(DeliveryError::permanent(
                    "the bridge does not have this poll's key (it came before the bridge kept \
                     them): vote on your phone",
                ));
            };
            net.vote(&chat, target.as_str(), &key, &key.options(&answers))
                .await
                .map_err(delivery_error)?;
            Ok(Delivered::Untracked)
        }
        MatrixEventKind::Message { content, reply_to } => {
            let message = outgoing_message(&inner.host, &content, reply_to.as_ref()).await?;
            let id = net.send(&chat, message).await.map_err(delivery_error)?;
            inner.recent.sender(&id, &session.account);
            Ok(Delivered::As(RemoteMessageId::new(id)))
        }
        MatrixEventKind::Edit { target, content } => {
            let text = text_of(&content);
            let id = net
                .edit(&chat, target.as_str(), &text)
                .await
                .map_err(delivery_error)?;
            Ok(Delivered::As(RemoteMessageId::new(id)))
        }
        MatrixEventKind::Redaction { target, .. } => {
            // Redacting one of our reactions removes it (an empty reaction on WhatsApp).
            if let Some(ours) = inner.recent.take_reaction(target.as_str()) {
                net.react(&chat, &ours.target, ours.target_sender.as_ref(), "")
                    .await
                    .map_err(delivery_error)?;
                return Ok(Delivered::Untracked);
            }
            net.revoke(&chat, target.as_str())
                .await
                .map_err(delivery_error)?;
            Ok(Delivered::Untracked)
        }
        MatrixEventKind::Reaction { target, key } => {
            let target_sender = sender_of(inner, &chat, target.as_str());
            let id = net
                .react(&chat, target.as_str(), target_sender.as_ref(), &key)
                .await
                .map_err(delivery_error)?;
            inner.recent.reaction(
                &id,
                OurReaction {
                    target: target.as_str().to_owned(),
                    target_sender,
                },
            );
            Ok(Delivered::As(RemoteMessageId::new(id)))
        }
        MatrixEventKind::ReadReceipt { up_to } => {
            // Groups need the sender of the message read; unknown senders get no receipt.
            if let Some(sender) = sender_of(inner, &chat, up_to.as_str())
                && sender != session.account
            {
                let _ = net
                    .mark_read(&chat, &sender, &[up_to.as_str().to_owned()])
                    .await;
            }
            Ok(Delivered::Ignored)
        }
        MatrixEventKind::Typing { typing } => {
            let _ = net.set_typing(&chat, typing).await;
            Ok(Delivered::Ignored)
        }
        // A private chat's room name and topic are the Matrix side's own.
        MatrixEventKind::ChatInfo(_) if matches!(chat, ChatJid::Direct(_)) => {
            Ok(Delivered::Ignored)
        }
        MatrixEventKind::ChatInfo(info) => {
            let picture = match info.avatar {
                Some(avatar) if avatar.is_removal() => Some(GroupEdit::Picture(None)),
                Some(avatar) => {
                    let (data, mime) = inner.host.download_media(&avatar).await?;
                    Some(GroupEdit::Picture(Some(jpeg_only(data, mime)?)))
                }
                None => None,
            };
            let edits = info
                .name
                .map(GroupEdit::Subject)
                .into_iter()
                .chain(info.topic.map(GroupEdit::Description))
                .chain(picture);
            for edit in edits {
                net.edit_group(&chat, edit).await.map_err(delivery_error)?;
            }
            Ok(Delivered::Untracked)
        }
        MatrixEventKind::GhostInvite { ghost } if matches!(chat, ChatJid::Group(_)) => {
            let member = Phone::from_remote(&ghost).map_err(|e| DeliveryError::permanent(e.0))?;
            net.add_participant(&chat, &member)
                .await
                .map_err(delivery_error)?;
            Ok(Delivered::Untracked)
        }
        MatrixEventKind::GhostMembership {
            ghost,
            change: MembershipChange::Kick { .. } | MembershipChange::Ban { .. },
        } if matches!(chat, ChatJid::Group(_)) => {
            let member = Phone::from_remote(&ghost).map_err(|e| DeliveryError::permanent(e.0))?;
            net.remove_participant(&chat, &member)
                .await
                .map_err(delivery_error)?;
            Ok(Delivered::Untracked)
        }
        _ => Ok(Delivered::Ignored),
    }
}

/// A group picture as WhatsApp takes it: JPEG (told by its bytes, whatever the Matrix side
/// says), anything else refused with the reason (the bridge does not convert images).
fn jpeg_only(data: bytes::Bytes, mime: Option<String>) -> Result<bytes::Bytes, DeliveryError> {
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(data);
    }
    let what = mime.unwrap_or_else(|| "not JPEG".to_owned());
    Err(DeliveryError::permanent(format!(
        "WhatsApp takes JPEG group pictures only; this one is {what}"
    )))
}

/// Who sent message `id` in `chat`: remembered, or the other side of a direct chat.
fn sender_of(inner: &Inner, chat: &ChatJid, id: &str) -> Option<Phone> {
    inner.recent.sender_of(id).or(match chat {
        ChatJid::Direct(p) => Some(p.clone()),
        ChatJid::Group(_) => None,
    })
}

/// The WhatsApp text of a Matrix message: its HTML as markup, else the plain body.
pub fn text_of(content: &MessageContent) -> String {
    let text = match &content.html {
        Some(html) => format::html_to_wa(html),
        None => content.body.clone(),
    };
    match content.kind {
        MessageKind::Emote => format!("_{text}_"),
        _ => text,
    }
}

fn media_kind(kind: MessageKind) -> MediaKind {
    match kind {
        MessageKind::Image => MediaKind::Image,
        MessageKind::Sticker => MediaKind::Sticker,
        MessageKind::Video => MediaKind::Video,
        MessageKind::Voice => MediaKind::Voice,
        MessageKind::Audio => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}

/// Parses `geo:lat,lon[;...]`.
pub fn parse_geo(uri: &str) -> Option<(f64, f64)> {
    let rest = uri.trim().strip_prefix("geo:")?;
    let coords = rest.split([';', '?']).next()?;
    let mut parts = coords.split(',');
    let lat = parts.next()?.trim().parse().ok()?;
    let lon = parts.next()?.trim().parse().ok()?;
    Some((lat, lon))
}

async fn outgoing_message(
    host: &ferrybridge_core::BridgeHost,
    content: &MessageContent,
    reply_to: Option<&ReplyTarget>,
) -> Result<Outgoing, DeliveryError> {
    let quoted = reply_to.map(|r| QuotedMessage {
        id: r.message.as_str().to_owned(),
        sender: r.sender.as_ref().and_then(|s| Phone::from_remote(s).ok()),
    });
    if content.kind == MessageKind::Location
        && let Some((latitude, longitude)) = parse_geo(&content.body)
    {
        return Ok(Outgoing::Location {
            latitude,
            longitude,
        });
    }
    if let Some(media) = content.media.as_ref().filter(|_| content.kind.has_media()) {
        let (data, mime) = host.download_media(media).await?;
        let mimetype = media
            .mimetype
            .clone()
            .or(mime)
            .unwrap_or_else(|| "application/octet-stream".into());
        let caption = (content.body != media.filename).then(|| content.body.clone());
        return Ok(Outgoing::Media {
            kind: media_kind(content.kind),
            data,
            mimetype,
            filename: media.filename.clone(),
            caption,
            reply_to: quoted,
        });
    }
    Ok(Outgoing::Text {
        text: text_of(content),
        reply_to: quoted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geo_links_parse() {
        assert_eq!(parse_geo("geo:51.5,-0.12"), Some((51.5, -0.12)));
        assert_eq!(parse_geo("geo:1,2;u=35"), Some((1.0, 2.0)));
        assert_eq!(parse_geo("not geo"), None);
        assert_eq!(parse_geo("geo:x,y"), None);
    }

    #[test]
    fn text_uses_markup_for_html() {
        let c = MessageContent::text("bold").with_html("<b>bold</b>");
        assert_eq!(text_of(&c), "*bold*");
        assert_eq!(text_of(&MessageContent::emote("waves")), "_waves_");
    }

    #[test]
    fn audio_kinds() {
        assert_eq!(media_kind(MessageKind::Voice), MediaKind::Voice);
        assert_eq!(
            media_kind(MessageKind::Audio),
            MediaKind::Audio,
            "an audio file is no voice note"
        );
        assert_eq!(media_kind(MessageKind::Audio), MediaKind::Audio);
        assert_eq!(media_kind(MessageKind::File), MediaKind::Document);
    }

    #[test]
    fn a_group_picture_goes_as_jpeg_or_not_at_all() {
        let jpeg = bytes::Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]);
        assert_eq!(jpeg_only(jpeg.clone(), None).unwrap(), jpeg);
        let png = bytes::Bytes::from_static(b"\x89PNG\r\n");
        let e = jpeg_only(png, Some("image/png".into())).unwrap_err();
        assert!(!e.retryable);
        assert!(
            e.reason.contains("JPEG") && e.reason.contains("image/png"),
            "{}",
            e.reason
        );
    }
}
