//! WhatsApp → Matrix: relays one device's [`WaEvent`]s to the core as remote events.

use std::sync::Arc;

use ferrybridge_core::BridgeHost;
use ferrybridge_core::events::{
    Media, MembershipChange, MessageContent, MessageKind, RemoteEvent, RemoteEventKind,
    RemoteProfile,
};
use ferrybridge_core::ids::RemoteMessageId;
use ferrybridge_core::ids::UserLogin;
use ferrybridge_core::media_cap::{MediaCap, refused_content};
use ferrybridge_core::seam::ConnectionState;
use tokio::sync::mpsc;

use crate::bridge::{Inner, group_chat_info};
use crate::format;
use crate::jid::{ChatJid, Phone};
use crate::network::{MediaKind, PollKey, WaError, WaEvent, WaMedia, WaMessage, WaMessageBody};
use crate::sessions;

/// Relays events until the connection closes or the session ends.
pub async fn pump(
    inner: Arc<Inner>,
    login: UserLogin,
    account: Phone,
    mut events: mpsc::Receiver<WaEvent>,
) {
    let host = inner.host.clone();
    while let Some(event) = events.recv().await {
        if let WaEvent::LoggedOut { reason } = &event {
            logged_out(&inner, &host, &login, reason).await;
            return;
        }
        handle(&inner, &host, &login, &account, event).await;
    }
}

async fn logged_out(inner: &Arc<Inner>, host: &BridgeHost, login: &UserLogin, reason: &str) {
    tracing::info!(%login, reason, "WhatsApp logged the device out");
    let session = inner.sessions.get(login);
    sessions::forget_login(host, login, session.as_ref().map(|s| &s.account)).await;
    if let Some(s) = &session {
        let _ = s.net.delete_session().await;
    }
    // The core tells the user to log in again; the rooms stay.
    inner.report_state(login, ConnectionState::LoggedOut).await;
    // Last: removing the session aborts this very task.
    inner.sessions.remove(login);
}

