//! The gateway: XMPP users in public Matrix rooms. The component's own domain doubles as a MUC
//! service whose rooms are Matrix rooms: `#alias%server@<component>` is `#alias:server`
//! (`:` is not allowed in a JID localpart), `!id@<component>` a room by ID. Puppet JIDs never
//! start with `#` or `!`, so the two namespaces do not meet. An XMPP user joining such a room
//! gets a ghost in the Matrix room (which becomes a plumbed portal), sees Matrix users as
//! occupants named by display name, and talks with them.

use std::collections::HashMap;
use std::sync::Mutex;

use ferrybridge_core::events::{
    Delivered, DeliveryError, MatrixEvent, MatrixEventKind, RemoteEvent,
};
use ferrybridge_core::ids::{PortalKey, PortalKind, RemoteMessageId, RemoteUserId};
use ferrybridge_core::portal::Portal;
use ruma::{OwnedRoomId, OwnedUserId, RoomId};
use serde_json::Value;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use crate::bridge::XmppBridge;
use crate::convert::{self, Inbound};
use crate::xml::{self, build};

/// Occupants of gateway rooms, by room JID.
#[derive(Default)]
pub struct Gateway {
    rooms: Mutex<HashMap<BareJid, GwRoom>>,
}

struct GwRoom {
    matrix: OwnedRoomId,
    /// XMPP occupants: full JID → nick.
    xmpp: HashMap<FullJid, String>,
    /// Matrix users announced as occupants: user → nick.
    matrix_nicks: HashMap<OwnedUserId, String>,
}

/// Whether `jid` names a gateway room of `component`.
pub fn is_room(component: &BareJid, jid: &Jid) -> bool {
    jid.domain() == component.domain()
        && jid
            .node()
            .is_some_and(|n| n.as_str().starts_with('#') || n.as_str().starts_with('!'))
}

/// The Matrix alias or room ID a gateway room stands for.
pub fn matrix_target(room: &BareJid) -> Option<String> {
    Some(room.node()?.as_str().replace('%', ":"))
}

/// The gateway room JID of a Matrix alias or room ID.
pub fn room_jid(component: &BareJid, target: &str) -> Option<BareJid> {
    BareJid::new(&format!("{}@{component}", target.replace(':', "%"))).ok()
}

impl Gateway {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BareJid, GwRoom>> {
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The XMPP occupants of a room (full JID, nick).
    fn occupants(&self, room: &BareJid) -> Vec<(FullJid, String)> {
        self.lock()
            .get(room)
            .map(|r| r.xmpp.iter().map(|(j, n)| (j.clone(), n.clone())).collect())
            .unwrap_or_default()
    }

