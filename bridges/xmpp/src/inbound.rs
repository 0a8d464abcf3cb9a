//! XMPP → Matrix: routes incoming stanzas. Groupchat messages and occupant presences of MUCs
//! our puppets are in go to MUC portals; chat messages to a puppet JID go to that Matrix
//! user's DM portal; error stanzas for what we sent become notices; IQs are answered.

use ferrybridge_core::events::{RemoteEvent, RemoteEventKind, RemoteProfile};
use ferrybridge_core::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use tokio_xmpp::Stanza;
use tokio_xmpp::xmlstream::StreamElementError;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::bridge::XmppBridge;
use crate::convert::{self, ChatState, Inbound};
use crate::gateway;
use crate::reactions;
use crate::xml::{self, attr};

/// Handles one incoming stanza. Never fails: problems are logged (and answered when the
/// protocol asks for it).
pub async fn handle(bridge: &XmppBridge, stanza: Stanza) {
    match stanza {
        Stanza::Iq(iq) => {
            let Some(iq) = bridge.requests.resolve(iq) else {
                return;
            };
            if let xmpp_parsers::iq::Iq::Error { id, error, .. } = &iq
                && let Some(portal) = bridge.pending.take(id)
            {
                // A moderation request we sent was refused: say so in the portal.
                let reason = error
                    .texts
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| format!("{:?}", error.defined_condition));
                send(
                    bridge,
                    portal,
                    RemoteEventKind::Notice {
                        body: format!("The XMPP room refused the request: {reason}"),
                    },
                )
                .await;
                return;
            }
            if let xmpp_parsers::iq::Iq::Get {
                from: Some(from),
                to: Some(to),
                id,
                payload,
            } = &iq
                && payload.is("query", xml::NS_DISCO_ITEMS)
                && to.node().is_none()
            {
                disco_items(bridge, from.clone(), to.clone(), id.clone()).await;
                return;
            }
            let puppet = iq.to().and_then(|to| bridge.puppets.user_of(to));
            crate::iq::handle(iq, &bridge.outbox, puppet.as_deref());
        }
        Stanza::Message(msg) => message(bridge, msg).await,
        Stanza::Presence(p) => crate::presence::handle(bridge, p).await,
    }
}

pub(crate) async fn send(bridge: &XmppBridge, portal: PortalKey, kind: RemoteEventKind) {
    bridge
        .attachments
        .send(&bridge.host, RemoteEvent { portal, kind })
        .await;
}

async fn message(bridge: &XmppBridge, msg: Message) {
    if bridge.history.collect(&msg) || bridge.archive.collect(&msg) {
        return;
    }
    let (Some(from), Some(to)) = (msg.from.clone(), msg.to.clone()) else {
        tracing::debug!("message without from/to ignored");
        return;
    };
    if msg.type_ == MessageType::Error {
        bounced(bridge, &msg).await;
        return;
    }
    if gateway::is_room(bridge.puppets.component(), &to) {
        if msg.type_ == MessageType::Groupchat {
            gateway::message(bridge, msg).await;
        } else {
            refuse(
                bridge,
                &msg,
                "private messages through gateway rooms are not supported",
            );
        }
        return;
    }
    let room = from.to_bare();
    if msg.type_ == MessageType::Groupchat {
        muc_message(
            bridge,
            &room,
            from.resource().map(|r| r.as_str()),
            &to,
            &msg,
        )
        .await;
        return;
    }
    let Some(user) = bridge.puppets.user_of(&to) else {
        // To the component itself or someone we don't know.
        refuse(
            bridge,
            &msg,
            "this address does not belong to a Matrix user",
        );
        return;
    };
    if user.server_name().as_str() != bridge.host.domain() {
        refuse(
            bridge,
            &msg,
            "this bridge only serves users of its own homeserver",
        );
        return;
    }
    // A private message from a MUC occupant keeps the full JID (it is only reachable so).
    let chat = if from.resource().is_some() && bridge.mucs.knows_room(&room) {
        from.to_string()
    } else {
        room.to_string()
    };
    let portal = PortalKey::private(chat.as_str(), user);
    crate::avatars::seen(
        bridge,
        &RemoteUserId::new(chat.as_str()),
        &portal,
        &to,
        None,
    );
    if let Some(nick) = msg
        .payloads
        .iter()
        .find(|p| p.is("nick", xml::NS_NICK))
        .map(|n| n.text())
        .filter(|n| !n.trim().is_empty())
    {
        // XEP-0172: the name the user wants to be shown by.
        let profile = RemoteProfile {
            displayname: Some(nick),
            avatar: None,
        };
        let user = RemoteUserId::new(chat.as_str());
        send(
            bridge,
            portal.clone(),
            RemoteEventKind::Profile { user, profile },
        )
        .await;
    }
    if let Some(kinds) = reaction_events(bridge, &chat, &chat, &msg) {
        for kind in kinds {
            send(bridge, portal.clone(), kind).await;
        }
        return;
    }
    let inbound = Inbound::parse(&msg);
    for kind in events(RemoteUserId::new(chat), &inbound) {
        send(bridge, portal.clone(), kind).await;
    }
}

