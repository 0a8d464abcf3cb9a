//! Message stanzas ↔ the core's message model: what an incoming `<message/>` means (text,
//! correction, retraction, reply, chat state, attachment) and how to build outgoing ones.

use ferrybridge_core::events::{Media, MessageContent, MessageKind, ReplyTarget};
use tokio_xmpp::minidom::Element;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};

use crate::styling;
use crate::xml::{self, attr, build, child, text_el};

/// A chat state (XEP-0085), reduced to what Matrix shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatState {
    Composing,
    Paused,
}

/// What an incoming message stanza says, protocol details removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inbound {
    /// The sender's message ID (the `id` attribute, else origin-id).
    pub id: Option<String>,
    /// The text, with reply fallbacks removed.
    pub body: Option<String>,
    /// The message this one corrects (XEP-0308).
    pub correction_of: Option<String>,
    /// The message this one retracts (XEP-0424).
    pub retraction_of: Option<String>,
    /// The message this one replies to (XEP-0461).
    pub reply_to: Option<String>,
    /// Typing notification (XEP-0085); `None` when absent.
    pub chat_state: Option<ChatState>,
    /// The message the sender has displayed (XEP-0333), for read receipts.
    pub displayed: Option<String>,
    /// An attached URL (XEP-0066) and its description.
    pub oob_url: Option<String>,
    /// Delayed (history replay): not bridged.
    pub delayed: bool,
    /// A room subject change.
    pub subject: Option<String>,
}

impl Inbound {
    /// Reads a message stanza.
    pub fn parse(msg: &Message) -> Self {
        let payload = |name: &str, ns: &str| msg.payloads.iter().find(|p| p.is(name, ns));
        let id = msg.id.as_ref().map(|i| i.0.clone()).or_else(|| {
            payload("origin-id", xml::NS_SID)
                .and_then(|o| attr(o, "id"))
                .map(str::to_owned)
        });
        let correction_of = payload("replace", xml::NS_CORRECT)
            .and_then(|r| attr(r, "id"))
            .map(str::to_owned);
        let retraction_of = payload("retract", xml::NS_RETRACT)
            .and_then(|r| attr(r, "id"))
            .map(str::to_owned)
            .or_else(|| {
                payload("apply-to", xml::NS_FASTEN)
                    .filter(|a| child(a, "retract", xml::NS_RETRACT_0).is_some())
                    .and_then(|a| attr(a, "id"))
                    .map(str::to_owned)
            });
        let reply_to = payload("reply", xml::NS_REPLY)
            .and_then(|r| attr(r, "id"))
            .map(str::to_owned);
        let chat_state = msg
            .payloads
            .iter()
            .filter(|p| p.ns() == xml::NS_CHATSTATES)
            .find_map(|p| match p.name() {
                "composing" => Some(ChatState::Composing),
                "paused" | "active" | "inactive" | "gone" => Some(ChatState::Paused),
                _ => None,
            });
        let oob_url = payload("x", xml::NS_OOB)
            .and_then(|x| child(x, "url", xml::NS_OOB))
            .map(|u| u.text().trim().to_owned())
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
        let delayed = payload("delay", xml::NS_DELAY).is_some();
        let displayed = payload("displayed", xml::NS_MARKERS)
            .and_then(|d| attr(d, "id"))
            .map(str::to_owned);
        let mut body = msg
            .get_best_body_cloned(vec!["en"])
            .map(|(_, b)| b)
            .filter(|b| !b.is_empty());
        if reply_to.is_some()
            && let Some(text) = &body
        {
            let cut = fallback_range(msg, xml::NS_REPLY);
            body = Some(remove_chars(text, cut));
        }
        let subject = msg.get_best_subject_cloned(vec!["en"]).map(|(_, s)| s);
        Self {
            id,
            body,
            correction_of,
            retraction_of,
            reply_to,
            chat_state,
            displayed,
            oob_url,
            delayed,
            subject,
        }
    }

