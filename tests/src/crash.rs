//! What the crash tests (`irc_crash`, `xmpp_crash`) share, whatever the network: numbered
//! messages, the tally of what arrived (delivered, missing, duplicated, out of order), a Matrix
//! sender that survives a homeserver restart, and reading the numbers back from a Matrix room.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use ruma::{OwnedRoomId, RoomId};
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::{TestUser, text_body};

/// A positive size from the environment variable `var` (e.g. `FB_CRASH_MESSAGES`), else `default`.
pub fn load_size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &usize| n >= 1)
        .unwrap_or(default)
}

/// The text of message `i` of a run tagged `tag` (`"m 00042"`): fixed width, so a line cut
/// short would not parse as another number.
pub fn numbered(tag: &str, i: usize) -> String {
    format!("{tag} {i:06}")
}

/// The number in a text made by [`numbered`] with `tag`.
pub fn number(tag: &str, text: &str) -> Option<usize> {
    let digits = text.strip_prefix(tag)?.strip_prefix(' ')?;
    (digits.len() == 6).then(|| digits.parse().ok()).flatten()
}

/// The numbers of `tag` in `texts`, in order (other texts skipped).
pub fn numbers<'a>(tag: &str, texts: impl IntoIterator<Item = &'a str>) -> Vec<usize> {
    texts.into_iter().filter_map(|t| number(tag, t)).collect()
}

/// What arrived of the messages that should have, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// How many should have arrived.
    pub expected: usize,
    /// Distinct expected numbers that arrived.
    pub delivered: usize,
    /// Expected numbers that never arrived.
    pub missing: Vec<usize>,
    /// Extra copies (a number arriving three times counts two).
    pub duplicated: usize,
    /// First arrivals of a number that comes before (in the expected order) one that
    /// arrived earlier.
    pub out_of_order: usize,
    /// Numbers that arrived but were not expected.
    pub unexpected: usize,
}

impl Tally {
    /// Compares `arrived` (in arrival order) with `0..n` in numeric order.
    pub fn of(n: usize, arrived: &[usize]) -> Tally {
        Self::of_timeline(&(0..n).collect::<Vec<_>>(), arrived)
    }

    /// Compares `arrived` (in arrival order) with `expected` in the order given (a room's
    /// timeline: the order the sender's homeserver put them in).
    pub fn of_timeline(expected: &[usize], arrived: &[usize]) -> Tally {
        let rank: HashMap<usize, usize> =
            expected.iter().enumerate().map(|(r, &n)| (n, r)).collect();
        let mut seen = HashSet::new();
        let (mut duplicated, mut out_of_order, mut unexpected) = (0, 0, 0);
        let mut highest = None;
        for &n in arrived {
            if !seen.insert(n) {
                duplicated += 1;
                continue;
            }
            let Some(&r) = rank.get(&n) else {
                unexpected += 1;
                continue;
            };
            if highest.is_some_and(|h| r < h) {
                out_of_order += 1;
            }
            highest = highest.max(Some(r));
        }
        let mut missing: Vec<usize> = rank.keys().copied().filter(|n| !seen.contains(n)).collect();
        missing.sort_unstable();
        Tally {
            expected: rank.len(),
            delivered: rank.len() - missing.len(),
            missing,
            duplicated,
            out_of_order,
            unexpected,
        }
    }

    /// Everything arrived once, in order, and nothing else.
    pub fn exactly_once_in_order(&self) -> bool {
        self.missing.is_empty()
            && self.duplicated == 0
            && self.out_of_order == 0
            && self.unexpected == 0
    }

    /// One line for the test output (the figures the lead quotes).
    pub fn summary(&self) -> String {
        format!(
            "expected={} delivered={} missing={} duplicated={} out_of_order={} unexpected={}{}",
            self.expected,
            self.delivered,
            self.missing.len(),
            self.duplicated,
            self.out_of_order,
            self.unexpected,
            if self.missing.is_empty() {
                String::new()
            } else {
                format!(" missing_numbers=[{}]", ranges(&self.missing))
            }
        )
    }
}

/// `1-3, 7, 9-12`: sorted numbers as ranges (at most 20 shown).
pub fn ranges(sorted: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            sorted[i].to_string()
        } else {
            format!("{}-{}", sorted[i], sorted[j])
        });
        i = j + 1;
    }
    let more = parts.len().saturating_sub(20);
    parts.truncate(20);
    if more > 0 {
        parts.push(format!("… {more} more ranges"));
    }
    parts.join(", ")
}

