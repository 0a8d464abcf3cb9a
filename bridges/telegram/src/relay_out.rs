//! Matrix → Telegram: a Matrix event in a portal becomes a call on the sender's session.

use ferrybridge_core::BridgeHost;
use ferrybridge_core::events::{
    Delivered, DeliveryError, MatrixEvent, MatrixEventKind, MembershipChange, MessageContent,
    MessageKind,
};
use ferrybridge_core::ids::RemoteMessageId;
use ferrybridge_core::portal::Portal;

use crate::bridge::TelegramBridge;
use crate::network::{ChatEdit, ChatKind, ChatRef, MediaKind, OutMedia, OutMessage, TgError};
use crate::relay_in::message_id;
use crate::session::UserSession;

/// Delivers one Matrix event through `session`.
pub async fn deliver(
    bridge: &TelegramBridge,
    host: &BridgeHost,
    session: &UserSession,
    portal: &Portal,
    event: MatrixEvent,
) -> Result<Delivered, DeliveryError> {
    let chat: ChatRef = portal
        .key()
        .chat
        .as_str()
        .parse()
        .map_err(|e: crate::network::BadChatId| DeliveryError::permanent(e.to_string()))?;
    let net = &session.net;
    match event.kind {
        MatrixEventKind::Message { content, .. } if content.kind == MessageKind::Poll => {
            let Some(poll) = &content.poll else {
                return Err(DeliveryError::permanent("the poll has no answers"));
            };
            let (id, options) = bridge
                .call(net.send_poll(chat, crate::polls::out_poll(poll)))
                .await
                .map_err(refused)?;
            session.remember_sent(id, chat);
            let remote = message_id(id);
            crate::polls::remember(host, chat, &remote, &poll.answers, &options).await;
            Ok(Delivered::As(remote))
        }
        MatrixEventKind::PollVote { target, answers } => {
            let id = parse_msg(&target)
                .ok_or_else(|| DeliveryError::permanent("that poll cannot be voted in"))?;
            let options = crate::polls::options_for(host, chat, &target, &answers)
                .await
                .ok_or_else(|| {
                    DeliveryError::permanent(
                        "the bridge does not know that poll's options on Telegram (a poll \
                         started on Matrix before the bridge kept them): vote on Telegram",
                    )
                })?;
            bridge
                .call(net.vote(chat, id, options))
                .await
                .map_err(refused)?;
            Ok(Delivered::Untracked)
        }
        MatrixEventKind::Message { content, reply_to } => {
            let reply_to = reply_to.and_then(|r| parse_msg(&r.message));
            let mut out = text_of(host, &content);
            out.reply_to = reply_to;
            let id = match content.media.as_ref().filter(|_| content.kind.has_media()) {
                Some(media) => {
                    let (data, mime) = host.download_media(media).await?;
                    let caption = if out.text == media.filename {
                        OutMessage {
                            reply_to,
                            ..Default::default()
                        }
                    } else {
                        out
                    };
                    let file = OutMedia {
                        kind: media_kind(content.kind),
                        data,
                        file_name: media.filename.clone(),
                        mime: media
                            .mimetype
                            .clone()
                            .or(mime)
                            .unwrap_or_else(|| "application/octet-stream".into()),
                        caption,
                    };
                    bridge
                        .call(net.send_media(chat, file))
                        .await
                        .map_err(refused)?
                }
                None => bridge
                    .call(net.send_message(chat, out))
                    .await
                    .map_err(refused)?,
            };
            session.remember_sent(id, chat);
            Ok(Delivered::As(message_id(id)))
        }
        MatrixEventKind::Edit { target, content } => {
            let id = parse_msg(&target)
                .ok_or_else(|| DeliveryError::permanent("that message cannot be edited"))?;
            let out = text_of(host, &content);
            bridge
                .call(net.edit_message(chat, id, out))
                .await
                .map_err(refused)?;
            Ok(Delivered::Untracked)
        }
        MatrixEventKind::Redaction { target, .. } => {
            if let Some(msg) = target
                .as_str()
                .strip_prefix('r')
                .and_then(|r| r.split('.').next())
                .and_then(|m| m.parse::<i32>().ok())
            {
                // Our reaction's ID is `r<msg>.<our id>`: take the reaction back.
                bridge
                    .call(net.react(chat, msg, None))
                    .await
                    .map_err(refused)?;
                return Ok(Delivered::Untracked);
            }
            let id = parse_msg(&target)
                .ok_or_else(|| DeliveryError::permanent("that message cannot be deleted"))?;
            bridge
                .call(net.delete_messages(chat, &[id]))
                .await
                .map_err(refused)?;
            Ok(Delivered::Untracked)
        }
        MatrixEventKind::Reaction { target, key } => {
            let id = parse_msg(&target)
                .ok_or_else(|| DeliveryError::permanent("cannot react to that message"))?;
            bridge
                .call(net.react(chat, id, Some(&key)))
                .await
                .map_err(refused)?;
            Ok(Delivered::As(crate::relay_in::reaction_id(
                id,
                session.me.id,
            )))
        }
        MatrixEventKind::Typing { typing } => {
            // Typing is best-effort: no notice for a failure.
            let _ = bridge.call(net.set_typing(chat, typing)).await;
            Ok(Delivered::Ignored)
        }
        MatrixEventKind::ReadReceipt { up_to } => {
            if let Some(id) = parse_msg(&up_to) {
                let _ = bridge.call(net.mark_read(chat, id)).await;
            }
            Ok(Delivered::Ignored)
        }
        // A private chat's room name and topic are the Matrix side's own.
        MatrixEventKind::ChatInfo(_) if chat.kind == ChatKind::User => Ok(Delivered::Ignored),
        MatrixEventKind::ChatInfo(info) => {
            let photo = match info.avatar {
                Some(avatar) if avatar.is_removal() => Some(ChatEdit::Photo(None)),
                Some(avatar) => Some(ChatEdit::Photo(Some(host.download_media(&avatar).await?.0))),
                None => None,
            };
            let edits = info
                .name
                .map(ChatEdit::Title)
                .into_iter()
                .chain(info.topic.map(ChatEdit::About))
                .chain(photo);
            for edit in edits {
                if matches!(edit, ChatEdit::Photo(_)) {
                    session.remember_photo_edit(chat);
                }
                bridge
                    .call(net.edit_chat(chat, edit))
                    .await
                    .map_err(refused)?;
            }
            Ok(Delivered::Untracked)
        }
        MatrixEventKind::GhostInvite { ghost } => {
            let user: i64 = ghost
                .as_str()
                .parse()
                .map_err(|_| DeliveryError::permanent("not a Telegram user"))?;
            bridge
                .call(net.add_member(chat, user))
                .await
                .map_err(refused)?;
            Ok(Delivered::Untracked)
        }
        MatrixEventKind::GhostMembership { ghost, change } => {
            let ban = match change {
                MembershipChange::Kick { .. } => false,
                MembershipChange::Ban { .. } => true,
                _ => return Ok(Delivered::Ignored),
            };
            let user: i64 = ghost
                .as_str()
                .parse()
                .map_err(|_| DeliveryError::permanent("not a Telegram user"))?;
            bridge
                .call(net.remove_member(chat, user, ban))
                .await
                .map_err(refused)?;
            Ok(Delivered::Untracked)
        }
        _ => Ok(Delivered::Ignored),
    }
}

