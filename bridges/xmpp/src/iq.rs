//! IQ requests to the component and its puppets: ping, disco#info/#items, version; anything
//! else gets `service-unavailable`, as RFC 6120 asks.

use tokio_xmpp::minidom::Element;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::conn::is_ping_id;
use crate::outbox::Outbox;
use crate::vcard::NS_VCARD;
use crate::xml::{self, build, text_el};

/// Answers one IQ; `puppet` is the Matrix user whose puppet JID it was sent to, if any.
pub fn handle(iq: Iq, outbox: &Outbox, puppet: Option<&ruma::UserId>) {
    let is_puppet = puppet.is_some();
    match iq {
        Iq::Get {
            from,
            to,
            id,
            payload,
        } => {
            let answer = match (payload.name(), payload.ns().as_str()) {
                ("ping", xml::NS_PING) => Ok(None),
                ("query", xml::NS_DISCO_INFO) => Ok(Some(disco_info(is_puppet))),
                ("query", xml::NS_DISCO_ITEMS) => {
                    // The gateway's room list would go here; no rooms are served yet.
                    Ok(Some(build("query", xml::NS_DISCO_ITEMS, &[])))
                }
                ("query", xml::NS_VERSION) if !is_puppet => Ok(Some(version())),
                ("vCard", NS_VCARD) => match puppet {
                    Some(user) => Ok(Some(vcard(user))),
                    None => Err(DefinedCondition::ItemNotFound),
                },
                _ => Err(DefinedCondition::ServiceUnavailable),
            };
            reply(outbox, to, from, id, answer);
        }
        Iq::Set { from, to, id, .. } => {
            reply(
                outbox,
                to,
                from,
                id,
                Err(DefinedCondition::ServiceUnavailable),
            );
        }
        Iq::Result { id, .. } if is_ping_id(&id) => {}
        Iq::Error { id, error, .. } if is_ping_id(&id) => {
            // Any answer keeps the stream alive; an error is still an answer.
            tracing::debug!(?error, "keepalive ping answered with an error");
        }
        Iq::Result { .. } | Iq::Error { .. } => {}
    }
}

fn reply(
    outbox: &Outbox,
    ours: Option<xmpp_parsers::jid::Jid>,
    theirs: Option<xmpp_parsers::jid::Jid>,
    id: String,
    answer: Result<Option<Element>, DefinedCondition>,
) {
    let mut iq = match answer {
        Ok(payload) => Iq::Result {
            from: None,
            to: None,
            id,
            payload,
        },
        Err(condition) => Iq::from_error(
            id,
            StanzaError::new(
                ErrorType::Cancel,
                condition,
                "en",
                "not supported by this bridge",
            ),
        ),
    };
    if let Some(to) = theirs {
        iq = iq.with_to(to);
    }
    if let Some(from) = ours {
        iq = iq.with_from(from);
    }
    outbox.send(iq);
}

fn disco_info(is_puppet: bool) -> Element {
    let mut q = build("query", xml::NS_DISCO_INFO, &[]);
    let (category, type_, name) = if is_puppet {
        ("client", "bot", "Matrix user")
    } else {
        ("gateway", "matrix", "Matrix bridge (ferrybridge)")
    };
    q.append_child(build(
        "identity",
        xml::NS_DISCO_INFO,
        &[("category", category), ("type", type_), ("name", name)],
    ));
    for var in [
        xml::NS_DISCO_INFO,
        xml::NS_PING,
        xml::NS_CORRECT,
        xml::NS_RETRACT,
        xml::NS_REPLY,
        xml::NS_CHATSTATES,
        xml::NS_OOB,
    ] {
        q.append_child(build("feature", xml::NS_DISCO_INFO, &[("var", var)]));
    }
    q
}

/// A puppet's vCard: its Matrix ID and a matrix.to link, so XMPP users can find the person.
fn vcard(user: &ruma::UserId) -> Element {
    let mut v = build("vCard", NS_VCARD, &[]);
    v.append_child(text_el("FN", NS_VCARD, user.as_str()));
    v.append_child(text_el("NICKNAME", NS_VCARD, user.localpart()));
    v.append_child(text_el(
        "URL",
        NS_VCARD,
        &format!("https://matrix.to/#/{user}"),
    ));
    v.append_child(text_el(
        "DESC",
        NS_VCARD,
        "A Matrix user, bridged by ferrybridge.",
    ));
    v
}

fn version() -> Element {
    let mut q = build("query", xml::NS_VERSION, &[]);
    q.append_child(text_el("name", xml::NS_VERSION, "ferrybridge-xmpp"));
    q.append_child(text_el(
        "version",
        xml::NS_VERSION,
        env!("CARGO_PKG_VERSION"),
    ));
    q
}
