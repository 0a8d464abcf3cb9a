//! A MUC's history for the core's backfill, read from the room's archive (XEP-0313): the newest
//! messages, or those since a moment, converted like live ones and stamped with their archived
//! time. Private chats have no history here: a user's own archive is not readable by a
//! component.
//!
//! Pages are read backwards from the newest (RSM `<before/>`), so a catch-up over more than
//! its limit keeps the messages next to the live ones and leaves the gap at the old end.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use ferrybridge_core::events::RemoteEventKind;
use ferrybridge_core::ids::RemoteUserId;
use tokio_xmpp::minidom::Element;
use xmpp_parsers::delay::Delay;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Message, MessageType};

use crate::archive::{NS_MAM, Page, mam_form, xs_date_time};
use crate::bridge::XmppBridge;
use crate::convert::Inbound;
use crate::xml;

const NS_FORWARD: &str = "urn:xmpp:forward:0";
const NS_RSM: &str = "http://jabber.org/protocol/rsm";
/// How long one page may take.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages asked for per page (servers may send fewer; Prosody's default cap is 50).
const PAGE: usize = 50;
/// How far before the newest bridged message a catch-up starts: clock skew between the
/// homeserver and the XMPP server. What overlaps is skipped by the core's message map.
const SLACK_MS: u64 = 120_000;

/// Archive reads in progress, by query ID: the `<forwarded/>` results collected so far.
#[derive(Default)]
pub struct History {
    collecting: Mutex<HashMap<String, Vec<Element>>>,
}

impl History {
    /// Takes an archive result addressed to one of our history reads; `false` for any other
    /// message (the crash-replay [`crate::archive::Archive`] may own it).
    pub fn collect(&self, msg: &Message) -> bool {
        let Some(result) = msg.payloads.iter().find(|p| p.is("result", NS_MAM)) else {
            return false;
        };
        let Some(query) = xml::attr(result, "queryid") else {
            return false;
        };
        let mut collecting = self.lock();
        let Some(results) = collecting.get_mut(query) else {
            return false;
        };
        if let Some(forwarded) = xml::child(result, "forwarded", NS_FORWARD) {
            results.push(forwarded.clone());
        }
        true
    }