fn parse_msg(id: &RemoteMessageId) -> Option<i32> {
    id.as_str().parse().ok()
}

/// The sender sees why Telegram refused; waits and outages may pass.
fn refused(e: TgError) -> DeliveryError {
    match e {
        TgError::FloodWait(_) | TgError::Network(_) => DeliveryError::transient(e.to_string()),
        e => DeliveryError::permanent(format!("Telegram refused it: {e}")),
    }
}

fn media_kind(kind: MessageKind) -> MediaKind {
    match kind {
        MessageKind::Image => MediaKind::Photo,
        MessageKind::Sticker => MediaKind::Sticker,
        MessageKind::Video => MediaKind::Video,
        MessageKind::Audio => MediaKind::Audio,
        MessageKind::Voice => MediaKind::Voice,
        _ => MediaKind::Document,
    }
}

/// The message text with entities; an emote is prefixed like IRC's `/me`.
fn text_of(host: &BridgeHost, content: &MessageContent) -> OutMessage {
    let ghosts = host.ghosts();
    let ghost_id = |mxid: &str| {
        let user = ruma::UserId::parse(mxid).ok()?;
        ghosts.remote_of(&user)?.as_str().parse().ok()
    };
    let mut out = crate::format::matrix_to_tg(&content.body, content.html.as_deref(), &ghost_id);
    if content.kind == MessageKind::Emote {
        out.text = format!("* {}", out.text);
        for e in &mut out.entities {
            e.offset += 2;
        }
    }
    out
}