async fn handle(
    inner: &Arc<Inner>,
    host: &BridgeHost,
    login: &UserLogin,
    account: &Phone,
    event: WaEvent,
) {
    let send = |chat: &ChatJid, kind| {
        host.send(RemoteEvent {
            portal: Inner::portal_key(chat, login),
            kind,
        })
    };
    match event {
        WaEvent::Message(msg) => {
            // Sent from the user's phone: bridged from their own number's ghost (what the
            // bridge sent itself is known by its ID and skipped below).
            if msg.from_me && !inner.recent.first_sighting(&msg.id, &msg.sender) {
                return;
            }
            if let Some(name) = msg.push_name.as_deref().filter(|n| !n.is_empty()) {
                learn_name(host, login, &msg.sender, name).await;
            }
            if msg.sender != *account {
                crate::avatars::first_sight(inner, login, &msg.sender);
            }
            if msg.chat.is_group() && !ensure_group_portal(inner, login, &msg.chat).await {
                return;
            }
            // A group portal is shared: the message is ours (sent from Matrix), or another
            // linked member's device relayed it already. A DM portal is this login's alone.
            if !msg.from_me
                && !inner.recent.first_sighting(&msg.id, &msg.sender)
                && msg.chat.is_group()
            {
                return;
            }
            let chat = msg.chat.clone();
            if let Some(kind) = message_event(inner, login, &msg).await {
                let expire = expiry_event(&msg, &kind);
                send(&chat, kind).await;
                if let Some(expire) = expire {
                    send(&chat, expire).await;
                }
            }
        }
        WaEvent::Read {
            chat,
            sender,
            message_ids,
        } => {
            if let Some(last) = message_ids.last() {
                send(
                    &chat,
                    RemoteEventKind::ReadReceipt {
                        sender: sender.remote_user(),
                        up_to: RemoteMessageId::new(last.clone()),
                    },
                )
                .await;
            }
        }
        WaEvent::Typing {
            chat,
            sender,
            typing,
        } => {
            if sender != *account && portal_exists(host, &chat, login).await {
                send(
                    &chat,
                    RemoteEventKind::Typing {
                        sender: sender.remote_user(),
                        typing,
                    },
                )
                .await;
            }
        }
        WaEvent::GroupChanged { group } => {
            if portal_exists(host, &group.jid, login).await {
                send(
                    &group.jid,
                    RemoteEventKind::ChatInfo(group_chat_info(&group)),
                )
                .await;
                // New participants join as ghosts (joining twice is a no-op in the core).
                for member in group.participants.iter().filter(|p| *p != account) {
                    send(
                        &group.jid,
                        RemoteEventKind::Membership {
                            user: member.remote_user(),
                            change: MembershipChange::Join,
                        },
                    )
                    .await;
                }
                // Ghosts of people no longer in the group leave the room.
                for gone in departed_ghosts(host, &group, login).await {
                    send(
                        &group.jid,
                        RemoteEventKind::Membership {
                            user: gone,
                            change: MembershipChange::Leave {
                                reason: Some("left the WhatsApp group".into()),
                            },
                        },
                    )
                    .await;
                }
            }
        }
        WaEvent::CallOffer { from } => {
            let chat = ChatJid::Direct(from.clone());
            send(
                &chat,
                RemoteEventKind::Notice {
                    body: format!(
                        "{from} is calling you on WhatsApp. Calls are not bridged: answer on your phone."
                    ),
                },
            )
            .await;
        }
        WaEvent::ContactName { phone, name } => learn_name(host, login, &phone, &name).await,
        WaEvent::PictureChanged { phone } => crate::avatars::changed(inner, login, &phone),
        WaEvent::ChatActive { chat, last_active } => {
            let window = i64::from(inner.config.recent_chat_days) * 86_400;
            if now() - last_active <= window
                && let Err(e) = inner.open_portal(login, &chat).await
            {
                tracing::warn!(%login, %chat, error = %e, "could not create a recent chat's portal");
            }
        }
        WaEvent::History { chat, messages } => {
            crate::history::keep(inner, login, &chat, messages).await
        }
        WaEvent::Connected => {
            tracing::info!(%login, "connected to WhatsApp");
            inner.report_state(login, ConnectionState::Connected).await;
        }
        WaEvent::Disconnected { reason } => {
            tracing::info!(%login, reason, "disconnected from WhatsApp");
            inner
                .report_state(login, ConnectionState::TransientDisconnect { reason })
                .await;
        }
        WaEvent::LoggedOut { .. } => {}
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Ghosts in a group's room whose remote users are no longer among its participants.
async fn departed_ghosts(
    host: &BridgeHost,
    group: &crate::network::GroupInfo,
    login: &UserLogin,
) -> Vec<ferrybridge_core::ids::RemoteUserId> {
    let Ok(Some(portal)) = host
        .portals()
        .get(&Inner::portal_key(&group.jid, login))
        .await
    else {
        return Vec::new();
    };
    let current: std::collections::HashSet<_> =
        group.participants.iter().map(|p| p.remote_user()).collect();
    let members = host
        .matrix()
        .bot_intent()
        .joined_members(portal.room_id())
        .await
        .unwrap_or_default();
    members
        .iter()
        .filter_map(|m| host.ghosts().remote_of(m))
        .filter(|remote| !current.contains(remote))
        .collect()
}

async fn portal_exists(host: &BridgeHost, chat: &ChatJid, login: &UserLogin) -> bool {
    matches!(
        host.portals().get(&Inner::portal_key(chat, login)).await,
        Ok(Some(_))
    )
}

/// A group message may be the first the bridge sees of the group, or the first this login's
/// device delivers of a group portal made for someone else: create the portal if needed and
/// invite the user (shared portals invite nobody on their own). Once per login and group.
async fn ensure_group_portal(inner: &Arc<Inner>, login: &UserLogin, chat: &ChatJid) -> bool {
    let key = (login.clone(), chat.clone());
    let known = inner
        .invited
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&key);
    if known {
        return true;
    }
    match inner.open_portal(login, chat).await {
        Ok(_) => {
            inner
                .invited
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key);
            true
        }
        Err(e) => {
            tracing::warn!(%login, %chat, error = %e, "could not create a group portal");
            false
        }
    }
}

