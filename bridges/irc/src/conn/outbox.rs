//! A connection's outgoing lines, kept and written by its session task (no writer task of its
//! own: an idle puppet connection is one task). Lines wait for a flood-control token, then go
//! into a batch that the session writes with cancel-safe `write` calls from its `select!`, so
//! reading, commands and writing share one loop and a full socket never blocks reading.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::io::{KEEPALIVE, Writer};
use crate::flood::FloodControl;

/// Lines move from the waiting queue into a batch until it is this big.
const BATCH_BYTES: usize = 16 * 1024;

/// The write side of one socket.
pub(super) struct Outbox {
    writer: Writer,
    flood: FloodControl,
    /// Paced lines waiting for a flood token, in order.
    waiting: VecDeque<String>,
    /// Bytes of lines that have their tokens, being written; `sent` of them are.
    batch: Vec<u8>,
    sent: usize,
    /// Lines in `batch`, counted as written when the whole batch is.
    batch_lines: u64,
    /// When the flood control has the next token for the waiting queue's first line.
    next_token: Option<Instant>,
    /// Written since the last flush.
    unflushed: bool,
}

impl Outbox {
    pub fn new(writer: Writer, flood: FloodControl) -> Self {
        Self {
            writer,
            flood,
            waiting: VecDeque::new(),
            batch: Vec::new(),
            sent: 0,
            batch_lines: 0,
            next_token: None,
            unflushed: false,
        }
    }

    /// Queues a line (CR, LF and NUL are stripped: one line stays one line). Answers to pings
    /// and our keepalive go ahead of a paced backlog, or a long paste would look like a ping
    /// timeout; QUIT keeps its place after the lines before it but needs no token.
    pub fn push(&mut self, line: String) {
        if line.starts_with("PONG ") || line == KEEPALIVE {
            self.append(&line);
        } else {
            self.waiting.push_back(line);
            self.fill();
        }
    }

    /// Whether the socket has work: bytes to write, or written ones to flush (TLS keeps
    /// records it could not send yet).
    pub fn busy(&self) -> bool {
        self.sent < self.batch.len() || self.unflushed
    }

    /// When the next paced line gets its token, if lines wait for one.
    pub fn next_token(&self) -> Option<Instant> {
        self.next_token
    }

