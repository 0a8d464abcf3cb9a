//! Telegram → Matrix: each [`TgUpdate`] of a session becomes remote events for the core.

use ferrybridge_core::BridgeHost;
use ferrybridge_core::events::{
    ChatInfo, Media, MembershipChange, MessageContent, MessageKind, RemoteEvent, RemoteEventKind,
};
use ferrybridge_core::ids::RemoteMessageId;
use ferrybridge_core::seam::ConnectionState;

use crate::bridge::TelegramBridge;
use crate::network::{ChatRef, MediaKind, TgContent, TgError, TgMessage, TgUpdate};
use crate::session::UserSession;

/// Applies one update.
pub async fn handle(bridge: &TelegramBridge, session: &UserSession, update: TgUpdate) {
    let host = &bridge.host;
    let send = |chat: ChatRef, kind: RemoteEventKind| {
        host.send(RemoteEvent {
            portal: session.portal_key(chat),
            kind,
        })
    };
    match update {
        TgUpdate::NewMessage(msg) => {
            session.remember(msg.id, msg.chat);
            if msg.outgoing && session.was_sent_here(msg.id) {
                return;
            }
            if let Err(e) = session.ensure_portal(bridge, msg.chat).await {
                tracing::warn!(chat = %msg.chat, error = %e, "cannot open portal for message");
                return;
            }
            session.ensure_profile(host, &msg.sender).await;
            send(msg.chat, message_event(host, session, &msg).await).await;
        }
        TgUpdate::Edited(msg) => {
            let content = content_of(host, session, &msg).await;
            send(
                msg.chat,
                RemoteEventKind::Edit {
                    target: message_id(msg.id),
                    sender: TelegramBridge::remote_user(msg.sender.id),
                    content,
                },
            )
            .await;
        }
        TgUpdate::Deleted { chat, ids } => {
            for id in ids {
                let Some(chat) = chat.or_else(|| session.chat_of(id)) else {
                    tracing::debug!(id, "deletion of a message we never saw");
                    continue;
                };
                // Telegram does not say who deleted: redact as the author's ghost (who may),
                // or in a DM as the other party (the room's creator).
                let key = session.portal_key(chat);
                let author = host
                    .store()
                    .message_by_remote(&key, &message_id(id))
                    .await
                    .ok()
                    .flatten()
                    .and_then(|row| row.remote_sender);
                let sender = author.unwrap_or_else(|| match chat.kind {
                    crate::network::ChatKind::User => TelegramBridge::remote_user(chat.id),
                    _ => TelegramBridge::remote_user(session.me.id),
                });
                send(
                    chat,
                    RemoteEventKind::Redaction {
                        target: message_id(id),
                        sender,
                    },
                )
                .await;
            }
        }
        TgUpdate::Reaction {
            chat,
            msg_id,
            sender,
            emoji,
        } => {
            if sender.id == session.me.id {
                return; // our own reaction, made from Matrix or shown there already
            }
            session.ensure_profile(host, &sender).await;
            let id = reaction_id(msg_id, sender.id);
            let kind = match emoji {
                Some(key) => RemoteEventKind::Reaction {
                    id,
                    target: message_id(msg_id),
                    sender: TelegramBridge::remote_user(sender.id),
                    key,
                },
                None => RemoteEventKind::Redaction {
                    target: id,
                    sender: TelegramBridge::remote_user(sender.id),
                },
            };
            send(chat, kind).await;
        }
        TgUpdate::Typing {
            chat,
            sender,
            typing,
        } => {
            send(
                chat,
                RemoteEventKind::Typing {
                    sender: TelegramBridge::remote_user(sender),
                    typing,
                },
            )
            .await
        }
        TgUpdate::ReadOutbox {
            chat,
            reader,
            max_id,
        } => {
            send(
                chat,
                RemoteEventKind::ReadReceipt {
                    sender: TelegramBridge::remote_user(reader),
                    up_to: message_id(max_id),
                },
            )
            .await
        }
        TgUpdate::ChatTitle { chat, title } => {
            send(
                chat,
                RemoteEventKind::ChatInfo(ChatInfo {
                    name: Some(title),
                    ..Default::default()
                }),
            )
            .await
        }
        TgUpdate::ChatPhoto { chat, photo, by_me } => {
            // The picture a Matrix user just gave the group, coming back: the room has it.
            if by_me && session.photo_echo(chat) {
                return;
            }
            let avatar = match photo {
                Some(photo) => session.media(host, &photo, "chat.jpg", "image/jpeg").await,
                None => Some(Media::removal()),
            };
            if let Some(avatar) = avatar {
                send(
                    chat,
                    RemoteEventKind::ChatInfo(ChatInfo {
                        avatar: Some(avatar),
                        ..Default::default()
                    }),
                )
                .await;
            }
        }
        TgUpdate::Member { chat, user, joined } => {
            if user.id == session.me.id {
                return;
            }
            session.ensure_profile(host, &user).await;
            let change = if joined {
                MembershipChange::Join
            } else {
                MembershipChange::Leave { reason: None }
            };
            send(
                chat,
                RemoteEventKind::Membership {
                    user: TelegramBridge::remote_user(user.id),
                    change,
                },
            )
            .await;
        }
        TgUpdate::Call { from, video } => {
            let chat = ChatRef::user(from.id);
            session.ensure_profile(host, &from).await;
            if session.ensure_portal(bridge, chat).await.is_err() {
                return;
            }
            let what = if video { "video call" } else { "call" };
            send(
                chat,
                RemoteEventKind::Notice {
                    body: format!(
                        "{} is calling you on Telegram. Calls are not bridged: answer in a Telegram app.",
                        from.display_name()
                    )
                    .replace("calling you", &format!("starting a {what} with you")),
                },
            )
            .await;
        }
        TgUpdate::LoggedOut => bridge.session_ended(&session.mxid, session.slot).await,
        TgUpdate::StreamInterrupted { reason } => {
            let state = ConnectionState::TransientDisconnect { reason };
            session.report_state(host, state).await
        }
        TgUpdate::StreamResumed => session.report_state(host, ConnectionState::Connected).await,
    }
}

