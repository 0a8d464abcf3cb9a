//! A raw XMPP occupant of MUCs whose reader task keeps what arrives (groupchat bodies with their
//! arrival time, who is present, every presence), so a test can send or expect thousands of
//! messages without a read loop of its own (the relay benchmark and the crash tests).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;

use super::XmppClient;

/// What a raw occupant has seen.
#[derive(Default)]
pub struct Seen {
    /// Groupchat messages with a body.
    pub messages: AtomicU64,
    /// `(arrival, body)` of each of them.
    pub bodies: Mutex<Vec<(Instant, String)>>,
    /// Occupants present (full room JIDs), from MUC presences.
    pub present: Mutex<HashSet<String>>,
    /// Every presence as `(from, type)` (`type` empty when available), in arrival order.
    pub presences: Mutex<Vec<(String, String)>>,
}

/// A raw XMPP c2s session (an account's resource) joined to MUCs.
pub struct Occupant {
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    pub seen: Arc<Seen>,
}

/// The value of attribute `name` in the start tag beginning at `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let head = &tag[..tag.find('>')?];
    let start = head.find(&format!(" {name}='"))? + name.len() + 3;
    let len = head[start..].find('\'')?;
    Some(&head[start..start + len])
}

impl Seen {
    /// Takes the complete `<message>` and `<presence>` stanzas at the start of `buf`.
    fn take(&self, buf: &mut String, at: Instant) {
        let (mut start, mut pos) = (0, 0);
        while let Some(i) = buf[pos..].find("</") {
            let close = pos + i;
            let tail = &buf[close..];
            let end = if tail.starts_with("</message>") {
                close + "</message>".len()
            } else if tail.starts_with("</presence>") {
                close + "</presence>".len()
            } else {
                pos = close + 2;
                continue;
            };
            self.stanza(&buf[start..end], at);
            (start, pos) = (end, end);
        }
        buf.drain(..start);
    }

    fn stanza(&self, s: &str, at: Instant) {
        if let Some(i) = s.rfind("<message") {
            let m = &s[i..];
            if attr(m, "type") != Some("groupchat") {
                return;
            }
            let Some(b) = m.find("<body") else { return };
            let Some(open) = m[b..].find('>') else { return };
            let text = &m[b + open + 1..];
            let Some(close) = text.find("</body>") else {
                return;
            };
            self.bodies
                .lock()
                .unwrap()
                .push((at, text[..close].to_owned()));
            self.messages.fetch_add(1, Ordering::Relaxed);
        } else if let Some(i) = s.rfind("<presence") {
            let p = &s[i..];
            let Some(from) = attr(p, "from") else { return };
            let kind = attr(p, "type").unwrap_or_default();
            self.presences
                .lock()
                .unwrap()
                .push((from.to_owned(), kind.to_owned()));
            let mut present = self.present.lock().unwrap();
            if kind == "unavailable" {
                present.remove(from);
            } else if kind.is_empty() {
                present.insert(from.to_owned());
            }
        }
    }
}

impl Occupant {
    /// Logs in as `alice/<resource>` and joins `rooms` as `nick` (without history).
    pub async fn join(port: u16, resource: &str, nick: &str, rooms: &[String]) -> Result<Occupant> {
        let mut c = XmppClient::login_as(port, "alice", "alicepass", resource).await?;
        for room in rooms {
            c.send(&format!(
                "<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'>\
                 <history maxstanzas='0'/></x></presence>"
            ))
            .await?;
            c.wait_for("status code='110'").await?;
        }
        let (stream, rest) = c.into_parts();
        stream.set_nodelay(true)?;
        let (mut r, w) = stream.into_split();
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        tokio::spawn(async move {
            let mut buf = rest;
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let n = match r.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
                s.take(&mut buf, Instant::now());
            }
        });
        Ok(Occupant {
            writer: Arc::new(tokio::sync::Mutex::new(w)),
            seen,
        })
    }

    /// Groupchat messages received so far.
    pub fn count(&self) -> u64 {
        self.seen.messages.load(Ordering::Relaxed)
    }

    /// Occupants present in the joined rooms.
    pub fn present(&self) -> usize {
        self.seen.present.lock().unwrap().len()
    }

    /// The groupchat bodies received so far, in arrival order.
    pub fn bodies(&self) -> Vec<String> {
        self.seen
            .bodies
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// How many presences arrived so far (a mark for [`Occupant::presence_since`]).
    pub fn presence_mark(&self) -> usize {
        self.seen.presences.lock().unwrap().len()
    }

    /// Whether an available presence from `from` arrived after `mark`.
    pub fn presence_since(&self, mark: usize, from: &str) -> bool {
        self.seen.presences.lock().unwrap()[mark..]
            .iter()
            .any(|(f, kind)| f == from && kind.is_empty())
    }

    /// Sends groupchat messages to `room` in one write; `(id, body)` pairs. The future owns
    /// what it needs, so it can be spawned.
    pub fn say<I: IntoIterator<Item = (String, String)>>(
        &self,
        room: &str,
        texts: I,
    ) -> impl Future<Output = Result<()>> + Send + 'static + use<I> {
        let mut buf = String::new();
        for (id, t) in texts {
            buf.push_str(&format!(
                "<message to='{room}' type='groupchat' id='{id}'><body>{t}</body></message>"
            ));
        }
        let writer = self.writer.clone();
        async move {
            writer.lock().await.write_all(buf.as_bytes()).await?;
            Ok(())
        }
    }
}
