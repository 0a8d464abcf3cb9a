//! Matrix → XMPP: messages, edits, redactions, typing, read receipts (chat markers) and membership from portal rooms,
//! as groupchat messages from the sender's MUC puppet or chat messages from their puppet JID.

use std::time::Duration;

use ferrybridge_core::events::{
    Delivered, DeliveryError, MatrixEvent, MatrixEventKind, MembershipChange,
};
use ferrybridge_core::ids::{PortalKey, RemoteMessageId};
use ferrybridge_core::portal::Portal;
use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Message, MessageType};

use crate::archive::Holds;
use crate::bridge::XmppBridge;
use crate::convert;
use crate::moderation;
use crate::muc::{self, JoinStart};
use crate::naming;
use crate::outbox::BackedUp;
use crate::reactions;

/// Store namespace of MUC puppets to restore after a restart.
const KV_MUC: &str = "xmpp_muc_puppets";
/// How long a MUC join may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);

/// A puppet to rejoin after a restart.
#[derive(Serialize, Deserialize)]
struct SavedPuppet {
    room: String,
    user: String,
    nick: String,
}

/// Where a portal's messages go.
enum Target {
    Muc(BareJid),
    Chat(Jid),
}

/// A refused Matrix message: permanent, as retrying would only add to the backlog.
pub(crate) fn refused(e: BackedUp) -> DeliveryError {
    DeliveryError::permanent(e.to_string())
}

fn target(key: &PortalKey) -> Result<Target, DeliveryError> {
    match &key.receiver {
        None => naming::parse_room(key.chat.as_str())
            .map(Target::Muc)
            .map_err(DeliveryError::permanent),
        Some(_) => Jid::new(key.chat.as_str())
            .map(Target::Chat)
            .map_err(|e| DeliveryError::permanent(format!("bad JID {}: {e}", key.chat))),
    }
}