    fn nick_of(&self, room: &BareJid, who: &FullJid) -> Option<String> {
        self.lock().get(room)?.xmpp.get(who).cloned()
    }
}

fn occupant_presence(room: &BareJid, nick: &str, to: &FullJid, own: bool) -> Option<Presence> {
    let from = FullJid::new(&format!("{room}/{nick}")).ok()?;
    let mut x = build("x", xml::NS_MUC_USER, &[]);
    x.append_child(build(
        "item",
        xml::NS_MUC_USER,
        &[("affiliation", "none"), ("role", "participant")],
    ));
    if own {
        x.append_child(build("status", xml::NS_MUC_USER, &[("code", "110")]));
    }
    let mut p = Presence::available()
        .with_from(Jid::from(from))
        .with_to(Jid::from(to.clone()));
    p.payloads.push(x);
    Some(p)
}

fn presence_error(p: &Presence, condition: &str, text: &str) -> Presence {
    let mut err = Presence::error();
    err.from = p.to.clone();
    err.to = p.from.clone();
    let mut e = build("error", "jabber:component:accept", &[("type", "cancel")]);
    e.append_child(build(condition, xml::NS_STANZAS, &[]));
    e.append_child(xml::text_el("text", xml::NS_STANZAS, text));
    err.payloads.push(e);
    err
}

/// A presence to a gateway room: join or leave.
pub async fn presence(bridge: &XmppBridge, p: Presence) {
    let (Some(from), Some(to)) = (p.from.clone(), p.to.clone()) else {
        return;
    };
    let (Ok(user), Ok(target)) = (from.clone().try_into_full(), to.clone().try_into_full()) else {
        return;
    };
    let room = to.to_bare();
    let nick = target.resource().to_string();
    match p.type_ {
        PresenceType::None => {
            if let Err(e) = join(bridge, &room, &user, &nick).await {
                tracing::info!(%room, %user, error = %e, "gateway join refused");
                bridge.outbox.send(presence_error(&p, "forbidden", &e));
            }
        }
        PresenceType::Unavailable => leave(bridge, &room, &user).await,
        _ => {}
    }
}

async fn resolve(bridge: &XmppBridge, room: &BareJid) -> Result<OwnedRoomId, String> {
    let host = &bridge.host;
    let target = matrix_target(room).ok_or("not a Matrix room")?;
    if target.starts_with('!') {
        return RoomId::parse(&target).map_err(|e| format!("{target}: {e}"));
    }
    let answer = host
        .matrix()
        .bot_intent()
        .request_json(
            http::Method::GET,
            &["_matrix", "client", "v3", "directory", "room", &target],
            None,
        )
        .await
        .map_err(|e| format!("no Matrix room {target}: {e}"))?;
    answer["room_id"]
        .as_str()
        .and_then(|r| RoomId::parse(r).ok())
        .ok_or_else(|| format!("no Matrix room {target}"))
}

async fn join(
    bridge: &XmppBridge,
    room: &BareJid,
    user: &FullJid,
    nick: &str,
) -> Result<(), String> {
    let host = &bridge.host;
    if bridge.gateway.nick_of(room, user).is_some() {
        // Already in: a presence update, answered with the self-presence.
        if let Some(p) = occupant_presence(room, nick, user, true) {
            bridge.outbox.send(p);
        }
        return Ok(());
    }
    let matrix_room = resolve(bridge, room).await?;
    let key = PortalKey::shared(room.as_str());
    match host.portals().by_room(&matrix_room).await {
        Ok(Some(existing)) if existing.key() != &key => {
            return Err(format!(
                "that room is already bridged to {}",
                existing.key()
            ));
        }
        Ok(Some(_)) => {}
        Ok(None) => {
            host.portals()
                .link_room(&key, &matrix_room, PortalKind::Channel, true)
                .await
                .map_err(|e| e.to_string())?;
        }
        Err(e) => return Err(e.to_string()),
    }
    let ghost = RemoteUserId::new(user.to_bare().as_str());
    let intent = host
        .ghosts()
        .ensure_joined(&ghost, &matrix_room)
        .await
        .map_err(|e| format!("cannot join the Matrix room (is it public?): {e}"))?;
    let _ = host
        .ghosts()
        .set_profile(
            &ghost,
            &ferrybridge_core::events::RemoteProfile {
                displayname: Some(nick.to_owned()),
                avatar: None,
            },
        )
        .await;
    // Matrix members, by display name.
    let members = intent
        .request_json(
            http::Method::GET,
            &[
                "_matrix",
                "client",
                "v3",
                "rooms",
                matrix_room.as_str(),
                "joined_members",
            ],
            None,
        )
        .await
        .unwrap_or(Value::Null);
    let mut matrix_nicks = HashMap::new();
    if let Some(joined) = members["joined"].as_object() {
        for (id, info) in joined {
            let Ok(uid) = ruma::UserId::parse(id.as_str()) else {
                continue;
            };
            if host.ghosts().is_ghost(&uid) || uid.as_str() == host.matrix().bot().as_str() {
                continue;
            }
            let name = info["display_name"].as_str().unwrap_or(uid.localpart());
            matrix_nicks.insert(uid.clone(), crate::muc::clean_nick(name, uid.localpart()));
        }
    }
    let others = {
        let mut rooms = bridge.gateway.lock();
        let r = rooms.entry(room.clone()).or_insert_with(|| GwRoom {
            matrix: matrix_room.clone(),
            xmpp: HashMap::new(),
            matrix_nicks: HashMap::new(),
        });
        if r.xmpp.values().any(|n| n == nick) || matrix_nicks.values().any(|n| n == nick) {
            return Err(format!("the nick {nick} is taken"));
        }
        r.matrix_nicks = matrix_nicks.clone();
        let others: Vec<_> = r.xmpp.iter().map(|(j, n)| (j.clone(), n.clone())).collect();
        r.xmpp.insert(user.clone(), nick.to_owned());
        others
    };
    for name in matrix_nicks.values() {
        if let Some(p) = occupant_presence(room, name, user, false) {
            bridge.outbox.send(p);
        }
    }
    for (jid, other) in &others {
        if let Some(p) = occupant_presence(room, other, user, false) {
            bridge.outbox.send(p);
        }
        if let Some(p) = occupant_presence(room, nick, jid, false) {
            bridge.outbox.send(p);
        }
    }
    if let Some(p) = occupant_presence(room, nick, user, true) {
        bridge.outbox.send(p);
    }
    // The subject ends the join (XEP-0045 §7.2.15).
    let topic = intent
        .get_state(&matrix_room, "m.room.topic", "")
        .await
        .ok()
        .flatten()
        .and_then(|t| t["topic"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut subject = Message::new_with_type(MessageType::Groupchat, Some(Jid::from(user.clone())));
    subject.from = Some(Jid::from(room.clone()));
    subject.subjects.insert(Lang::default(), topic);
    bridge.outbox.send(subject);
    Ok(())
}

async fn leave(bridge: &XmppBridge, room: &BareJid, user: &FullJid) {
    let (nick, matrix_room, others) = {
        let mut rooms = bridge.gateway.lock();
        let Some(r) = rooms.get_mut(room) else { return };
        let Some(nick) = r.xmpp.remove(user) else {
            return;
        };
        let others: Vec<_> = r.xmpp.keys().cloned().collect();
        (nick, r.matrix.clone(), others)
    };
    for to in others.iter().chain(std::iter::once(user)) {
        if let Ok(from) = FullJid::new(&format!("{room}/{nick}")) {
            let mut p = Presence::unavailable()
                .with_from(Jid::from(from))
                .with_to(Jid::from(to.clone()));
            let mut x = build("x", xml::NS_MUC_USER, &[]);
            x.append_child(build(
                "item",
                xml::NS_MUC_USER,
                &[("affiliation", "none"), ("role", "none")],
            ));
            if to == user {
                x.append_child(build("status", xml::NS_MUC_USER, &[("code", "110")]));
            }
            p.payloads.push(x);
            bridge.outbox.send(p);
        }
    }
    let host = &bridge.host;
    let ghost = RemoteUserId::new(user.to_bare().as_str());
    if let Ok(mxid) = host.ghosts().mxid(&ghost) {
        let _ = host.matrix().as_user(&mxid).leave(&matrix_room, None).await;
        host.ghosts().forget_membership(&mxid, &matrix_room);
    }
}

/// A groupchat message to a gateway room: to Matrix as the sender's ghost, and reflected to
/// the room's XMPP occupants.
pub async fn message(bridge: &XmppBridge, msg: Message) {
    let (Some(from), Some(to)) = (msg.from.clone(), msg.to.clone()) else {
        return;
    };
    let room = to.to_bare();
    let Ok(user) = from.clone().try_into_full() else {
        return;
    };
    let Some(nick) = bridge.gateway.nick_of(&room, &user) else {
        let mut err = Message::error(Some(from));
        err.from = Some(to);
        err.id = msg.id.clone();
        let mut e = build("error", "jabber:component:accept", &[("type", "modify")]);
        e.append_child(build("not-acceptable", xml::NS_STANZAS, &[]));
        err.payloads.push(e);
        bridge.outbox.send(err);
        return;
    };
    let inbound = Inbound::parse(&msg);
    let sender = RemoteUserId::new(user.to_bare().as_str());
    let portal = PortalKey::shared(room.as_str());
    for kind in crate::inbound::events(sender, &inbound) {
        let event = RemoteEvent {
            portal: portal.clone(),
            kind,
        };
        bridge.attachments.send(&bridge.host, event).await;
    }
    let Ok(reflected_from) = FullJid::new(&format!("{room}/{nick}")) else {
        return;
    };
    for (jid, _) in bridge.gateway.occupants(&room) {
        let mut copy = msg.clone();
        copy.from = Some(Jid::from(reflected_from.clone()));
        copy.to = Some(Jid::from(jid));
        bridge.outbox.send(copy);
    }
}

/// A Matrix event in a gateway room: groupchat messages from the sender's occupant nick.
pub async fn matrix_event(
    bridge: &XmppBridge,
    room: &BareJid,
    portal: &Portal,
    event: MatrixEvent,
) -> Result<Delivered, DeliveryError> {
    let nick = matrix_nick(bridge, room, portal, &event.sender).await;
    let Ok(from) = FullJid::new(&format!("{room}/{nick}")) else {
        return Err(DeliveryError::permanent("no usable nick for the sender"));
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let occupants = bridge.gateway.occupants(room);
    let mut slot = match &event.kind {
        MatrixEventKind::Message { .. }
        | MatrixEventKind::Edit { .. }
        | MatrixEventKind::Redaction { .. } => bridge
            .outbox
            .reserve(occupants.len())
            .map_err(crate::outbound::refused)?,
        _ => return Ok(Delivered::Ignored),
    };
    for (to, _) in &occupants {
        let mut m = convert::message(
            MessageType::Groupchat,
            Jid::from(from.clone()),
            Jid::from(to.clone()),
            &id,
        );
        match &event.kind {
            MatrixEventKind::Message { content, reply_to } => {
                convert::add_content(&mut m, content, reply_to.as_ref())
            }
            MatrixEventKind::Edit { target, content } => {
                convert::add_content(&mut m, content, None);
                convert::add_correction(&mut m, target.as_str());
            }
            MatrixEventKind::Redaction { target, .. } => {
                convert::make_retraction(&mut m, target.as_str())
            }
            _ => return Ok(Delivered::Ignored),
        }
        slot.send(m);
    }
    Ok(Delivered::As(RemoteMessageId::new(id)))
}

/// The nick of a Matrix user in a gateway room, announcing them to the occupants first if new.
async fn matrix_nick(
    bridge: &XmppBridge,
    room: &BareJid,
    portal: &Portal,
    user: &OwnedUserId,
) -> String {
    if let Some(n) = bridge
        .gateway
        .lock()
        .get(room)
        .and_then(|r| r.matrix_nicks.get(user).cloned())
    {
        return n;
    }
    let mut name = user.localpart().to_owned();
    if let Ok(Some(member)) = bridge
        .host
        .matrix()
        .bot_intent()
        .get_state(portal.room_id(), "m.room.member", user.as_str())
        .await
        && let Some(d) = member["displayname"].as_str()
    {
        name = crate::muc::clean_nick(d, user.localpart());
    }
    let occupants = {
        let mut rooms = bridge.gateway.lock();
        if let Some(r) = rooms.get_mut(room) {
            r.matrix_nicks.insert(user.clone(), name.clone());
        }
        rooms
            .get(room)
            .map(|r| r.xmpp.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    for to in occupants {
        if let Some(p) = occupant_presence(room, &name, &to, false) {
            bridge.outbox.send(p);
        }
    }
    name
}

/// `disco#items` on the component: the public Matrix rooms, as gateway rooms.
pub async fn room_list(bridge: &XmppBridge) -> Vec<(BareJid, String)> {
    let answer = bridge
        .host
        .matrix()
        .bot_intent()
        .request_json(
            http::Method::GET,
            &["_matrix", "client", "v3", "publicRooms"],
            None,
        )
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not list the public Matrix rooms");
            Value::Null
        });
    let component = bridge.puppets.component();
    answer["chunk"]
        .as_array()
        .map(|rooms| {
            rooms
                .iter()
                .filter_map(|r| {
                    let target = r["canonical_alias"].as_str().or(r["room_id"].as_str())?;
                    let name = r["name"].as_str().unwrap_or(target).to_owned();
                    Some((room_jid(component, target)?, name))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_jids_round_trip() {
        let component = BareJid::new("matrix.localhost").unwrap();
        let jid = room_jid(&component, "#lobby:localhost").unwrap();
        assert_eq!(jid.as_str(), "#lobby%localhost@matrix.localhost");
        assert!(is_room(&component, &Jid::from(jid.clone())));
        assert_eq!(matrix_target(&jid).as_deref(), Some("#lobby:localhost"));
        let puppet = Jid::new("alice_localhost@matrix.localhost").unwrap();
        assert!(!is_room(&component, &puppet));
        assert!(!is_room(
            &component,
            &Jid::new("#x@conference.localhost").unwrap()
        ));
    }
}