    /// The room's last `limit` archived messages (from `since_ms` on, if given), oldest first,
    /// as `<forwarded/>` elements.
    async fn read(
        &self,
        bridge: &XmppBridge,
        room: &BareJid,
        since_ms: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Element>, String> {
        let query = uuid::Uuid::new_v4().simple().to_string();
        let mut pages: Vec<Vec<Element>> = Vec::new();
        let mut got = 0;
        let mut before = String::new();
        let from = Jid::from(bridge.puppets.component().clone());
        let outcome = loop {
            self.lock().insert(query.clone(), Vec::new());
            let max = PAGE.min(limit - got);
            let payload = query_before(&query, since_ms, max, &before);
            let answer = bridge
                .requests
                .set(
                    &bridge.outbox,
                    from.clone(),
                    Jid::from(room.clone()),
                    payload,
                    PAGE_TIMEOUT,
                )
                .await;
            let page_items = self.lock().remove(&query).unwrap_or_default();
            let fin = match answer {
                Ok(Some(fin)) if fin.is("fin", NS_MAM) => fin,
                Ok(_) => break Err("an answer without <fin/>".to_owned()),
                Err(e) => break Err(e.to_string()),
            };
            got += page_items.len();
            let empty = page_items.is_empty();
            pages.push(page_items);
            let page = Page::of(&fin);
            if page.complete || empty || got >= limit {
                break Ok(());
            }
            match page.first {
                Some(first) if first != before => before = first,
                _ => break Ok(()),
            }
        };
        self.lock().remove(&query);
        outcome?;
        let mut items: Vec<Element> = pages.into_iter().rev().flatten().collect();
        if items.len() > limit {
            items.drain(..items.len() - limit);
        }
        Ok(items)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Element>>> {
        self.collecting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The history of `room` as the core's remote events, oldest first: the last `limit` messages,
/// or those since `since_ms` (less a margin for clock skew).
pub async fn room_history(
    bridge: &XmppBridge,
    room: &BareJid,
    since_ms: Option<u64>,
    limit: usize,
) -> Result<Vec<RemoteEventKind>, String> {
    let since = since_ms.map(|ms| ms.saturating_sub(SLACK_MS));
    let items = bridge.history.read(bridge, room, since, limit).await?;
    tracing::debug!(%room, archived = items.len(), "read the room's archive");
    Ok(items
        .iter()
        .filter_map(|forwarded| archived(bridge, room, forwarded))
        .flatten()
        .collect())
}

/// One archived message as remote events: messages, corrections and retractions from occupants.
/// The room's own messages (subjects), our puppets' messages (already in the message map
/// under the same ID) and reactions (whose live state is a set per sender) are left out.
fn archived(
    bridge: &XmppBridge,
    room: &BareJid,
    forwarded: &Element,
) -> Option<Vec<RemoteEventKind>> {
    let stanza = forwarded.children().find(|c| c.name() == "message")?;
    let msg = match Message::try_from(xml::to_component_ns(stanza)) {
        Ok(msg) => msg,
        Err(e) => {
            tracing::debug!(%room, error = %e, "an archived message that is not one");
            return None;
        }
    };
    if msg.type_ != MessageType::Groupchat || crate::reactions::parse(&msg).is_some() {
        return None;
    }
    let nick = msg.from.as_ref()?.resource()?.as_str().to_owned();
    if bridge.mucs.is_puppet_nick(room, &nick) {
        return None;
    }
    let sent_at = xml::child(forwarded, "delay", xml::NS_DELAY)
        .and_then(|d| Delay::try_from(d.clone()).ok())
        .and_then(|d| u64::try_from(d.stamp.0.timestamp_millis()).ok())
        .and_then(|ms| ruma::UInt::try_from(ms).ok())
        .map(ruma::MilliSecondsSinceUnixEpoch);
    let mut inbound = Inbound::parse(&msg);
    // Archived copies carry no delay of their own; the flag only matters for live replays.
    inbound.delayed = false;
    inbound.chat_state = None;
    inbound.displayed = None;
    let sender = match bridge.mucs.occupant_jid(room, &nick) {
        Some(real) => RemoteUserId::new(real.as_str()),
        None => RemoteUserId::new(format!("{room}/{nick}")),
    };
    let mut events = crate::inbound::events(sender, &inbound);
    for event in &mut events {
        if let RemoteEventKind::Message { sent_at: at, .. } = event {
            *at = sent_at;
        }
    }
    Some(events)
}

/// `<query/>` for the `max` archived messages before `before` (empty: the newest), from
/// `since_ms` on.
fn query_before(query: &str, since_ms: Option<u64>, max: usize, before: &str) -> Element {
    let start = since_ms.map(xs_date_time);
    let mut q = xml::build("query", NS_MAM, &[("queryid", query)]);
    q.append_child(mam_form(start.as_deref()));
    let mut set = xml::build("set", NS_RSM, &[]);
    set.append_child(xml::text_el("max", NS_RSM, &max.to_string()));
    set.append_child(xml::text_el("before", NS_RSM, before));
    q.append_child(set);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_client_stanza_parses_as_ours() {
        let forwarded: Element = "<forwarded xmlns='urn:xmpp:forward:0'>\
            <delay xmlns='urn:xmpp:delay' stamp='2026-12-07T01:02:03Z'/>\
            <message xmlns='jabber:client' type='groupchat' id='m1' from='r@muc.example/alice'>\
            <body>hi</body></message></forwarded>"
            .parse()
            .unwrap();
        let stanza = forwarded
            .children()
            .find(|c| c.name() == "message")
            .unwrap();
        assert!(
            Message::try_from(stanza.clone()).is_err(),
            "the component build refuses it"
        );
        let msg = Message::try_from(xml::to_component_ns(stanza)).unwrap();
        assert_eq!(msg.id.as_ref().map(|i| i.0.as_str()), Some("m1"));
        assert_eq!(Inbound::parse(&msg).body.as_deref(), Some("hi"));
    }

    #[test]
    fn the_first_page_asks_for_the_newest() {
        let q = query_before("q1", None, 50, "");
        let set = xml::child(&q, "set", NS_RSM).unwrap();
        assert_eq!(xml::child(set, "before", NS_RSM).unwrap().text(), "");
        assert_eq!(xml::child(set, "max", NS_RSM).unwrap().text(), "50");
        let q = query_before("q1", Some(1_000_000), 10, "abc");
        let set = xml::child(&q, "set", NS_RSM).unwrap();
        assert_eq!(xml::child(set, "before", NS_RSM).unwrap().text(), "abc");
        let form = q.children().next().unwrap();
        assert!(
            form.children()
                .any(|f| xml::attr(f, "var") == Some("start"))
        );
    }
}