    /// The Matrix-side content of a message with a body; `None` for bodiless stanzas.
    pub fn content(&self) -> Option<MessageContent> {
        let body = self.body.as_deref()?;
        if let Some(url) = &self.oob_url
            && body.trim() == url
        {
            // An attachment: the core turns an un-uploaded media into a link.
            let filename = url
                .rsplit('/')
                .next()
                .filter(|f| !f.is_empty())
                .unwrap_or("attachment")
                .to_owned();
            return Some(MessageContent {
                kind: MessageKind::File,
                body: String::new(),
                html: None,
                media: Some(Media {
                    mxc: None,
                    url: Some(url.clone()),
                    filename,
                    mimetype: None,
                    size: None,
                    data: None,
                }),
                mentions: vec![],
                poll: None,
            });
        }
        let (content, text) = match body.strip_prefix("/me ") {
            Some(action) => (MessageContent::emote(action), action),
            None => (MessageContent::text(body), body),
        };
        // XEP-0393 styling becomes HTML; plain text stays a plain body.
        Some(match styling::to_html(text) {
            Some(html) => content.with_html(html),
            None => content,
        })
    }
}

/// The character range `[start, end)` a fallback for `for_ns` covers in the body.
fn fallback_range(msg: &Message, for_ns: &str) -> Option<(usize, usize)> {
    let fb = msg
        .payloads
        .iter()
        .find(|p| p.is("fallback", xml::NS_FALLBACK) && attr(p, "for") == Some(for_ns))?;
    let body = child(fb, "body", xml::NS_FALLBACK)?;
    let start = attr(body, "start")?.parse().ok()?;
    let end = attr(body, "end")?.parse().ok()?;
    (start <= end).then_some((start, end))
}

/// `text` without the characters (code points) in `range`; unchanged for a bad range.
fn remove_chars(text: &str, range: Option<(usize, usize)>) -> String {
    let Some((start, end)) = range else {
        return text.to_owned();
    };
    if end > text.chars().count() {
        return text.to_owned();
    }
    text.chars()
        .enumerate()
        .filter(|(i, _)| *i < start || *i >= end)
        .map(|(_, c)| c)
        .collect()
}

/// The stanza ID of what a Matrix event becomes: derived from the event ID, so a message sent
/// again after a crash has the ID the room archived the first time (see [`crate::archive`]).
pub fn stanza_id(event: &ruma::EventId) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(event.as_str().as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("fb-{hex}")
}

/// An outgoing message with our ID both as `id` and origin-id (so the MUC's reflection and
/// errors can be matched).
pub fn message(type_: MessageType, from: Jid, to: Jid, id: &str) -> Message {
    let mut msg = Message::new_with_type(type_, Some(to));
    msg.from = Some(from);
    msg.id = Some(xmpp_parsers::message::Id(id.to_owned()));
    msg.payloads
        .push(build("origin-id", xml::NS_SID, &[("id", id)]));
    msg
}

/// Adds the body (and OOB for media) of `content`, replying to `reply` if set.
pub fn add_content(msg: &mut Message, content: &MessageContent, reply: Option<&ReplyTarget>) {
    // Formatted Matrix messages travel as XEP-0393 styled text.
    let text = match content.html.as_deref() {
        Some(html) if !content.kind.has_media() => {
            Some(styling::from_html(html)).filter(|t| !t.trim().is_empty())
        }
        _ => None,
    }
    .unwrap_or_else(|| content.body.clone());
    let mut body = match content.kind {
        MessageKind::Emote => format!("/me {text}"),
        _ => text,
    };
    if content.kind.has_media()
        && let Some(media) = &content.media
    {
        let url = media
            .url
            .clone()
            .or_else(|| media.mxc.as_ref().map(|m| m.to_string()));
        if let Some(url) = url {
            let mut x = Element::builder("x", xml::NS_OOB).build();
            x.append_child(text_el("url", xml::NS_OOB, &url));
            if !media.filename.is_empty() {
                x.append_child(text_el("desc", xml::NS_OOB, &media.filename));
            }
            msg.payloads.push(x);
            // Clients show OOB inline only when the body is exactly the URL.
            body = url;
        }
    }
    if let Some(reply) = reply {
        let mut attrs = vec![("id", reply.message.as_str())];
        let to = reply.sender.as_ref().map(|s| s.as_str().to_owned());
        if let Some(to) = &to {
            attrs.push(("to", to.as_str()));
        }
        msg.payloads.push(build("reply", xml::NS_REPLY, &attrs));
        if let Some(excerpt) = reply.excerpt.as_deref().filter(|e| !e.is_empty()) {
            let quote: String = excerpt.lines().map(|l| format!("> {l}\n")).collect();
            let end = quote.chars().count().to_string();
            let mut fb = build("fallback", xml::NS_FALLBACK, &[("for", xml::NS_REPLY)]);
            fb.append_child(build(
                "body",
                xml::NS_FALLBACK,
                &[("start", "0"), ("end", end.as_str())],
            ));
            msg.payloads.push(fb);
            body = format!("{quote}{body}");
        }
    }
    msg.bodies.insert(Lang::default(), body);
}