/// A message as the core's event, with its Telegram time: one conversion for live and
/// backfilled messages.
pub(crate) async fn message_event(
    host: &BridgeHost,
    session: &UserSession,
    msg: &TgMessage,
) -> RemoteEventKind {
    RemoteEventKind::Message {
        id: message_id(msg.id),
        sender: TelegramBridge::remote_user(msg.sender.id),
        content: content_of(host, session, msg).await,
        reply_to: msg.reply_to.map(message_id),
        sent_at: sent_at(msg.date),
    }
}

/// A Telegram date (Unix seconds) as a Matrix timestamp; `None` when unknown.
pub fn sent_at(date: i64) -> Option<ruma::MilliSecondsSinceUnixEpoch> {
    let ms = u64::try_from(date)
        .ok()
        .filter(|d| *d > 0)?
        .checked_mul(1000)?;
    ruma::UInt::try_from(ms)
        .ok()
        .map(ruma::MilliSecondsSinceUnixEpoch)
}

/// The remote ID of a Telegram message.
pub fn message_id(id: i32) -> RemoteMessageId {
    RemoteMessageId::new(id.to_string())
}

/// The remote ID of one user's reaction to a message.
pub fn reaction_id(msg: i32, user: i64) -> RemoteMessageId {
    RemoteMessageId::new(format!("r{msg}.{user}"))
}

/// A message's Matrix content: formatted text, or media with its caption.
async fn content_of(host: &BridgeHost, session: &UserSession, msg: &TgMessage) -> MessageContent {
    let ghosts = host.ghosts();
    let ghost = |id: i64| ghosts.mxid(&TelegramBridge::remote_user(id)).ok();
    let (body, html, mentions) = crate::format::tg_to_matrix(&msg.text, &msg.entities, &ghost);
    if let Some(content) = &msg.content {
        return readable(content);
    }
    let Some(media) = &msg.media else {
        return MessageContent {
            kind: MessageKind::Text,
            body,
            html,
            media: None,
            mentions,
            poll: None,
        };
    };
    let (kind, default_name, default_mime) = match media.kind {
        MediaKind::Photo => (MessageKind::Image, "photo.jpg", "image/jpeg"),
        MediaKind::Sticker => (MessageKind::Sticker, "sticker.webp", "image/webp"),
        MediaKind::Video => (MessageKind::Video, "video.mp4", "video/mp4"),
        MediaKind::Voice => (MessageKind::Voice, "voice.ogg", "audio/ogg"),
        MediaKind::Audio => (MessageKind::Audio, "audio.mp3", "audio/mpeg"),
        MediaKind::Document => (MessageKind::File, "file", "application/octet-stream"),
    };
    let filename = media
        .file_name
        .clone()
        .unwrap_or_else(|| default_name.into());
    let mime = media.mime.clone().unwrap_or_else(|| default_mime.into());
    match session
        .download_media(host, &media.handle, &filename, &mime, media.size)
        .await
    {
        Ok(m) => MessageContent {
            kind,
            body: if body.is_empty() { filename } else { body },
            html,
            media: Some(m),
            mentions,
            poll: None,
        },
        Err(TgError::TooLarge(e)) => {
            tracing::info!(user = %session.mxid, file = %filename, error = %e, "Telegram file not bridged");
            ferrybridge_core::media_cap::refused_content(&filename, &body, &e)
        }
        Err(e) => {
            tracing::warn!(user = %session.mxid, error = %e, "cannot download Telegram file");
            MessageContent::notice(format!(
                "{}[a {} that could not be downloaded from Telegram]",
                if body.is_empty() {
                    String::new()
                } else {
                    format!("{body}\n")
                },
                default_name.split('.').next().unwrap_or("file")
            ))
        }
    }
}

/// Content that is neither text nor a file: a place as `m.location`, the rest as text.
fn readable(content: &TgContent) -> MessageContent {
    use ferrybridge_core::readable;
    match content {
        TgContent::Location { geo_uri, .. } => readable::location(geo_uri.as_str()),
        TgContent::Contact { name, phone } => {
            readable::contacts([(name.as_str(), vec![phone.as_str()])])
        }
        TgContent::Poll {
            question,
            options,
            multiple_choice,
        } => crate::polls::content(question, options, *multiple_choice),
        TgContent::Dice { emoji, value } => MessageContent::text(format!("{emoji} rolled {value}")),
        TgContent::Unsupported { kind } => MessageContent::notice(format!(
            "[a Telegram message of a kind the bridge does not know ({kind}): see Telegram]"
        )),
    }
}
