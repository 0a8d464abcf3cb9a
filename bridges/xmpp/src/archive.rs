//! Does a MUC already hold a message we sent? Asked (XEP-0313 MAM on the room) before sending
//! a Matrix message again that may have reached the room before a crash: the bridge was killed
//! after handing the stanza to the server but before recording it. Our stanzas carry an
//! origin-id derived from the Matrix event ID ([`crate::convert::stanza_id`]), so the room's
//! archive says whether the message is there.
//!
//! One archive read per room covers every replayed message of that room: everything a previous
//! run sent was archived before this run read, so a read from before the oldest replayed
//! message answers for all of them. A room without an archive (or one that refuses us) gives
//! no answer; the caller then sends, preferring a rare duplicate to a loss.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ruma::MilliSecondsSinceUnixEpoch;
use tokio_xmpp::minidom::Element;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::Message;

use crate::outbox::Outbox;
use crate::requests::Requests;
use crate::xml;

/// XEP-0313 message archive management.
pub const NS_MAM: &str = "urn:xmpp:mam:2";
const NS_FORWARD: &str = "urn:xmpp:forward:0";
const NS_RSM: &str = "http://jabber.org/protocol/rsm";
const NS_DATA: &str = "jabber:x:data";

/// How far before a message's Matrix timestamp the read starts (clock skew between the
/// homeserver and the XMPP server, and the time the message waited in the bridge).
const SLACK: Duration = Duration::from_secs(120);
/// A read is reused this long (replays come right after a start).
const FRESH: Duration = Duration::from_secs(600);
/// Archived messages read per room at most; past it the answer is "unknown".
const MAX_ITEMS: usize = 20_000;
/// Rooms remembered at once.
const MAX_ROOMS: usize = 256;
/// How long one page may take.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the archive says about one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    Yes,
    No,
    /// No archive, refused, or too much to read: the caller sends.
    Unknown,
}

/// One room's archive as read: the origin-ids from `from_ms` on, or no answer.
struct Read {
    from_ms: u64,
    at: Instant,
    ids: Option<HashSet<String>>,
}

/// Archive reads: those in progress (by query ID) and the finished ones (by room).
#[derive(Default)]
pub struct Archive {
    collecting: Mutex<HashMap<String, HashSet<String>>>,
    rooms: tokio::sync::Mutex<HashMap<BareJid, Read>>,
}

impl Archive {
    /// Whether `room` holds a message with `origin_id`, sent at `sent_at` on Matrix. `from` is
    /// the JID that asks (a puppet, which a members-only room may require).
    pub async fn holds(
        &self,
        requests: &Requests,
        outbox: &Outbox,
        from: Jid,
        room: &BareJid,
        origin_id: &str,
        sent_at: MilliSecondsSinceUnixEpoch,
    ) -> Holds {
        let from_ms = u64::from(sent_at.get()).saturating_sub(SLACK.as_millis() as u64);
        // Held across the read, so a room's replayed messages share one read.
        let mut rooms = self.rooms.lock().await;
        let reusable = rooms
            .get(room)
            .is_some_and(|r| r.from_ms <= from_ms && r.at.elapsed() < FRESH);
        if !reusable {
            let ids = self.read(requests, outbox, from, room, from_ms).await;
            if rooms.len() >= MAX_ROOMS {
                rooms.retain(|_, r| r.at.elapsed() < FRESH);
                if rooms.len() >= MAX_ROOMS {
                    rooms.clear();
                }
            }
            rooms.insert(
                room.clone(),
                Read {
                    from_ms,
                    at: Instant::now(),
                    ids,
                },
            );
        }
        match rooms.get(room).and_then(|r| r.ids.as_ref()) {
            Some(ids) if ids.contains(origin_id) => Holds::Yes,
            Some(_) => Holds::No,
            None => Holds::Unknown,
        }
    }