/// Handles one Matrix event of a portal.
pub async fn handle(
    bridge: &XmppBridge,
    portal: &Portal,
    event: MatrixEvent,
) -> Result<Delivered, DeliveryError> {
    if !bridge.outbox.is_connected() {
        return Err(DeliveryError::transient(
            "the bridge is not connected to the XMPP server right now",
        ));
    }
    if portal.key().receiver.is_none()
        && let Ok(jid) = Jid::new(portal.key().chat.as_str())
        && crate::gateway::is_room(bridge.puppets.component(), &jid)
    {
        return crate::gateway::matrix_event(bridge, &jid.to_bare(), portal, event).await;
    }
    let target = target(portal.key())?;
    let sender = event.sender.clone();
    let from = bridge.puppets.full(&sender).ok_or_else(|| {
        DeliveryError::permanent(format!("{sender} cannot be given an XMPP address"))
    })?;
    let (to, type_) = match &target {
        Target::Muc(room) => (Jid::from(room.clone()), MessageType::Groupchat),
        Target::Chat(jid) => (jid.clone(), MessageType::Chat),
    };
    let muc_room = match &target {
        Target::Muc(room) => Some(room),
        Target::Chat(_) => None,
    };
    // The outbox place is taken before anything else happens for the event (joins, reaction
    // memory), so a refused message leaves no trace.
    let mut slot = match &event.kind {
        // Joins and leaves keep the puppets' presence right: never refused.
        MatrixEventKind::Membership { .. } => None,
        // Ephemeral: not worth a notice, and stale by the time a backlog drains.
        MatrixEventKind::Typing { .. } | MatrixEventKind::ReadReceipt { .. } => {
            match bridge.outbox.reserve(1) {
                Ok(r) => Some(r),
                Err(_) => return Ok(Delivered::Ignored),
            }
        }
        _ => Some(bridge.outbox.reserve(1).map_err(refused)?),
    };
    let mut send = |stanza: Stanza| match &mut slot {
        Some(r) => r.send(stanza),
        None => bridge.outbox.send(stanza),
    };
    let id = convert::stanza_id(&event.event_id);
    if let (true, Some(room), Some(at), MatrixEventKind::Message { .. }) =
        (event.maybe_delivered, muc_room, event.sent_at, &event.kind)
    {
        let asks = Jid::from(from.clone());
        let holds = bridge
            .archive
            .holds(&bridge.requests, &bridge.outbox, asks, room, &id, at)
            .await;
        if holds == Holds::Yes {
            tracing::info!(%room, event = %event.event_id, "replayed message is in the room already; not sent again");
            return Ok(Delivered::As(RemoteMessageId::new(id)));
        }
    }
    let new_msg = || convert::message(type_.clone(), Jid::from(from.clone()), to.clone(), &id);
    let msg: Message = match event.kind {
        MatrixEventKind::Membership { change } => {
            if let Some(room) = muc_room {
                match change {
                    MembershipChange::Join if bridge.mucs.is_joined(room, &sender) => {
                        refresh_nick(bridge, portal, room, &sender).await
                    }
                    MembershipChange::Join => join(bridge, portal, room, &sender).await?,
                    _ => leave(bridge, room, &sender).await,
                }
            }
            return Ok(Delivered::Ignored);
        }
        MatrixEventKind::Message { content, reply_to } => {
            let mut m = new_msg();
            convert::add_content(&mut m, &content, reply_to.as_ref());
            m
        }
        MatrixEventKind::Edit { target, content } => {
            let mut m = new_msg();
            convert::add_content(&mut m, &content, None);
            convert::add_correction(&mut m, target.as_str());
            m
        }
        MatrixEventKind::Redaction { target, .. } => {
            let mut m = new_msg();
            match reactions::parse_reaction_id(target.as_str()) {
                // Redacting a reaction: send the remaining set.
                Some((_, message, key)) => {
                    let set = bridge.reactions.toggle(
                        portal.key().chat.as_str(),
                        sender.as_str(),
                        &message,
                        &key,
                        false,
                    );
                    m.payloads.extend(reactions::payload(&message, &set));
                }
                None => convert::make_retraction(&mut m, target.as_str()),
            }
            m
        }
        MatrixEventKind::Reaction { target, key } => {
            let set = bridge.reactions.toggle(
                portal.key().chat.as_str(),
                sender.as_str(),
                target.as_str(),
                &key,
                true,
            );
            let mut m = new_msg();
            m.payloads.extend(reactions::payload(target.as_str(), &set));
            if let Some(room) = muc_room {
                join(bridge, portal, room, &sender).await?;
                bridge.mucs.remember_sent(&id);
            }
            bridge.pending.insert(&id, portal.key());
            send(m.into());
            return Ok(Delivered::As(RemoteMessageId::new(reactions::reaction_id(
                sender.as_str(),
                target.as_str(),
                &key,
            ))));
        }
        MatrixEventKind::Typing { typing } => {
            // Typing never triggers a join: only puppets already in the room show it.
            if let Some(room) = muc_room
                && !bridge.mucs.is_joined(room, &sender)
            {
                return Ok(Delivered::Ignored);
            }
            let mut m = new_msg();
            convert::make_chat_state(&mut m, typing);
            send(m.into());
            return Ok(Delivered::Ignored);
        }
        MatrixEventKind::ReadReceipt { up_to } => {
            // Like typing: only puppets already in a room mark messages read there.
            if let Some(room) = muc_room
                && !bridge.mucs.is_joined(room, &sender)
            {
                return Ok(Delivered::Ignored);
            }
            let mut m = new_msg();
            convert::make_displayed(&mut m, up_to.as_str());
            send(m.into());
            return Ok(Delivered::Ignored);
        }
        // A MUC occupant joins by themselves: nothing to add them with.
        MatrixEventKind::GhostInvite { .. } => return Ok(Delivered::Ignored),
        // XMPP has no polls: the core answers a vote itself (capabilities).
        MatrixEventKind::PollVote { .. } => return Ok(Delivered::Ignored),
        MatrixEventKind::GhostMembership { ghost, change } => {
            let Some(room) = muc_room else {
                return Ok(Delivered::Ignored);
            };
            let iq = moderation::admin_request(&from, room, &ghost, &change, &id)
                .map_err(DeliveryError::permanent)?;
            join(bridge, portal, room, &sender).await?;
            bridge.pending.insert(&id, portal.key());
            send(iq.into());
            return Ok(Delivered::Untracked);
        }
        MatrixEventKind::ChatInfo(info) => {
            let (Some(room), Some(topic)) = (muc_room, info.topic) else {
                return Ok(Delivered::Ignored);
            };
            join(bridge, portal, room, &sender).await?;
            let msg = moderation::subject(&from, room, &topic, &id);
            bridge.pending.insert(&id, portal.key());
            send(msg.into());
            return Ok(Delivered::Untracked);
        }
    };
    if let Some(room) = muc_room {
        join(bridge, portal, room, &sender).await?;
        bridge.mucs.remember_sent(&id);
    }
    bridge.pending.insert(&id, portal.key());
    send(msg.into());
    Ok(Delivered::As(RemoteMessageId::new(id)))
}

/// The nick for `user` in a portal: their display name there, else their localpart.
async fn nick_for(bridge: &XmppBridge, portal: &Portal, user: &UserId) -> String {
    let fallback = user.localpart().to_owned();
    let member = bridge
        .host
        .matrix()
        .bot_intent()
        .get_state(portal.room_id(), "m.room.member", user.as_str())
        .await;
    let name = match member {
        Ok(Some(content)) => content["displayname"].as_str().map(str::to_owned),
        _ => None,
    };
    muc::clean_nick(name.as_deref().unwrap_or(&fallback), &fallback)
}

