//! Presences from MUCs: our puppets' own (join confirmed, nick conflict, kicked), other
//! occupants' (ghosts join and leave the portal, kicks and bans), and gateway rooms'.

use ferrybridge_core::events::{MembershipChange, RemoteEventKind, RemoteProfile};
use ferrybridge_core::ids::{PortalKey, RemoteUserId};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use crate::avatars;
use crate::bridge::XmppBridge;
use crate::convert;
use crate::gateway;
use crate::inbound::send;
use crate::vcard;
use crate::xml::{self, attr, child};

/// Handles one presence stanza.
pub async fn handle(bridge: &XmppBridge, p: Presence) {
    let (Some(from), Some(to)) = (p.from.clone(), p.to.clone()) else {
        return;
    };
    if gateway::is_room(bridge.puppets.component(), &to) {
        gateway::presence(bridge, p).await;
        return;
    }
    let room = from.to_bare();
    let Some(nick) = from.resource().map(|r| r.as_str().to_owned()) else {
        return;
    };
    let Some(muc_user) = p
        .payloads
        .iter()
        .find(|e| e.is("x", xml::NS_MUC_USER))
        .cloned()
    else {
        if p.type_ == PresenceType::Error {
            join_failed(bridge, &room, &to, &p).await;
        } else if p.type_ == PresenceType::None
            && let Some(user) = bridge.puppets.user_of(&to)
            && let Some(hash) = vcard::advertised_hash(&p.payloads)
        {
            // A directed presence to a puppet: its XEP-0153 hash may announce a new photo.
            let ghost = RemoteUserId::new(room.as_str());
            let portal = PortalKey::private(room.as_str(), user);
            avatars::seen(bridge, &ghost, &portal, &to, Some(hash));
        }
        return;
    };
    let statuses: Vec<String> = muc_user
        .children()
        .filter(|c| c.name() == "status")
        .filter_map(|c| attr(c, "code").map(str::to_owned))
        .collect();
    let item = child(&muc_user, "item", xml::NS_MUC_USER);
    let real = item
        .and_then(|i| attr(i, "jid"))
        .and_then(|j| Jid::new(j).ok())
        .map(|j| j.to_bare());
    let portal = PortalKey::shared(room.as_str());

    if p.type_ == PresenceType::Unavailable
        && statuses.iter().any(|s| s == "303")
        && item
            .and_then(|i| attr(i, "nick"))
            .is_some_and(|new| bridge.mucs.is_puppet_nick(&room, new))
    {
        // A puppet's old nick going away after a nick change.
        return;
    }
    if let Some((user, our_nick)) = bridge.mucs.puppet_by_jid(&room, &to)
        && our_nick == nick
    {
        if p.type_ == PresenceType::Unavailable {
            // Our puppet was removed (kick 307, ban 301, shutdown 332...).
            bridge.mucs.remove(&room, &user);
            let why = if statuses.iter().any(|s| s == "301") {
                "was banned from"
            } else if statuses.iter().any(|s| s == "307") {
                "was kicked from"
            } else {
                "left"
            };
            send(
                bridge,
                portal,
                RemoteEventKind::Notice {
                    body: format!("{user} {why} the XMPP room as {nick}."),
                },
            )
            .await;
        } else {
            bridge.mucs.self_presence(&room, &to, &nick);
        }
        return;
    }
    if p.type_ == PresenceType::Error {
        join_failed(bridge, &room, &to, &p).await;
        return;
    }
    if bridge.mucs.is_puppet_nick(&room, &nick) || !bridge.mucs.is_primary(&room, &to) {
        return;
    }
    let ghost = match &real {
        Some(j) => RemoteUserId::new(j.as_str()),
        None => RemoteUserId::new(format!("{room}/{nick}")),
    };
    if p.type_ == PresenceType::Unavailable {
        bridge.mucs.occupant_gone(&room, &nick);
        let reason = item
            .and_then(|i| child(i, "reason", xml::NS_MUC_USER))
            .map(|r| r.text());
        let change = if statuses.iter().any(|s| s == "301") {
            MembershipChange::Ban { by: None, reason }
        } else if statuses.iter().any(|s| s == "307") {
            MembershipChange::Kick { by: None, reason }
        } else {
            MembershipChange::Leave { reason }
        };
        send(
            bridge,
            portal,
            RemoteEventKind::Membership {
                user: ghost,
                change,
            },
        )
        .await;
        return;
    }
    avatars::seen(
        bridge,
        &ghost,
        &portal,
        &to,
        vcard::advertised_hash(&p.payloads),
    );
    if bridge.mucs.occupant_seen(&room, &nick, real.clone()) {
        send(
            bridge,
            portal.clone(),
            RemoteEventKind::Profile {
                user: ghost.clone(),
                profile: RemoteProfile {
                    displayname: Some(nick.clone()),
                    avatar: None,
                },
            },
        )
        .await;
        send(
            bridge,
            portal,
            RemoteEventKind::Membership {
                user: ghost,
                change: MembershipChange::Join,
            },
        )
        .await;
    }
}

async fn join_failed(bridge: &XmppBridge, room: &BareJid, to: &Jid, p: &Presence) {
    let conflict = p
        .payloads
        .iter()
        .any(|e| e.name() == "error" && child(e, "conflict", xml::NS_STANZAS).is_some());
    let reason = convert::error_text(&p.payloads);
    if let Some(retry) = bridge.mucs.join_error(room, to, conflict, &reason) {
        bridge.outbox.send(retry);
    }
}