/// Reactions (XEP-0444): the sender's new set, as added reactions and redacted ones.
pub(crate) fn reaction_events(
    bridge: &XmppBridge,
    chat: &str,
    sender: &str,
    msg: &Message,
) -> Option<Vec<RemoteEventKind>> {
    let (target, keys) = reactions::parse(msg)?;
    let change = bridge.reactions.set(chat, sender, &target, keys);
    let user = RemoteUserId::new(sender);
    let mut out = Vec::new();
    for key in change.added {
        out.push(RemoteEventKind::Reaction {
            id: RemoteMessageId::new(reactions::reaction_id(sender, &target, &key)),
            target: RemoteMessageId::new(target.as_str()),
            sender: user.clone(),
            key,
        });
    }
    for key in change.removed {
        out.push(RemoteEventKind::Redaction {
            target: RemoteMessageId::new(reactions::reaction_id(sender, &target, &key)),
            sender: user.clone(),
        });
    }
    Some(out)
}

/// The remote events one message stanza stands for.
pub(crate) fn events(sender: RemoteUserId, i: &Inbound) -> Vec<RemoteEventKind> {
    if let Some(target) = &i.retraction_of {
        return vec![RemoteEventKind::Redaction {
            target: RemoteMessageId::new(target.as_str()),
            sender,
        }];
    }
    if let Some(content) = i.content() {
        if let Some(target) = &i.correction_of {
            return vec![RemoteEventKind::Edit {
                target: RemoteMessageId::new(target.as_str()),
                sender,
                content,
            }];
        }
        let id =
            i.id.clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        return vec![RemoteEventKind::Message {
            id: RemoteMessageId::new(id),
            sender,
            content,
            reply_to: i.reply_to.as_deref().map(RemoteMessageId::new),
            sent_at: None,
        }];
    }
    if let Some(up_to) = &i.displayed {
        return vec![RemoteEventKind::ReadReceipt {
            sender,
            up_to: RemoteMessageId::new(up_to.as_str()),
        }];
    }
    match i.chat_state {
        Some(state) => vec![RemoteEventKind::Typing {
            sender,
            typing: state == ChatState::Composing,
        }],
        None => vec![],
    }
}