/// Stores a contact's name and puts it on their ghost (the core adds ` (WA)`).
pub(crate) async fn learn_name(host: &BridgeHost, login: &UserLogin, phone: &Phone, name: &str) {
    if sessions::remember_contact(host, login, phone, name).await {
        let profile = RemoteProfile {
            displayname: Some(name.to_owned()),
            avatar: None,
        };
        if let Err(e) = host
            .ghosts()
            .set_profile(&phone.remote_user(), &profile)
            .await
        {
            tracing::warn!(%phone, error = %e, "could not set a ghost's name");
        }
    }
}

/// The core event for a WhatsApp message (downloading its media), with its WhatsApp time:
/// one conversion for live messages and kept history.
pub(crate) async fn message_event(
    inner: &Arc<Inner>,
    login: &UserLogin,
    msg: &WaMessage,
) -> Option<RemoteEventKind> {
    let sender = msg.sender.remote_user();
    let id = RemoteMessageId::new(msg.id.clone());
    let at = sent_at(msg.timestamp);
    Some(match &msg.body {
        WaMessageBody::Text { text, reply_to } => RemoteEventKind::Message {
            id,
            sender,
            content: text_content(text),
            reply_to: reply_to.clone().map(RemoteMessageId::new),
            sent_at: at,
        },
        WaMessageBody::Media {
            media,
            caption,
            reply_to,
        } => RemoteEventKind::Message {
            id,
            sender,
            content: media_content(inner, login, media, caption).await,
            reply_to: reply_to.clone().map(RemoteMessageId::new),
            sent_at: at,
        },
        WaMessageBody::Location {
            latitude,
            longitude,
            name,
        } => RemoteEventKind::Message {
            id,
            sender,
            content: location_content(*latitude, *longitude, name.as_deref()),
            reply_to: None,
            sent_at: at,
        },
        WaMessageBody::Edit { target, text } => RemoteEventKind::Edit {
            target: RemoteMessageId::new(target.clone()),
            sender,
            content: text_content(text),
        },
        WaMessageBody::Revoke { target } => RemoteEventKind::Redaction {
            target: RemoteMessageId::new(target.clone()),
            sender,
        },
        WaMessageBody::Reaction { target, emoji } if emoji.is_empty() => {
            // Removing a reaction: WhatsApp does not say which; nothing to map it to.
            tracing::debug!(%target, "reaction removed on WhatsApp (not bridged)");
            return None;
        }
        WaMessageBody::Reaction { target, emoji } => RemoteEventKind::Reaction {
            id,
            target: RemoteMessageId::new(target.clone()),
            sender,
            key: emoji.clone(),
        },
        WaMessageBody::Contacts { cards } => RemoteEventKind::Message {
            id,
            sender,
            content: crate::content::contacts(cards),
            reply_to: None,
            sent_at: at,
        },
        WaMessageBody::Poll {
            question,
            options,
            max_selections,
            secret,
        } => {
            if let Some(secret) = secret {
                let key = PollKey {
                    creator: msg.sender.clone(),
                    secret: secret.clone(),
                    options: options.clone(),
                    answers: Default::default(),
                };
                crate::polls::remember(&inner.host, &msg.chat, &msg.id, &key).await;
            }
            RemoteEventKind::Message {
                id,
                sender,
                content: crate::content::poll(question, options, *max_selections),
                reply_to: None,
                sent_at: at,
            }
        }
        WaMessageBody::PollVote { poll, payload, iv } => {
            crate::polls::vote_event(inner, login, msg, poll, payload, iv).await
        }
        WaMessageBody::DisappearingTimer { seconds } => RemoteEventKind::Message {
            id,
            sender,
            content: crate::content::timer(*seconds),
            reply_to: None,
            sent_at: at,
        },
        WaMessageBody::Unsupported { description } => RemoteEventKind::Message {
            id,
            sender,
            content: MessageContent::notice(format!(
                "[{description}: not supported by the bridge, see your phone]"
            )),
            reply_to: None,
            sent_at: at,
        },
    })
}

