//! grammers' messages, peers and updates → our [`crate::network`] types.

use grammers_client::message::Message;
use grammers_client::peer::{Peer, User};
use grammers_client::update::Update;
use grammers_session::types::{PeerId, PeerKind};
use grammers_tl_types as tl;

use super::entities::from_tl;
use crate::network::{ChatRef, MediaKind, MediaRef, TgMedia, TgMessage, TgUpdate, TgUser};

/// A peer ID as our chat reference.
pub fn chat_ref(id: PeerId) -> ChatRef {
    let bare = id.bare_id_unchecked();
    match id.kind() {
        PeerKind::User => ChatRef::user(bare),
        PeerKind::Chat => ChatRef::group(bare),
        PeerKind::Channel => ChatRef::channel(bare),
    }
}

/// Our chat reference as a grammers peer ID.
pub fn peer_id(chat: ChatRef) -> PeerId {
    match chat.kind {
        crate::network::ChatKind::User => PeerId::user_unchecked(chat.id),
        crate::network::ChatKind::Group => PeerId::chat_unchecked(chat.id),
        crate::network::ChatKind::Channel => PeerId::channel_unchecked(chat.id),
    }
}

pub fn user(u: &User) -> TgUser {
    TgUser {
        id: u.id().bare_id_unchecked(),
        first_name: u.first_name().unwrap_or_default().to_owned(),
        last_name: u.last_name().map(str::to_owned),
        username: u.username().map(str::to_owned),
        phone: u.phone().map(str::to_owned),
        photo: u
            .photo()
            .map(|_| profile_photo(ChatRef::user(u.id().bare_id_unchecked()))),
    }
}

/// The handle of a peer's current profile or chat photo (resolved when downloaded).
pub fn profile_photo(chat: ChatRef) -> MediaRef {
    MediaRef(format!("{PHOTO_PREFIX}{chat}"))
}

/// Handles of peer photos start with this; message media handles never do.
pub const PHOTO_PREFIX: &str = "photo:";

/// A peer seen as a "user" (channel posts have the channel as sender).
pub fn peer_as_user(p: &Peer) -> TgUser {
    match p {
        Peer::User(u) => user(u),
        other => TgUser {
            id: other.id().bare_id_unchecked(),
            first_name: other.name().unwrap_or_default().to_owned(),
            ..Default::default()
        },
    }
}

/// The media of a message, with a handle the adapter can resolve later.
pub fn media(msg: &Message) -> Option<(TgMedia, grammers_client::media::Media)> {
    use grammers_client::media::Media as M;
    let m = msg.media()?;
    let handle = MediaRef(format!("{}:{}", chat_ref(msg.peer_id()), msg.id()));
    let media = match &m {
        M::Photo(_) => TgMedia {
            kind: MediaKind::Photo,
            handle,
            file_name: None,
            mime: Some("image/jpeg".into()),
            size: None,
        },
        M::Sticker(s) => TgMedia {
            kind: MediaKind::Sticker,
            handle,
            file_name: Some("sticker.webp".into()),
            mime: s.document.mime_type().map(str::to_owned),
            size: None,
        },
        M::Document(d) => {
            let mime = d.mime_type().map(str::to_owned);
            let kind = match mime.as_deref() {
                Some("audio/ogg") => MediaKind::Voice,
                Some(m) if m.starts_with("audio/") => MediaKind::Audio,
                Some(m) if m.starts_with("video/") => MediaKind::Video,
                Some(m) if m.starts_with("image/") => MediaKind::Photo,
                _ => MediaKind::Document,
            };
            TgMedia {
                kind,
                handle,
                file_name: d.name().filter(|n| !n.is_empty()).map(str::to_owned),
                mime,
                size: d.size().map(|s| s as u64),
            }
        }
        _ => return None,
    };
    Some((media, m))
}

pub fn message(msg: &Message) -> TgMessage {
    let chat = chat_ref(msg.peer_id());
    let sender = match msg.sender() {
        Some(p) => peer_as_user(p),
        None => TgUser {
            id: msg
                .sender_id()
                .map(|s| s.bare_id_unchecked())
                .unwrap_or(chat.id),
            ..Default::default()
        },
    };
    TgMessage {
        id: msg.id(),
        chat,
        sender,
        outgoing: msg.outgoing(),
        text: msg.text().to_owned(),
        entities: msg.fmt_entities().map(|e| from_tl(e)).unwrap_or_default(),
        reply_to: msg.reply_to_message_id(),
        media: media(msg).map(|(m, _)| m),
        content: msg
            .media()
            .as_ref()
            .and_then(super::content::content)
            .or_else(|| match &msg.raw {
                tl::enums::Message::Message(m) => {
                    m.media.as_ref().and_then(super::content::unknown)
                }
                _ => None,
            }),
        date: date_of(&msg.raw),
    }
}

/// When a raw message was sent, in Unix seconds (0 for an empty one, which has no date).
pub fn date_of(raw: &tl::enums::Message) -> i64 {
    match raw {
        tl::enums::Message::Message(m) => i64::from(m.date),
        tl::enums::Message::Service(m) => i64::from(m.date),
        tl::enums::Message::Empty(_) => 0,
    }
}