async fn muc_message(
    bridge: &XmppBridge,
    room: &BareJid,
    nick: Option<&str>,
    to: &Jid,
    msg: &Message,
) {
    // Every puppet in the room gets a copy; one is bridged.
    if !bridge.mucs.is_primary(room, to) {
        return;
    }
    // The room's echo of our own puppets' messages: nothing to parse.
    if nick.is_some_and(|n| bridge.mucs.is_puppet_nick(room, n)) {
        return;
    }
    let inbound = Inbound::parse(msg);
    if inbound.delayed {
        return;
    }
    let portal = PortalKey::shared(room.as_str());
    let Some(nick) = nick else {
        // From the room itself: subject changes and announcements.
        if let Some(subject) = inbound.subject {
            send(
                bridge,
                portal,
                RemoteEventKind::ChatInfo(ferrybridge_core::events::ChatInfo {
                    topic: Some(subject),
                    ..Default::default()
                }),
            )
            .await;
        } else if let Some(body) = inbound.body {
            send(bridge, portal, RemoteEventKind::Notice { body }).await;
        }
        return;
    };
    let ours = inbound
        .id
        .as_deref()
        .is_some_and(|id| bridge.mucs.was_sent(id))
        || origin_id(msg).is_some_and(|id| bridge.mucs.was_sent(&id));
    if ours {
        return;
    }
    if inbound.body.is_none()
        && let Some(subject) = &inbound.subject
    {
        send(
            bridge,
            portal,
            RemoteEventKind::ChatInfo(ferrybridge_core::events::ChatInfo {
                topic: Some(subject.clone()),
                ..Default::default()
            }),
        )
        .await;
        return;
    }
    let sender = occupant_ghost(bridge, room, nick);
    crate::avatars::seen(bridge, &sender, &portal, to, None);
    if let Some(kinds) = reaction_events(bridge, room.as_str(), sender.as_str(), msg) {
        for kind in kinds {
            send(bridge, portal.clone(), kind).await;
        }
        return;
    }
    for kind in events(sender, &inbound) {
        send(bridge, portal.clone(), kind).await;
    }
}

fn origin_id(msg: &Message) -> Option<String> {
    msg.payloads
        .iter()
        .find(|p| p.is("origin-id", xml::NS_SID))
        .and_then(|p| attr(p, "id"))
        .map(str::to_owned)
}

/// The ghost of an occupant: their real JID if the room disclosed it, else `room/nick`.
fn occupant_ghost(bridge: &XmppBridge, room: &BareJid, nick: &str) -> RemoteUserId {
    match bridge.mucs.occupant_jid(room, nick) {
        Some(real) => RemoteUserId::new(real.as_str()),
        None => RemoteUserId::new(format!("{room}/{nick}")),
    }
}

/// An error stanza for a message we sent: tell the sender in the portal.
async fn bounced(bridge: &XmppBridge, msg: &Message) {
    let Some(id) = msg.id.as_ref().map(|i| i.0.as_str()) else {
        return;
    };
    let Some(portal) = bridge.pending.take(id) else {
        tracing::debug!(id, "error stanza for a message we do not track");
        return;
    };
    let reason = convert::error_text(&msg.payloads);
    send(
        bridge,
        portal,
        RemoteEventKind::Notice {
            body: format!("A message could not be delivered on XMPP: {reason}"),
        },
    )
    .await;
}

/// Answers a message we cannot take with an error stanza (RFC 6120 §8.3).
fn refuse(bridge: &XmppBridge, msg: &Message, text: &str) {
    let (Some(from), Some(to)) = (msg.from.clone(), msg.to.clone()) else {
        return;
    };
    let mut err = Message::error(Some(from));
    err.from = Some(to);
    err.id = msg.id.clone();
    let error = StanzaError::new(
        ErrorType::Cancel,
        DefinedCondition::ServiceUnavailable,
        "en",
        text,
    );
    err.payloads.push(error.into());
    bridge.outbox.send(err);
}

