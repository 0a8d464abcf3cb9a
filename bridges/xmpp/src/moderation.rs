//! Matrix moderation in MUC portals: kicking or banning a ghost becomes a MUC admin request
//! (XEP-0045 §8.2 kick, §9.1 ban) from the moderator's puppet, and a topic change a subject.

use ferrybridge_core::events::MembershipChange;
use ferrybridge_core::ids::RemoteUserId;
use tokio_xmpp::minidom::Element;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::message::{Lang, Message, MessageType};

use crate::xml::{self, build, text_el};

/// XEP-0045 admin namespace.
pub const NS_MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";

/// The admin request for a Matrix kick or ban of `ghost` in `room`, or why there is none.
pub fn admin_request(
    from: &FullJid,
    room: &BareJid,
    ghost: &RemoteUserId,
    change: &MembershipChange,
    id: &str,
) -> Result<Iq, String> {
    let ghost_jid = Jid::new(ghost.as_str()).map_err(|e| format!("{ghost} is not a JID: {e}"))?;
    let in_room = ghost_jid.to_bare() == *room;
    let (attrs, reason): (Vec<(&'static str, String)>, Option<&String>) = match change {
        MembershipChange::Kick { reason, .. } => {
            // A kick addresses the occupant by nick.
            let nick = match (in_room, ghost_jid.resource()) {
                (true, Some(nick)) => nick.to_string(),
                _ => return Err(format!("{ghost} is not known by nick in {room}")),
            };
            (
                vec![("nick", nick), ("role", "none".into())],
                reason.as_ref(),
            )
        }
        MembershipChange::Ban { reason, .. } => {
            // A ban needs the real JID, which anonymous rooms hide.
            if in_room {
                return Err(format!(
                    "{room} hides {ghost}'s real address, so the bridge cannot ban them"
                ));
            }
            (
                vec![
                    ("jid", ghost_jid.to_bare().to_string()),
                    ("affiliation", "outcast".into()),
                ],
                reason.as_ref(),
            )
        }
        _ => return Err("only kicks and bans are bridged".into()),
    };
    let attr_refs: Vec<(&'static str, &str)> =
        attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut item = build("item", NS_MUC_ADMIN, &attr_refs);
    if let Some(reason) = reason.filter(|r| !r.is_empty()) {
        item.append_child(text_el("reason", NS_MUC_ADMIN, reason));
    }
    let mut query = Element::builder("query", NS_MUC_ADMIN).build();
    query.append_child(item);
    Ok(Iq::Set {
        from: Some(Jid::from(from.clone())),
        to: Some(Jid::from(room.clone())),
        id: id.to_owned(),
        payload: query,
    })
}

/// A subject change of `room` from `from`.
pub fn subject(from: &FullJid, room: &BareJid, topic: &str, id: &str) -> Message {
    let mut msg = Message::new_with_type(MessageType::Groupchat, Some(Jid::from(room.clone())));
    msg.from = Some(Jid::from(from.clone()));
    msg.id = Some(xmpp_parsers::message::Id(id.to_owned()));
    msg.subjects.insert(Lang::default(), topic.to_owned());
    msg.payloads.push(build("store", xml::NS_HINTS, &[]));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (FullJid, BareJid) {
        (
            FullJid::new("bob_localhost@matrix.localhost/bridge").unwrap(),
            BareJid::new("lobby@conference.localhost").unwrap(),
        )
    }

    #[test]
    fn kick_by_nick() {
        let (from, room) = ids();
        let kick = MembershipChange::Kick {
            by: None,
            reason: Some("spam".into()),
        };
        let iq = admin_request(
            &from,
            &room,
            &RemoteUserId::new("lobby@conference.localhost/alice"),
            &kick,
            "k1",
        )
        .unwrap();
        let el: Element = iq.into();
        let text = String::from(&el);
        assert!(
            text.contains("nick=\"alice\"") || text.contains("nick='alice'"),
            "{text}"
        );
        assert!(text.contains("spam"), "{text}");
        assert!(
            admin_request(
                &from,
                &room,
                &RemoteUserId::new("alice@localhost"),
                &kick,
                "k2"
            )
            .is_err()
        );
    }

    #[test]
    fn ban_needs_a_real_jid() {
        let (from, room) = ids();
        let ban = MembershipChange::Ban {
            by: None,
            reason: None,
        };
        assert!(
            admin_request(
                &from,
                &room,
                &RemoteUserId::new("alice@localhost"),
                &ban,
                "b1"
            )
            .is_ok()
        );
        assert!(
            admin_request(
                &from,
                &room,
                &RemoteUserId::new("lobby@conference.localhost/alice"),
                &ban,
                "b2"
            )
            .is_err()
        );
    }
}