    /// Takes an archive result addressed to one of our reads; `false` for any other message.
    pub fn collect(&self, msg: &Message) -> bool {
        let Some(result) = msg.payloads.iter().find(|p| p.is("result", NS_MAM)) else {
            return false;
        };
        let Some(query) = xml::attr(result, "queryid") else {
            return true;
        };
        let mut collecting = self.collecting.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(ids), Some(id)) = (collecting.get_mut(query), archived_origin_id(result)) {
            ids.insert(id.to_owned());
        }
        true
    }

    /// Reads the room's archive from `from_ms` on, page by page; `None` when it cannot.
    async fn read(
        &self,
        requests: &Requests,
        outbox: &Outbox,
        from: Jid,
        room: &BareJid,
        from_ms: u64,
    ) -> Option<HashSet<String>> {
        let query = uuid::Uuid::new_v4().simple().to_string();
        self.lock_collecting().insert(query.clone(), HashSet::new());
        let mut after: Option<String> = None;
        let mut read = 0;
        let outcome = loop {
            let payload = mam_query(&query, from_ms, after.as_deref());
            let answer = requests
                .set(
                    outbox,
                    from.clone(),
                    Jid::from(room.clone()),
                    payload,
                    PAGE_TIMEOUT,
                )
                .await;
            let fin = match answer {
                Ok(Some(fin)) if fin.is("fin", NS_MAM) => fin,
                Ok(_) => break Err("an answer without <fin/>".to_owned()),
                Err(e) => break Err(e.to_string()),
            };
            let page = Page::of(&fin);
            read += PAGE;
            if page.complete {
                break Ok(());
            }
            if read >= MAX_ITEMS || page.last.is_none() || page.last == after {
                break Err(format!("stopped after {read} archived messages"));
            }
            after = page.last;
        };
        let ids = self.lock_collecting().remove(&query);
        match outcome {
            Ok(()) => ids,
            Err(why) => {
                tracing::warn!(%room, %why, "cannot read the room's archive; replayed messages are sent again");
                None
            }
        }
    }

    fn lock_collecting(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.collecting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The origin-id of the message inside an archive `<result/>`.
fn archived_origin_id(result: &Element) -> Option<&str> {
    let message = xml::child(result, "forwarded", NS_FORWARD)?
        .children()
        .find(|c| c.name() == "message")?;
    let origin = xml::child(message, "origin-id", xml::NS_SID)?;
    xml::attr(origin, "id")
}

/// Archived messages asked for per page (servers may send fewer).
const PAGE: usize = 100;

/// The `<fin/>` of one page: whether it was the last, and where the next starts (forwards
/// after `last`, backwards before `first`).
pub(crate) struct Page {
    pub complete: bool,
    pub first: Option<String>,
    pub last: Option<String>,
}

impl Page {
    pub(crate) fn of(fin: &Element) -> Self {
        let set = xml::child(fin, "set", NS_RSM);
        let text = |name| {
            set.and_then(|s| xml::child(s, name, NS_RSM))
                .map(|e| e.text())
        };
        Self {
            complete: xml::attr(fin, "complete") == Some("true"),
            first: text("first").filter(|l| !l.is_empty()),
            last: text("last").filter(|l| !l.is_empty()),
        }
    }
}

/// `<query queryid=…>` for the messages from `from_ms` on, a page after `after`.
fn mam_query(query: &str, from_ms: u64, after: Option<&str>) -> Element {
    let mut set = xml::build("set", NS_RSM, &[]);
    set.append_child(xml::text_el("max", NS_RSM, &PAGE.to_string()));
    if let Some(after) = after {
        set.append_child(xml::text_el("after", NS_RSM, after));
    }
    let mut q = xml::build("query", NS_MAM, &[("queryid", query)]);
    q.append_child(mam_form(Some(&xs_date_time(from_ms))));
    q.append_child(set);
    q
}

/// The data form of a MAM query: messages from `start` (an XML date-time) on, or all.
pub(crate) fn mam_form(start: Option<&str>) -> Element {
    let field = |var: &'static str, value: &str, hidden: bool| {
        let mut f = if hidden {
            xml::build("field", NS_DATA, &[("var", var), ("type", "hidden")])
        } else {
            xml::build("field", NS_DATA, &[("var", var)])
        };
        f.append_child(xml::text_el("value", NS_DATA, value));
        f
    };
    let mut form = xml::build("x", NS_DATA, &[("type", "submit")]);
    form.append_child(field("FORM_TYPE", NS_MAM, true));
    if let Some(start) = start {
        form.append_child(field("start", start, false));
    }
    form
}

/// `2026-12-06T09:30:00Z` for milliseconds since the epoch (UTC, whole seconds).
pub(crate) fn xs_date_time(ms: u64) -> String {
    ferrybridge_core::utc::timestamp(ms, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_xs_date_times_in_utc() {
        assert_eq!(xs_date_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(xs_date_time(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(xs_date_time(1_796_463_005_999), "2026-12-05T09:30:05Z");
    }

    fn result(query: &str, origin: Option<&str>) -> Message {
        let mut inner = Element::builder("message", "jabber:client").build();
        if let Some(id) = origin {
            inner.append_child(xml::build("origin-id", xml::NS_SID, &[("id", id)]));
        }
        let mut forwarded = xml::build("forwarded", NS_FORWARD, &[]);
        forwarded.append_child(inner);
        let mut r = xml::build("result", NS_MAM, &[("queryid", query), ("id", "a1")]);
        r.append_child(forwarded);
        let mut msg = Message::new(None);
        msg.payloads.push(r);
        msg
    }

    #[test]
    fn results_of_our_reads_are_collected_and_others_pass() {
        let archive = Archive::default();
        archive.lock_collecting().insert("q".into(), HashSet::new());
        assert!(archive.collect(&result("q", Some("fb-1"))));
        assert!(
            archive.collect(&result("q", None)),
            "ours even without an origin-id"
        );
        assert!(
            archive.collect(&result("other", Some("fb-2"))),
            "an archive result all the same"
        );
        assert!(
            !archive.collect(&Message::new(None)),
            "not an archive result"
        );
        let ids = archive.lock_collecting().remove("q").unwrap();
        assert_eq!(ids, HashSet::from(["fb-1".to_owned()]));
    }

    #[test]
    fn pages_say_where_the_next_starts() {
        let mut fin = xml::build("fin", NS_MAM, &[("complete", "false")]);
        let mut set = xml::build("set", NS_RSM, &[]);
        set.append_child(xml::text_el("last", NS_RSM, "x9"));
        fin.append_child(set);
        let page = Page::of(&fin);
        assert!(!page.complete);
        assert_eq!(page.last.as_deref(), Some("x9"));
        assert!(Page::of(&xml::build("fin", NS_MAM, &[("complete", "true")])).complete);
    }

    #[test]
    fn the_query_asks_from_the_start_after_the_last_page() {
        let q = mam_query("q1", 0, Some("x9"));
        assert_eq!(xml::attr(&q, "queryid"), Some("q1"));
        let set = xml::child(&q, "set", NS_RSM).unwrap();
        assert_eq!(xml::child(set, "after", NS_RSM).unwrap().text(), "x9");
        let form = xml::child(&q, "x", NS_DATA).unwrap();
        let start = form
            .children()
            .find(|f| xml::attr(f, "var") == Some("start"))
            .unwrap();
        assert_eq!(
            xml::child(start, "value", NS_DATA).unwrap().text(),
            "1970-01-01T00:00:00Z"
        );
    }
}