/// What a history read does with the next message, going from the newest back.
#[derive(Debug, PartialEq, Eq)]
pub enum HistoryStep {
    /// A message to backfill.
    Take,
    /// A service message or an empty one: not history the core posts.
    Skip,
    /// At or before the message the portal already holds: the read is done.
    Stop,
}

/// The step for `raw`, reading back towards message `after` (exclusive).
pub fn history_step(raw: &tl::enums::Message, after: Option<i32>) -> HistoryStep {
    let id = match raw {
        tl::enums::Message::Message(m) => m.id,
        tl::enums::Message::Service(m) => m.id,
        tl::enums::Message::Empty(m) => m.id,
    };
    if after.is_some_and(|after| id <= after) {
        return HistoryStep::Stop;
    }
    match raw {
        tl::enums::Message::Message(_) => HistoryStep::Take,
        _ => HistoryStep::Skip,
    }
}

/// Service messages (title changes, joins, leaves) as updates of their own.
fn action(msg: &Message) -> Option<Vec<TgUpdate>> {
    use tl::enums::MessageAction as A;
    let chat = chat_ref(msg.peer_id());
    let user_of = |id: i64| TgUser {
        id,
        ..Default::default()
    };
    Some(match msg.action()? {
        A::ChatEditTitle(t) => vec![TgUpdate::ChatTitle {
            chat,
            title: t.title.clone(),
        }],
        A::ChatAddUser(a) => a
            .users
            .iter()
            .map(|u| TgUpdate::Member {
                chat,
                user: user_of(*u),
                joined: true,
            })
            .collect(),
        A::ChatJoinedByLink(_) | A::ChatJoinedByRequest => vec![TgUpdate::Member {
            chat,
            user: msg.sender().map(peer_as_user).unwrap_or_default(),
            joined: true,
        }],
        A::ChatDeleteUser(d) => vec![TgUpdate::Member {
            chat,
            user: user_of(d.user_id),
            joined: false,
        }],
        A::ChatEditPhoto(_) => vec![TgUpdate::ChatPhoto {
            chat,
            photo: Some(profile_photo(chat)),
            by_me: msg.outgoing(),
        }],
        A::ChatDeletePhoto => vec![TgUpdate::ChatPhoto {
            chat,
            photo: None,
            by_me: msg.outgoing(),
        }],
        _ => vec![],
    })
}

/// One grammers update → ours (none for kinds the bridge ignores).
pub fn update(u: &Update, me: i64) -> Vec<TgUpdate> {
    match u {
        Update::NewMessage(m) => match action(m) {
            Some(actions) => actions,
            None => vec![TgUpdate::NewMessage(message(m))],
        },
        Update::MessageEdited(m) => vec![TgUpdate::Edited(message(m))],
        Update::MessageDeleted(d) => vec![TgUpdate::Deleted {
            chat: d.channel_id().map(ChatRef::channel),
            ids: d.messages().to_vec(),
        }],
        Update::Raw(raw) => self::raw(&raw.raw, me),
        _ => vec![],
    }
}

fn typing(action: &tl::enums::SendMessageAction) -> bool {
    !matches!(
        action,
        tl::enums::SendMessageAction::SendMessageCancelAction
    )
}

fn peer_of(p: &tl::enums::Peer) -> ChatRef {
    match p {
        tl::enums::Peer::User(u) => ChatRef::user(u.user_id),
        tl::enums::Peer::Chat(c) => ChatRef::group(c.chat_id),
        tl::enums::Peer::Channel(c) => ChatRef::channel(c.channel_id),
    }
}