/// For a message sent with a disappearing timer, the event that redacts it on Matrix when it
/// disappears on WhatsApp: the timer counts from the message's WhatsApp time, so one that
/// arrives late (offline delivery, history) goes as early as it does on the phones. Only new
/// messages: edits and reactions go with the message they belong to.
pub(crate) fn expiry_event(msg: &WaMessage, kind: &RemoteEventKind) -> Option<RemoteEventKind> {
    let RemoteEventKind::Message { id, .. } = kind else {
        return None;
    };
    let seconds = msg.expires_in.filter(|s| *s > 0)?;
    // An unknown time (0) counts from now.
    let sent = if msg.timestamp > 0 {
        msg.timestamp
    } else {
        now()
    };
    Some(RemoteEventKind::Expire {
        target: id.clone(),
        at: sent_at(sent.checked_add(i64::from(seconds))?)?,
    })
}

/// A WhatsApp time (Unix seconds) as a Matrix timestamp; `None` when unknown.
pub fn sent_at(timestamp: i64) -> Option<ruma::MilliSecondsSinceUnixEpoch> {
    let ms = u64::try_from(timestamp)
        .ok()
        .filter(|t| *t > 0)?
        .checked_mul(1000)?;
    ruma::UInt::try_from(ms)
        .ok()
        .map(ruma::MilliSecondsSinceUnixEpoch)
}

/// Text with WhatsApp markup as a Matrix message.
pub fn text_content(text: &str) -> MessageContent {
    let content = MessageContent::text(text);
    match format::wa_to_html(text) {
        Some(html) => content.with_html(html),
        None => content,
    }
}

/// A location as a `geo:` link (clients show a map or a link).
pub fn location_content(lat: f64, lon: f64, _name: Option<&str>) -> MessageContent {
    ferrybridge_core::readable::location(format!("geo:{lat},{lon}"))
}

/// The Matrix kind of a WhatsApp attachment.
pub fn matrix_kind(kind: MediaKind) -> MessageKind {
    match kind {
        MediaKind::Image => MessageKind::Image,
        MediaKind::Video => MessageKind::Video,
        MediaKind::Audio => MessageKind::Audio,
        MediaKind::Voice => MessageKind::Voice,
        MediaKind::Document => MessageKind::File,
        MediaKind::Sticker => MessageKind::Sticker,
    }
}

fn default_name(kind: MediaKind, mimetype: &str) -> String {
    let ext = mimetype.split('/').nth(1).unwrap_or("bin");
    let ext = ext.split(';').next().unwrap_or(ext);
    let stem = match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Voice => "voice",
        MediaKind::Document => "document",
        MediaKind::Sticker => "sticker",
    };
    format!("{stem}.{ext}")
}

async fn media_content(
    inner: &Arc<Inner>,
    login: &UserLogin,
    media: &WaMedia,
    caption: &str,
) -> MessageContent {
    let filename = media
        .filename
        .clone()
        .unwrap_or_else(|| default_name(media.kind, &media.mimetype));
    let cap = MediaCap::new(inner.host.limits().media_max_bytes);
    let data = match (cap.check(media.size), inner.sessions.get(login)) {
        (Err(e), _) => Err(WaError::TooLarge(e)),
        (Ok(()), Some(s)) => s.net.download(media, cap).await,
        (Ok(()), None) => Err(WaError::NotLinked),
    };
    match data {
        Ok(data) => MessageContent {
            kind: matrix_kind(media.kind),
            body: if caption.is_empty() {
                filename.clone()
            } else {
                caption.to_owned()
            },
            html: None,
            media: Some(Media {
                mxc: None,
                url: None,
                filename,
                mimetype: Some(media.mimetype.clone()),
                size: Some(data.len() as u64),
                data: Some(data),
            }),
            mentions: vec![],
            poll: None,
        },
        Err(WaError::TooLarge(e)) => {
            tracing::info!(%login, file = %filename, error = %e, "WhatsApp file not bridged");
            refused_content(&filename, caption, &e)
        }
        Err(e) => MessageContent::notice(format!(
            "[{filename} could not be downloaded from WhatsApp: {e}] {caption}"
        )),
    }
}