/// How long a relay may make no progress before a test stops waiting for the rest (a bridge
/// retrying a delivery takes seconds; one that lost a message never delivers it).
pub const STALL: Duration = Duration::from_secs(30);

/// How long one message may keep failing before the sender gives up (a homeserver restart
/// takes a few seconds; a debug Synapse on a loaded machine, more).
const SEND_RETRY: Duration = Duration::from_secs(120);

/// Sends `numbered(tag, i)` for every `i` in `range` to `room` as fast as the homeserver takes
/// them, `streams` requests at a time (so the numbers may land in the room slightly out of
/// numeric order: the room's timeline is the order the bridge must keep, see
/// [`Tally::of_timeline`]). Each message has its own transaction ID and is retried under it
/// until accepted, so a homeserver restart delays the load but cannot lose or double a
/// message. `sent` counts the accepted ones (tests act on it mid-load); returns how many sends
/// had to be retried.
pub async fn send_numbered(
    user: Arc<TestUser>,
    room: OwnedRoomId,
    tag: String,
    range: Range<usize>,
    streams: usize,
    sent: Arc<AtomicUsize>,
) -> Result<usize> {
    let run = Arc::new(uuid::Uuid::new_v4().simple().to_string());
    let next = Arc::new(AtomicUsize::new(range.start));
    let tasks: Vec<_> = (0..streams.max(1))
        .map(|_| {
            let (user, room, tag, run, next, sent) = (
                user.clone(),
                room.clone(),
                tag.clone(),
                run.clone(),
                next.clone(),
                sent.clone(),
            );
            let end = range.end;
            tokio::spawn(async move {
                let mut retries = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        return Ok::<usize, anyhow::Error>(retries);
                    }
                    retries += send_one(
                        &user,
                        &room,
                        &numbered(&tag, i),
                        &format!("crash-{run}-{i}"),
                    )
                    .await?;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut retries = 0;
    for task in tasks {
        retries += task.await??;
    }
    Ok(retries)
}

/// The Matrix side of a homeserver-restart scenario: sends the first third of `0..n` (tag
/// `tag`), waits until the remote talker's counter `remote` reached a third of its load too,
/// then sends the rest in the background and returns once a few more were accepted, so sends
/// are in flight when the caller restarts the homeserver. The task returns the send retries.
pub async fn matrix_load_across_restart(
    user: Arc<TestUser>,
    room: OwnedRoomId,
    tag: &str,
    n: usize,
    streams: usize,
    sent: Arc<AtomicUsize>,
    remote: &AtomicUsize,
) -> Result<tokio::task::JoinHandle<Result<usize>>> {
    let third = n / 3;
    let first = send_numbered(
        user.clone(),
        room.clone(),
        tag.into(),
        0..third,
        streams,
        sent.clone(),
    )
    .await?;
    reached(remote, third).await?;
    let rest = tokio::spawn(send_numbered(
        user,
        room,
        tag.into(),
        third..n,
        streams,
        sent.clone(),
    ));
    reached(&sent, (third + 5).min(n)).await?;
    Ok(tokio::spawn(async move { Ok(first + rest.await??) }))
}

/// Sends one text under transaction ID `txn`, retrying until accepted; returns the retries.
async fn send_one(user: &TestUser, room: &RoomId, body: &str, txn: &str) -> Result<usize> {
    let content = json!({"msgtype": "m.text", "body": body});
    let give_up = Instant::now() + SEND_RETRY;
    let mut retries = 0;
    loop {
        match user
            .send_json_txn(room, "m.room.message", content.clone(), txn)
            .await
        {
            Ok(_) => return Ok(retries),
            Err(e) if Instant::now() < give_up => {
                retries += 1;
                tracing::debug!(error = %e, body, "send failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => bail!("{body:?} not accepted within {SEND_RETRY:?}: {e:#}"),
        }
    }
}

/// Sends message `i` for `i` in `0..n` with `say`, `rate` a second, each under a read guard of
/// `gate` (a test pauses the talker by taking the write guard: once it holds it, no line is
/// being written); `sent` counts. For remote talkers (a raw IRC client, an XMPP occupant).
pub async fn talk<F, Fut>(
    n: usize,
    rate: u64,
    gate: Arc<RwLock<()>>,
    sent: Arc<AtomicUsize>,
    say: F,
) -> Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..n {
        tick.tick().await;
        let _open = gate.read().await;
        say(i).await?;
        sent.store(i + 1, Ordering::Relaxed);
    }
    Ok(())
}

/// Waits (up to 10 min) until `counter` reaches `k`.
pub async fn reached(counter: &AtomicUsize, k: usize) -> Result<()> {
    crate::wait_until(Duration::from_secs(600), || {
        let now = counter.load(Ordering::Relaxed);
        async move { now >= k }
    })
    .await
}

/// The numbers of `tag` in the `m.room.message` events of `events` (a room's history), in
/// timeline order.
pub fn numbers_in_timeline(events: &[Value], tag: &str) -> Vec<usize> {
    numbers(tag, events.iter().filter_map(text_body))
}

/// The bot's notices in `events` (delivery failures tell the sender so, in reply to the
/// message), each as its text prefixed with the body of the message it answers, if any.
pub fn notices_from(events: &[Value], bot: &str) -> Vec<String> {
    let bodies: HashMap<&str, &str> = events
        .iter()
        .filter_map(|e| Some((e["event_id"].as_str()?, text_body(e)?)))
        .collect();
    events
        .iter()
        .filter(|e| e["sender"] == bot && e["content"]["msgtype"] == "m.notice")
        .filter_map(|e| {
            let text = e["content"]["body"].as_str()?;
            let about = e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
                .as_str()
                .and_then(|id| bodies.get(id));
            Some(match about {
                Some(body) => format!("[re {body:?}] {text}"),
                None => text.to_owned(),
            })
        })
        .collect()
}

/// The highest number of `tag` among the last `window` events of `room` (one request), if any.
pub async fn latest_number(
    user: &TestUser,
    room: &RoomId,
    tag: &str,
    window: u32,
) -> Option<usize> {
    let events = user.messages(room, window).await.ok()?;
    events
        .iter()
        .filter_map(text_body)
        .filter_map(|t| number(tag, t))
        .max()
}

/// Waits until `room` shows number `last` of `tag` (or nothing new arrived for [`STALL`]), then
/// returns the numbers of `tag` in the room's whole timeline, in order.
pub async fn matrix_numbers(
    user: &TestUser,
    room: &RoomId,
    tag: &str,
    last: usize,
) -> Result<Vec<usize>> {
    let (start, mut moved, mut best) = (Instant::now(), Instant::now(), None);
    loop {
        let now = latest_number(user, room, tag, 20).await;
        if now == Some(last) {
            break;
        }
        if now > best {
            (best, moved) = (now, Instant::now());
        }
        if moved.elapsed() > STALL || start.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Anything doubled by a replay would come right after; give it a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(numbers_in_timeline(&user.history(room).await?, tag))
}

/// Polls `done` every 100 ms until it is true; gives up after `stall` without `progress`
/// changing (a stalled relay fails in `stall`, a slow but moving one is given time) or after
/// `limit` overall. Returns whether `done` became true.
pub async fn wait_progress(
    limit: Duration,
    stall: Duration,
    mut progress: impl FnMut() -> usize,
    mut done: impl FnMut() -> bool,
) -> bool {
    let start = Instant::now();
    let (mut last, mut moved) = (progress(), Instant::now());
    loop {
        if done() {
            return true;
        }
        let now = progress();
        if now != last {
            (last, moved) = (now, Instant::now());
        }
        if moved.elapsed() > stall || start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_round_trips() {
        assert_eq!(number("m", &numbered("m", 42)), Some(42));
        assert_eq!(
            number("m", "m 0004"),
            None,
            "a cut line is not another number"
        );
        assert_eq!(number("m", "x 000042"), None);
    }

    #[test]
    fn tally_counts_each_fault() {
        let t = Tally::of(6, &[0, 2, 1, 2, 4, 9]);
        assert_eq!(t.missing, vec![3, 5]);
        assert_eq!(t.delivered, 4);
        assert_eq!(t.duplicated, 1);
        assert_eq!(t.out_of_order, 1);
        assert_eq!(t.unexpected, 1);
        assert!(!t.exactly_once_in_order());
        assert!(Tally::of(3, &[0, 1, 2]).exactly_once_in_order());
        // The timeline's order is the reference, not the numbers'.
        assert!(Tally::of_timeline(&[0, 2, 1], &[0, 2, 1]).exactly_once_in_order());
        assert_eq!(Tally::of_timeline(&[0, 2, 1], &[0, 1, 2]).out_of_order, 1);
    }

    #[test]
    fn ranges_compress() {
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
    }
}
