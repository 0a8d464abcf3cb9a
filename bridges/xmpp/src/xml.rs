//! Small helpers over minidom elements: namespaces we use, attribute access and building.

use tokio_xmpp::minidom::Element;
use tokio_xmpp::minidom::rxml::NcName;

/// XEP-0359 origin-id / stanza-id.
pub const NS_SID: &str = "urn:xmpp:sid:0";
/// XEP-0308 last message correction.
pub const NS_CORRECT: &str = "urn:xmpp:message-correct:0";
/// XEP-0424 message retraction (current).
pub const NS_RETRACT: &str = "urn:xmpp:message-retract:1";
/// XEP-0424 message retraction (0.x, wrapped in a XEP-0422 fastening).
pub const NS_RETRACT_0: &str = "urn:xmpp:message-retract:0";
/// XEP-0422 message fastening.
pub const NS_FASTEN: &str = "urn:xmpp:fasten:0";
/// XEP-0461 replies.
pub const NS_REPLY: &str = "urn:xmpp:reply:0";
/// XEP-0428 fallback indication.
pub const NS_FALLBACK: &str = "urn:xmpp:fallback:0";
/// XEP-0085 chat states.
pub const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
/// XEP-0333 chat markers.
pub const NS_MARKERS: &str = "urn:xmpp:chat-markers:0";
/// XEP-0066 out-of-band data.
pub const NS_OOB: &str = "jabber:x:oob";
/// XEP-0334 processing hints.
pub const NS_HINTS: &str = "urn:xmpp:hints";
/// XEP-0203 delayed delivery (MUC history).
pub const NS_DELAY: &str = "urn:xmpp:delay";
/// XEP-0045 MUC join.
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
/// XEP-0045 MUC user payloads.
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// XEP-0172 user nickname.
pub const NS_NICK: &str = "http://jabber.org/protocol/nick";
/// RFC 6120 stanza error conditions.
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// XEP-0199 ping.
pub const NS_PING: &str = "urn:xmpp:ping";
/// XEP-0030 service discovery.
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XEP-0092 software version.
pub const NS_VERSION: &str = "jabber:iq:version";

/// An attribute's value (no namespace).
pub fn attr<'a>(el: &'a Element, name: &'a str) -> Option<&'a str> {
    el.attr(name)
}

/// The first child named `name` in `ns`.
pub fn child<'a>(el: &'a Element, name: &str, ns: &str) -> Option<&'a Element> {
    el.children().find(|c| c.name() == name && c.ns() == ns)
}

/// An element `<name xmlns=ns attr=value…/>`; attribute names are compile-time literals.
pub fn build(name: &str, ns: &str, attrs: &[(&'static str, &str)]) -> Element {
    let mut b = Element::builder(name, ns);
    for (k, v) in attrs {
        // Our attribute names are literals; a bad one would be a bug caught by the unit tests.
        if let Ok(n) = NcName::try_from(*k) {
            b = b.attr(n, *v);
        }
    }
    b.build()
}

/// `<name xmlns=ns>text</name>`.
pub fn text_el(name: &str, ns: &str, text: &str) -> Element {
    Element::builder(name, ns).append(text).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_read() {
        let mut el = build("replace", NS_CORRECT, &[("id", "a<b")]);
        el.append_child(text_el("url", NS_OOB, "http://x/?a&b"));
        assert_eq!(attr(&el, "id"), Some("a<b"));
        assert_eq!(
            child(&el, "url", NS_OOB).map(|u| u.text()).as_deref(),
            Some("http://x/?a&b")
        );
        assert!(child(&el, "url", NS_SID).is_none());
    }
}

/// The namespace of stanzas on a client stream, as archives forward them (XEP-0297).
pub const NS_CLIENT: &str = "jabber:client";
/// The namespace of stanzas on our component stream, which the parsers are built for.
pub const NS_COMPONENT: &str = "jabber:component:accept";

/// `el` with `jabber:client` swapped for the component stream's namespace throughout, so a
/// forwarded stanza parses like one that came to us directly.
pub fn to_component_ns(el: &Element) -> Element {
    let ns = match el.ns() {
        ns if ns == NS_CLIENT => NS_COMPONENT.to_owned(),
        ns => ns,
    };
    let mut out = Element::builder(el.name(), ns).build();
    *out.attrs_mut() = el.attrs().clone();
    for node in el.nodes() {
        match node {
            tokio_xmpp::minidom::Node::Element(child) => {
                out.append_child(to_component_ns(child));
            }
            tokio_xmpp::minidom::Node::Text(text) => out.append_text_node(text.clone()),
        }
    }
    out
}