    /// One step of writing (some of the batch, or the flush after it); cancel-safe: bytes the
    /// socket took are counted before anything else can happen. Only call when
    /// [`Outbox::busy`]. A finished batch adds its lines to `written`.
    pub async fn progress(&mut self, written: &AtomicU64) -> std::io::Result<()> {
        if self.sent < self.batch.len() {
            let n = self.writer.write(&self.batch[self.sent..]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.unflushed = true;
            self.wrote(n, written);
        } else if self.unflushed {
            self.writer.flush().await?;
            self.unflushed = false;
        }
        Ok(())
    }

    fn wrote(&mut self, n: usize, written: &AtomicU64) {
        self.sent += n;
        if self.sent < self.batch.len() {
            return;
        }
        written.fetch_add(self.batch_lines, Ordering::Relaxed);
        self.batch_lines = 0;
        self.sent = 0;
        self.batch.clear();
        self.fill();
        if self.batch.is_empty() && self.waiting.is_empty() {
            // An idle connection keeps no buffer (a busy one reuses its batch).
            self.batch = Vec::new();
            self.waiting = VecDeque::new();
        }
    }

    /// Gives waiting lines their tokens, into the batch, as far as tokens and room allow.
    pub fn fill(&mut self) {
        self.next_token = None;
        while let Some(line) = self.waiting.front() {
            if self.batch.len() >= BATCH_BYTES {
                return;
            }
            if !line.starts_with("QUIT")
                && let Err(wait) = self.flood.try_acquire()
            {
                self.next_token = Some(Instant::now() + wait);
                return;
            }
            if let Some(line) = self.waiting.pop_front() {
                self.append(&line);
            }
        }
    }

    fn append(&mut self, line: &str) {
        self.batch
            .extend(line.bytes().filter(|b| !matches!(b, b'\r' | b'\n' | b'\0')));
        self.batch.extend_from_slice(b"\r\n");
        self.batch_lines += 1;
    }

    /// Writes everything queued (still paced), at most for `max`, then closes the write side:
    /// how a QUIT leaves.
    pub async fn drain(&mut self, max: Duration, written: &AtomicU64) {
        let deadline = Instant::now() + max;
        let all = async {
            loop {
                if self.busy() {
                    if self.progress(written).await.is_err() {
                        return;
                    }
                } else if let Some(at) = self.next_token {
                    tokio::time::sleep_until(at).await;
                    self.fill();
                } else {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout_at(deadline, all).await;
        let _ = tokio::time::timeout_at(deadline, self.writer.shutdown()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Long enough for every test's paced lines.
    const ALL: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn batches_queued_lines_strips_breaks_and_counts_them() {
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let mut out = Outbox::new(Box::new(ours), FloodControl::new(100, 100.0));
        for line in ["PRIVMSG #a :one", "PRIVMSG #a :two\r\nQUIT", "PING :x"] {
            out.push(line.to_owned());
        }
        let written = AtomicU64::new(0);
        out.drain(ALL, &written).await;
        assert_eq!(written.load(Ordering::Relaxed), 3);
        drop(out);
        let mut got = String::new();
        theirs.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "PRIVMSG #a :one\r\nPRIVMSG #a :twoQUIT\r\nPING :x\r\n");
    }

    #[tokio::test(start_paused = true)]
    async fn paced_lines_wait_for_tokens_but_pongs_go_ahead() {
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let mut out = Outbox::new(Box::new(ours), FloodControl::new(1, 1.0));
        out.push("PRIVMSG #a :one".into());
        out.push("PRIVMSG #a :two".into());
        out.push("PONG :urgent".into());
        // The first line has its token, the PONG goes with it; the second waits ~1 s.
        let waited = out.next_token().expect("second line waits") - Instant::now();
        assert!(waited > Duration::from_millis(900), "{waited:?}");
        let written = AtomicU64::new(0);
        let start = Instant::now();
        out.drain(ALL, &written).await;
        assert!(start.elapsed() >= Duration::from_millis(900));
        assert_eq!(written.load(Ordering::Relaxed), 3);
        drop(out);
        let mut got = String::new();
        theirs.read_to_string(&mut got).await.unwrap();
        assert_eq!(
            got,
            "PRIVMSG #a :one\r\nPONG :urgent\r\nPRIVMSG #a :two\r\n"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn quit_keeps_its_place_without_a_token_and_drain_stops_at_its_deadline() {
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let mut out = Outbox::new(Box::new(ours), FloodControl::new(1, 0.5));
        out.push("PRIVMSG #a :one".into());
        out.push("PRIVMSG #a :two".into());
        out.push("QUIT :bye".into());
        let written = AtomicU64::new(0);
        out.drain(Duration::from_secs(5), &written).await;
        // "two" waited 2 s for its token; QUIT went right after it.
        assert_eq!(written.load(Ordering::Relaxed), 3);
        let mut got = String::new();
        theirs.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "PRIVMSG #a :one\r\nPRIVMSG #a :two\r\nQUIT :bye\r\n");

        let (ours, _theirs) = tokio::io::duplex(64 * 1024);
        let mut out = Outbox::new(Box::new(ours), FloodControl::new(1, 0.01));
        out.push("PRIVMSG #a :one".into());
        out.push("PRIVMSG #a :two".into());
        let written = AtomicU64::new(0);
        let start = Instant::now();
        out.drain(Duration::from_secs(2), &written).await;
        assert!(start.elapsed() <= Duration::from_secs(2) + Duration::from_millis(10));
        assert_eq!(written.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn an_idle_outbox_gives_its_buffers_back() {
        let (ours, _theirs) = tokio::io::duplex(64 * 1024);
        let mut out = Outbox::new(Box::new(ours), FloodControl::new(10, 10.0));
        out.push("PRIVMSG #a :hello".into());
        let written = AtomicU64::new(0);
        out.drain(ALL, &written).await;
        assert_eq!(out.batch.capacity(), 0);
        assert_eq!(out.waiting.capacity(), 0);
    }
}