/// Marks `msg` as a correction of `target`.
pub fn add_correction(msg: &mut Message, target: &str) {
    msg.payloads
        .push(build("replace", xml::NS_CORRECT, &[("id", target)]));
}

/// Makes `msg` a retraction of `target`, with a fallback body for old clients.
pub fn make_retraction(msg: &mut Message, target: &str) {
    msg.payloads
        .push(build("retract", xml::NS_RETRACT, &[("id", target)]));
    msg.payloads.push(build(
        "fallback",
        xml::NS_FALLBACK,
        &[("for", xml::NS_RETRACT)],
    ));
    msg.payloads.push(build("store", xml::NS_HINTS, &[]));
    msg.bodies.insert(
        Lang::default(),
        "This person attempted to retract a previous message, but it's unsupported by your client."
            .into(),
    );
}

/// Makes `msg` a bare chat-state notification (not stored by archives).
pub fn make_chat_state(msg: &mut Message, typing: bool) {
    let name = if typing { "composing" } else { "paused" };
    msg.payloads.push(build(name, xml::NS_CHATSTATES, &[]));
    msg.payloads.push(build("no-store", xml::NS_HINTS, &[]));
}

/// Makes `msg` a chat marker (XEP-0333) saying the sender has displayed `up_to`: the XMPP form
/// of a Matrix read receipt.
pub fn make_displayed(msg: &mut Message, up_to: &str) {
    msg.payloads
        .push(build("displayed", xml::NS_MARKERS, &[("id", up_to)]));
}