/// Raw updates grammers does not wrap: typing, read receipts, reactions, calls.
pub fn raw(u: &tl::enums::Update, me: i64) -> Vec<TgUpdate> {
    use tl::enums::Update as U;
    match u {
        U::UserTyping(t) => vec![TgUpdate::Typing {
            chat: ChatRef::user(t.user_id),
            sender: t.user_id,
            typing: typing(&t.action),
        }],
        U::ChatUserTyping(t) => vec![TgUpdate::Typing {
            chat: ChatRef::group(t.chat_id),
            sender: peer_of(&t.from_id).id,
            typing: typing(&t.action),
        }],
        U::ChannelUserTyping(t) => vec![TgUpdate::Typing {
            chat: ChatRef::channel(t.channel_id),
            sender: peer_of(&t.from_id).id,
            typing: typing(&t.action),
        }],
        U::ReadHistoryOutbox(r) => {
            let chat = peer_of(&r.peer);
            vec![TgUpdate::ReadOutbox {
                chat,
                reader: chat.id,
                max_id: r.max_id,
            }]
        }
        U::MessageReactions(r) => {
            let chat = peer_of(&r.peer);
            let tl::enums::MessageReactions::Reactions(reactions) = &r.reactions;
            reactions
                .recent_reactions
                .iter()
                .flatten()
                .filter_map(|pr| {
                    let tl::enums::MessagePeerReaction::Reaction(pr) = pr;
                    let sender = peer_of(&pr.peer_id).id;
                    let tl::enums::Reaction::Emoji(e) = &pr.reaction else {
                        return None;
                    };
                    (sender != me).then(|| TgUpdate::Reaction {
                        chat,
                        msg_id: r.msg_id,
                        sender: TgUser {
                            id: sender,
                            ..Default::default()
                        },
                        emoji: Some(e.emoticon.clone()),
                    })
                })
                .collect()
        }
        U::PhoneCall(c) => match &c.phone_call {
            tl::enums::PhoneCall::Requested(r) if r.admin_id != me => vec![TgUpdate::Call {
                from: TgUser {
                    id: r.admin_id,
                    ..Default::default()
                },
                video: r.video,
            }],
            _ => vec![],
        },
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_handles_name_the_peer() {
        let h = profile_photo(ChatRef::group(5));
        assert_eq!(h.0, "photo:g5");
        assert_eq!(
            h.0.strip_prefix(PHOTO_PREFIX).map(str::parse::<ChatRef>),
            Some(Ok(ChatRef::group(5)))
        );
    }

    #[test]
    fn peer_ids_round_trip() {
        for c in [ChatRef::user(5), ChatRef::group(7), ChatRef::channel(9)] {
            assert_eq!(chat_ref(peer_id(c)), c);
        }
    }

    /// A raw text message as Telegram sends it.
    fn raw_message(id: i32, date: i32, text: &str) -> tl::enums::Message {
        tl::types::Message {
            out: false,
            mentioned: false,
            media_unread: false,
            silent: false,
            post: false,
            from_scheduled: false,
            legacy: false,
            edit_hide: false,
            pinned: false,
            noforwards: false,
            invert_media: false,
            offline: false,
            video_processing_pending: false,
            paid_suggested_post_stars: false,
            paid_suggested_post_ton: false,
            id,
            from_id: Some(tl::types::PeerUser { user_id: 7 }.into()),
            from_boosts_applied: None,
            from_rank: None,
            peer_id: tl::types::PeerChat { chat_id: 5 }.into(),
            saved_peer_id: None,
            fwd_from: None,
            via_bot_id: None,
            via_business_bot_id: None,
            guestchat_via_from: None,
            reply_to: None,
            date,
            message: text.into(),
            media: None,
            reply_markup: None,
            entities: None,
            views: None,
            forwards: None,
            replies: None,
            edit_date: None,
            post_author: None,
            grouped_id: None,
            reactions: None,
            restriction_reason: None,
            ttl_period: None,
            quick_reply_shortcut_id: None,
            effect: None,
            factcheck: None,
            report_delivery_until_date: None,
            paid_message_stars: None,
            suggested_post: None,
            schedule_repeat_period: None,
            summary_from_language: None,
            rich_message: None,
        }
        .into()
    }

    #[test]
    fn history_reads_back_to_the_anchor_and_keeps_dates() {
        let text = raw_message(42, 1_700_000_000, "hello");
        assert_eq!(date_of(&text), 1_700_000_000);
        assert_eq!(history_step(&text, None), HistoryStep::Take);
        assert_eq!(history_step(&text, Some(41)), HistoryStep::Take);
        assert_eq!(history_step(&text, Some(42)), HistoryStep::Stop);
        assert_eq!(history_step(&text, Some(50)), HistoryStep::Stop);
        let service: tl::enums::Message = tl::types::MessageService {
            out: false,
            mentioned: false,
            media_unread: false,
            reactions_are_possible: false,
            silent: false,
            post: false,
            legacy: false,
            id: 43,
            from_id: None,
            peer_id: tl::types::PeerChat { chat_id: 5 }.into(),
            saved_peer_id: None,
            reply_to: None,
            date: 1_700_000_100,
            action: tl::types::MessageActionChatEditTitle {
                title: "New".into(),
            }
            .into(),
            reactions: None,
            ttl_period: None,
        }
        .into();
        assert_eq!(date_of(&service), 1_700_000_100);
        assert_eq!(history_step(&service, Some(42)), HistoryStep::Skip);
        let empty: tl::enums::Message = tl::types::MessageEmpty {
            id: 44,
            peer_id: None,
        }
        .into();
        assert_eq!(date_of(&empty), 0);
        assert_eq!(history_step(&empty, None), HistoryStep::Skip);
    }

    #[test]
    fn raw_typing_read_and_call_updates() {
        let typing_on: tl::enums::Update = tl::types::UpdateUserTyping {
            user_id: 5,
            top_msg_id: None,
            action: tl::types::SendMessageTypingAction {}.into(),
        }
        .into();
        assert_eq!(
            raw(&typing_on, 1),
            vec![TgUpdate::Typing {
                chat: ChatRef::user(5),
                sender: 5,
                typing: true
            }]
        );
        let read: tl::enums::Update = tl::types::UpdateReadHistoryOutbox {
            peer: tl::types::PeerUser { user_id: 5 }.into(),
            max_id: 77,
            pts: 1,
            pts_count: 1,
        }
        .into();
        assert_eq!(
            raw(&read, 1),
            vec![TgUpdate::ReadOutbox {
                chat: ChatRef::user(5),
                reader: 5,
                max_id: 77
            }]
        );
    }
}