/// Joins `user`'s puppet to `room` (if not yet) and waits for the room's answer.
async fn join(
    bridge: &XmppBridge,
    portal: &Portal,
    room: &BareJid,
    user: &OwnedUserId,
) -> Result<(), DeliveryError> {
    if bridge.mucs.is_joined(room, user) {
        return Ok(());
    }
    let jid = bridge.puppets.full(user).ok_or_else(|| {
        DeliveryError::permanent(format!("{user} cannot be given an XMPP address"))
    })?;
    let nick = nick_for(bridge, portal, user).await;
    join_as(bridge, room, user, &jid, nick).await
}

/// A Matrix join event for a user already in the room (a display name change): the puppet
/// changes nick in the MUC.
async fn refresh_nick(bridge: &XmppBridge, portal: &Portal, room: &BareJid, user: &OwnedUserId) {
    let nick = nick_for(bridge, portal, user).await;
    if let Some(presence) = bridge.mucs.rename(room, user, &nick) {
        bridge.outbox.send(presence);
        save(bridge, room, user, &nick).await;
    }
}

async fn join_as(
    bridge: &XmppBridge,
    room: &BareJid,
    user: &OwnedUserId,
    jid: &xmpp_parsers::jid::FullJid,
    nick: String,
) -> Result<(), DeliveryError> {
    let waiter = match bridge.mucs.begin_join(room, user, jid, &nick) {
        JoinStart::Joined => return Ok(()),
        JoinStart::Wait(rx, presence) => {
            if let Some(p) = presence {
                bridge.outbox.send(p);
            }
            rx
        }
    };
    let answer = tokio::time::timeout(JOIN_TIMEOUT, waiter).await;
    match answer {
        Ok(Ok(Ok(()))) => {
            save(bridge, room, user, &nick).await;
            Ok(())
        }
        Ok(Ok(Err(reason))) => Err(DeliveryError::permanent(format!(
            "could not join {room} on XMPP: {reason}"
        ))),
        Ok(Err(_)) | Err(_) => {
            bridge.mucs.remove(room, user);
            Err(DeliveryError::transient(format!(
                "{room} did not answer the join in time"
            )))
        }
    }
}

async fn leave(bridge: &XmppBridge, room: &BareJid, user: &OwnedUserId) {
    if let Some((jid, nick)) = bridge.mucs.remove(room, user)
        && let Some(p) = muc::leave_presence(&jid, room, &nick)
    {
        bridge.outbox.send(p);
    }
    let _ = bridge
        .host
        .store()
        .kv_delete(KV_MUC, &kv_key(room, user))
        .await;
}

fn kv_key(room: &BareJid, user: &UserId) -> String {
    format!("{room} {user}")
}

async fn save(bridge: &XmppBridge, room: &BareJid, user: &OwnedUserId, nick: &str) {
    let saved = SavedPuppet {
        room: room.to_string(),
        user: user.to_string(),
        nick: nick.to_owned(),
    };
    if let Err(e) = bridge
        .host
        .store()
        .kv_set(KV_MUC, &kv_key(room, user), &saved)
        .await
    {
        tracing::warn!(error = %e, "could not record MUC puppet");
    }
}

/// A portal went away: every puppet leaves its MUC.
pub async fn leave_all(bridge: &XmppBridge, portal: &Portal) {
    let Ok(room) = naming::parse_room(portal.key().chat.as_str()) else {
        return;
    };
    if portal.key().receiver.is_some() {
        return;
    }
    let saved = bridge
        .host
        .store()
        .kv_list(KV_MUC, &format!("{room} "))
        .await
        .unwrap_or_default();
    for (_, value) in saved {
        if let Ok(p) = serde_json::from_value::<SavedPuppet>(value)
            && let Ok(user) = UserId::parse(&p.user)
        {
            leave(bridge, &room, &user).await;
        }
    }
}

/// After (re)connecting: puppets rejoin the MUCs they were in, without waiting for answers.
pub async fn rejoin_all(bridge: &XmppBridge) {
    bridge.mucs.reset();
    let saved = match bridge.host.store().kv_list(KV_MUC, "").await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "could not list MUC puppets to rejoin");
            return;
        }
    };
    for (_, value) in saved {
        let Ok(p) = serde_json::from_value::<SavedPuppet>(value) else {
            continue;
        };
        let (Ok(room), Ok(user)) = (BareJid::new(&p.room), UserId::parse(&p.user)) else {
            continue;
        };
        let Some(jid) = bridge.puppets.full(&user) else {
            continue;
        };
        if let JoinStart::Wait(_, Some(presence)) =
            bridge.mucs.begin_join(&room, &user, &jid, &p.nick)
        {
            bridge.outbox.send(presence);
        }
    }
}