/// A human-readable reason from an error stanza's `<error/>` child.
pub fn error_text(payloads: &[Element]) -> String {
    let Some(error) = payloads.iter().find(|p| p.name() == "error") else {
        return "the XMPP server returned an error".into();
    };
    let condition = error
        .children()
        .find(|c| c.ns() == xml::NS_STANZAS && c.name() != "text")
        .map(|c| c.name().replace('-', " "));
    let text = child(error, "text", xml::NS_STANZAS)
        .map(|t| t.text())
        .filter(|t| !t.is_empty());
    match (condition, text) {
        (Some(c), Some(t)) => format!("{c}: {t}"),
        (Some(c), None) => c,
        (None, Some(t)) => t,
        (None, None) => "the XMPP server returned an error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrybridge_core::ids::{RemoteMessageId, RemoteUserId};

    fn parse(xml: &str) -> Message {
        let el: Element = xml.parse().unwrap();
        Message::try_from(el).unwrap()
    }

    const NS: &str = "jabber:component:accept";

    #[test]
    fn plain_and_emote() {
        let m = parse(&format!(
            "<message xmlns='{NS}' id='m1' type='groupchat'><body>hi</body><active xmlns='{}'/></message>",
            xml::NS_CHATSTATES
        ));
        let i = Inbound::parse(&m);
        assert_eq!(i.id.as_deref(), Some("m1"));
        assert_eq!(i.content(), Some(MessageContent::text("hi")));
        assert_eq!(i.chat_state, Some(ChatState::Paused));
        let m = parse(&format!(
            "<message xmlns='{NS}'><body>/me waves</body></message>"
        ));
        assert_eq!(
            Inbound::parse(&m).content(),
            Some(MessageContent::emote("waves"))
        );
    }

    #[test]
    fn correction_retraction_reply() {
        let m = parse(&format!(
            "<message xmlns='{NS}' id='m2'><body>fixed</body><replace xmlns='{}' id='m1'/></message>",
            xml::NS_CORRECT
        ));
        assert_eq!(Inbound::parse(&m).correction_of.as_deref(), Some("m1"));
        let m = parse(&format!(
            "<message xmlns='{NS}' id='m3'><retract xmlns='{}' id='m1'/></message>",
            xml::NS_RETRACT
        ));
        assert_eq!(Inbound::parse(&m).retraction_of.as_deref(), Some("m1"));
        let m = parse(&format!(
            "<message xmlns='{NS}' id='m4'><apply-to xmlns='{}' id='m1'><retract xmlns='{}'/></apply-to></message>",
            xml::NS_FASTEN,
            xml::NS_RETRACT_0
        ));
        assert_eq!(Inbound::parse(&m).retraction_of.as_deref(), Some("m1"));
        let m = parse(&format!(
            "<message xmlns='{NS}' id='m5'><body>&gt; héllo\nyes</body><reply xmlns='{}' id='m1'/>\
             <fallback xmlns='{}' for='{}'><body start='0' end='8'/></fallback></message>",
            xml::NS_REPLY,
            xml::NS_FALLBACK,
            xml::NS_REPLY
        ));
        let i = Inbound::parse(&m);
        assert_eq!(i.reply_to.as_deref(), Some("m1"));
        assert_eq!(i.body.as_deref(), Some("yes"));
    }

    #[test]
    fn bad_fallback_range_keeps_body() {
        assert_eq!(remove_chars("abc", Some((0, 10))), "abc");
        assert_eq!(remove_chars("abc", Some((1, 2))), "ac");
    }

    #[test]
    fn oob_becomes_media() {
        let m = parse(&format!(
            "<message xmlns='{NS}'><body>https://x.org/a.png</body><x xmlns='{}'><url>https://x.org/a.png</url></x></message>",
            xml::NS_OOB
        ));
        let c = Inbound::parse(&m).content().unwrap();
        assert_eq!(c.kind, MessageKind::File);
        assert_eq!(c.media.unwrap().filename, "a.png");
    }

    #[test]
    fn outgoing_round_trips() {
        let from = Jid::new("alice_localhost@matrix.localhost/bridge").unwrap();
        let to = Jid::new("room@conference.localhost").unwrap();
        let mut msg = message(MessageType::Groupchat, from, to, "abc");
        let reply = ReplyTarget {
            message: RemoteMessageId::new("m1"),
            sender: Some(RemoteUserId::new("room@conference.localhost/bob")),
            excerpt: Some("earlier".into()),
        };
        add_content(&mut msg, &MessageContent::text("answer"), Some(&reply));
        add_correction(&mut msg, "m0");
        let el: Element = msg.into();
        let back = Message::try_from(el).unwrap();
        let i = Inbound::parse(&back);
        assert_eq!(i.id.as_deref(), Some("abc"));
        assert_eq!(i.reply_to.as_deref(), Some("m1"));
        assert_eq!(i.body.as_deref(), Some("answer"));
        assert_eq!(i.correction_of.as_deref(), Some("m0"));
    }

    #[test]
    fn styling_travels_as_html_and_back() {
        let m = parse(&format!(
            "<message xmlns='{NS}' type='chat' id='s'><body>*bold* &amp; _it_</body></message>"
        ));
        let c = Inbound::parse(&m).content().unwrap();
        assert_eq!(c.body, "*bold* & _it_");
        assert_eq!(
            c.html.as_deref(),
            Some("<strong>bold</strong> &amp; <em>it</em>")
        );
        let from = Jid::new("alice_localhost@matrix.localhost/bridge").unwrap();
        let to = Jid::new("bob@localhost").unwrap();
        let mut msg = message(MessageType::Chat, from, to, "x");
        let content = MessageContent::emote("waves loudly").with_html("waves <b>loudly</b>");
        add_content(&mut msg, &content, None);
        assert_eq!(
            msg.bodies.get("").map(|b| b.as_str()),
            Some("/me waves *loudly*")
        );
    }

    #[test]
    fn error_reasons() {
        let m = parse(&format!(
            "<message xmlns='{NS}' type='error' id='x'><error type='cancel'><not-acceptable xmlns='{0}'/>\
             <text xmlns='{0}'>You are not in the room</text></error></message>",
            xml::NS_STANZAS
        ));
        assert_eq!(
            error_text(&m.payloads),
            "not acceptable: You are not in the room"
        );
        assert_eq!(error_text(&[]), "the XMPP server returned an error");
    }
}