/// Answers a stanza the parser refused with `bad-request`, when the protocol asks for an
/// answer (IQ requests, messages and presences that are not errors themselves).
pub fn answer_invalid(bridge: &XmppBridge, error: StreamElementError) {
    let StreamElementError::InvalidStanza { name, header, .. } = error else {
        return;
    };
    let (Some(from), Some(to)) = (
        header.from.as_deref().and_then(|f| Jid::new(f).ok()),
        header.to.as_deref().and_then(|t| Jid::new(t).ok()),
    ) else {
        return;
    };
    if header.type_.as_deref() == Some("error") || header.type_.as_deref() == Some("result") {
        return;
    }
    let error = StanzaError::new(
        ErrorType::Modify,
        DefinedCondition::BadRequest,
        "en",
        "this stanza could not be parsed",
    );
    match name.to_string().as_str() {
        "iq" => {
            let Some(id) = header.id else { return };
            let iq = xmpp_parsers::iq::Iq::from_error(id, error)
                .with_from(to)
                .with_to(from);
            bridge.outbox.send(iq);
        }
        "message" => {
            let mut err = Message::error(Some(from));
            err.from = Some(to);
            err.id = header.id.map(xmpp_parsers::message::Id);
            err.payloads.push(error.into());
            bridge.outbox.send(err);
        }
        _ => {}
    }
}

/// `disco#items` on the component: the public Matrix rooms reachable through the gateway.
async fn disco_items(bridge: &XmppBridge, from: Jid, to: Jid, id: String) {
    let mut query = xml::build("query", xml::NS_DISCO_ITEMS, &[]);
    let rooms = gateway::room_list(bridge).await;
    tracing::debug!(count = rooms.len(), "disco#items on the component");
    for (jid, name) in rooms {
        query.append_child(xml::build(
            "item",
            xml::NS_DISCO_ITEMS,
            &[("jid", jid.as_str()), ("name", name.as_str())],
        ));
    }
    let iq = xmpp_parsers::iq::Iq::Result {
        from: Some(to),
        to: Some(from),
        id,
        payload: Some(query),
    };
    bridge.outbox.send(iq);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::minidom::Element;

    fn inbound(xml: &str) -> Inbound {
        let el: Element = xml.parse().unwrap();
        Inbound::parse(&Message::try_from(el).unwrap())
    }

    #[test]
    fn events_for_each_kind() {
        let ns = "jabber:component:accept";
        let s = RemoteUserId::new("alice@localhost");
        let e = events(
            s.clone(),
            &inbound(&format!(
                "<message xmlns='{ns}' id='1'><body>x</body></message>"
            )),
        );
        assert!(matches!(&e[..], [RemoteEventKind::Message { id, .. }] if id.as_str() == "1"));
        let e = events(
            s.clone(),
            &inbound(&format!(
                "<message xmlns='{ns}'><composing xmlns='{}'/></message>",
                xml::NS_CHATSTATES
            )),
        );
        assert!(matches!(
            &e[..],
            [RemoteEventKind::Typing { typing: true, .. }]
        ));
        let e = events(
            s.clone(),
            &inbound(&format!(
                "<message xmlns='{ns}'><displayed xmlns='{}' id='1'/></message>",
                xml::NS_MARKERS
            )),
        );
        assert!(
            matches!(&e[..], [RemoteEventKind::ReadReceipt { up_to, .. }] if up_to.as_str() == "1")
        );
        let e = events(s, &inbound(&format!("<message xmlns='{ns}'/>")));
        assert!(e.is_empty());
    }
}

#[cfg(test)]
mod disco_tests {
    use super::*;
    use tokio_xmpp::minidom::Element;

    #[test]
    fn disco_items_query_is_recognised() {
        let el: Element = "<iq xmlns='jabber:component:accept' type='get' id='d' from='a@b/c' to='matrix.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>".parse().unwrap();
        let iq = xmpp_parsers::iq::Iq::try_from(el).unwrap();
        let xmpp_parsers::iq::Iq::Get { payload, to, .. } = &iq else {
            panic!("{iq:?}")
        };
        assert!(payload.is("query", xml::NS_DISCO_ITEMS), "{payload:?}");
        assert!(to.as_ref().unwrap().node().is_none());
    }
}
