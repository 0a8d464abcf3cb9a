//! One IRC connection (a Matrix user's puppet, or a network's listening bot): a task that owns
//! the socket, registers (SASL/PASS, nick collisions), answers pings, detects ping timeouts,
//! reconnects with jittered backoff under the network's connect limiter, and rejoins its
//! channels with its nick restored. Callers talk to it through [`Conn`], which never blocks on
//! another connection: every connection has its own task and queues.
//!
//! One task per connection, and only one: reading, commands, the flood-paced writing
//! ([`outbox`]) and timers share its `select!` loop, its buffers exist only while bytes wait in
//! them, and its owner's work runs in a task of its own only while there are events
//! ([`EventSink`]). An idle puppet connection costs about 8.5 KiB (see the IRC README).
//!
//! Requests that expect an answer ([`Conn::request`]) carry a [`Matcher`] that the task offers
//! every incoming line; messages are confirmed by a `PING` sent right after them, so an error
//! numeric (404, 401, …) for the message arrives before its `PONG` and is reported.

pub mod caps;
mod echo;
mod events;
pub(crate) mod io;
mod outbox;
mod session;
mod settings;

pub use events::{ConnEvent, EventSink};
pub use io::load_ca_file;
pub use settings::{Auth, ConnConfig, Pooled};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrybridge_core::tasks::Tasks;
use irc::proto::{Command, Message};
use tokio::sync::{oneshot, watch};

use crate::backoff::ConnectLimiter;
use crate::ids::fold;
use crate::numerics::IrcFailure;

/// What a [`Matcher`] makes of an incoming line.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Not for this request.
    Ignore,
    /// Part of the answer; keep waiting.
    Collect,
    /// The last line of the answer.
    Done,
    /// The request failed.
    Fail(IrcFailure),
}

/// Looks at incoming lines for a request's answer; gets our current nick too.
pub type Matcher = Box<dyn FnMut(&Message, &str) -> Step + Send>;

pub(crate) struct Waiter {
    matcher: Matcher,
    tx: oneshot::Sender<Result<Vec<Message>, IrcFailure>>,
    collected: Vec<Message>,
    /// Whether a full backlog refuses these lines: true for Matrix messages
    /// ([`Conn::queue_confirmed`]), false for what keeps the connection itself working
    /// (joins, nick changes).
    refusable: bool,
}

/// What the owner asks of the connection task. Kept small (the waiter boxed): every
/// connection's command channel allocates a block of 32 commands when it is made.
pub(crate) enum Cmd {
    Send {
        lines: Vec<String>,
        waiter: Option<Box<Waiter>>,
    },
    Quit(String),
    Reconnect(Option<Box<ConnConfig>>),
    /// End the task but leave the pooled socket on IRC (bridge restart with a pool).
    Detach,
}

/// The command queue of a connection: futures' unbounded channel, which allocates per command
/// rather than a block of 32 up front as tokio's does (1.5 KiB for every idle puppet).
type CmdSender = futures::channel::mpsc::UnboundedSender<Cmd>;
pub(crate) type CmdReceiver = futures::channel::mpsc::UnboundedReceiver<Cmd>;

/// A channel this connection is (or should be, after a reconnect) in.
#[derive(Clone, Debug, Default)]
pub struct ChannelEntry {
    pub name: String,
    pub key: Option<String>,
    pub joined: bool,
}

/// What the connection knows about itself.
#[derive(Clone, Debug, Default)]
pub struct ConnState {
    /// The nick we have now (empty before registration).
    pub nick: String,
    /// The nick we want (restored after reconnects).
    pub desired_nick: String,
    pub user: Option<String>,
    pub host: Option<String>,
    /// Channels by folded name.
    pub channels: BTreeMap<String, ChannelEntry>,
    pub registered: bool,
    /// Why the last attempt failed, for "not connected" notices.
    pub last_error: Option<String>,
    /// Our end and the server's end of the latest socket (ident lookups name them).
    pub local_addr: Option<std::net::SocketAddr>,
    pub peer_addr: Option<std::net::SocketAddr>,
    /// The IRCv3 capabilities the server acknowledged on this connection (empty when it
    /// offers none); see [`Conn::has_cap`].
    pub caps: BTreeSet<String>,
}

pub(crate) struct Shared {
    pub state: Mutex<ConnState>,
    pub registered: watch::Sender<bool>,
    /// Lines handed to the writer and lines it has written: their difference is the backlog
    /// the flood control is still pacing, which must not count against a request's timeout.
    pub queued: AtomicU64,
    pub written: AtomicU64,
    /// Set by [`Conn::detach`] before the task hears of it: a pooled stream that ends now is
    /// the bridge stopping, not a lost connection.
    pub detaching: std::sync::atomic::AtomicBool,
    /// Numbers the PINGs that confirm sends.
    pub confirmations: AtomicU64,
    /// Taken by [`Conn::join`]: a second join of a channel while the first is in flight waits
    /// for it rather than sending another JOIN, whose echo the first would take.
    pub joins: tokio::sync::Mutex<()>,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lines queued but not yet written.
    pub fn backlog(&self) -> u64 {
        self.queued
            .load(Ordering::Relaxed)
            .saturating_sub(self.written.load(Ordering::Relaxed))
    }
}

/// A handle on one connection; cheap to clone.
#[derive(Clone)]
pub struct Conn {
    cmd: CmdSender,
    shared: Arc<Shared>,
    registered: watch::Receiver<bool>,
}

impl Conn {
    /// Starts the connection task; it connects right away.
    pub fn spawn(
        config: ConnConfig,
        limiter: ConnectLimiter,
        events: impl EventSink,
        tasks: &Tasks,
    ) -> Conn {
        Self::spawn_with(config, limiter, tasks, |_| events)
    }

    /// [`Conn::spawn`] for an owner that needs the connection's handle to handle its events:
    /// `sink` gets it before the task starts, so no event can come before the owner is ready.
    pub fn spawn_with<S: EventSink>(
        config: ConnConfig,
        limiter: ConnectLimiter,
        tasks: &Tasks,
        sink: impl FnOnce(&Conn) -> S,
    ) -> Conn {
        let (cmd, cmd_rx) = futures::channel::mpsc::unbounded();
        let (reg_tx, reg_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(ConnState {
                desired_nick: config.nick.clone(),
                ..ConnState::default()
            }),
            registered: reg_tx,
            queued: AtomicU64::new(0),
            written: AtomicU64::new(0),
            detaching: Default::default(),
            confirmations: AtomicU64::new(0),
            joins: Default::default(),
        });
        let conn = Conn {
            cmd,
            shared: shared.clone(),
            registered: reg_rx,
        };
        let events = sink(&conn);
        tasks.spawn(async move {
            session::run(config, limiter, &events, cmd_rx, shared).await;
            events.deliver(ConnEvent::Closed);
        });
        conn
    }

    /// A copy of what the connection knows.
    pub fn state(&self) -> ConnState {
        self.shared.lock().clone()
    }

    /// The current nick (empty before the first registration).
    pub fn nick(&self) -> String {
        self.shared.lock().nick.clone()
    }

    /// Whether the server acknowledged the IRCv3 capability `cap` on the current connection.
    pub fn has_cap(&self, cap: &str) -> bool {
        self.shared.lock().caps.contains(cap)
    }

    /// Whether the connection is registered right now.
    pub fn is_registered(&self) -> bool {
        *self.registered.borrow()
    }

    /// Whether the connection task has ended (after `quit`).
    pub fn is_closed(&self) -> bool {
        self.cmd.is_closed()
    }

    /// Waits until registered, or fails with the last connection error after `timeout`.
    pub async fn wait_registered(&self, timeout: Duration) -> Result<(), IrcFailure> {
        let mut rx = self.registered.clone();
        match tokio::time::timeout(timeout, rx.wait_for(|r| *r)).await {
            Ok(Ok(_)) => Ok(()),
            _ => {
                let why = self
                    .shared
                    .lock()
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "still connecting".into());
                Err(IrcFailure::SendFailed {
                    target: "IRC".into(),
                    reason: format!("not connected to IRC after {}s ({why})", timeout.as_secs()),
                })
            }
        }
    }

    /// Sends lines without waiting for an answer.
    pub fn send(&self, lines: Vec<String>) {
        let _ = self.cmd.unbounded_send(Cmd::Send {
            lines,
            waiter: None,
        });
    }

    /// Sends lines and waits for the answer `matcher` recognises.
    pub async fn request(
        &self,
        lines: Vec<String>,
        matcher: Matcher,
        timeout: Duration,
    ) -> Result<Vec<Message>, IrcFailure> {
        self.start_request(lines, matcher, timeout).await
    }

    /// Queues lines with their matcher now (so requests keep the order they were made in) and
    /// returns the wait for the answer. The `timeout` counts only while nothing of ours is
    /// waiting in the flood-paced backlog: a long paste is slow, not lost. A dead connection
    /// still fails the wait at once (its waiters are dropped), a silent one by ping timeout.
    pub fn start_request(
        &self,
        lines: Vec<String>,
        matcher: Matcher,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Vec<Message>, IrcFailure>> + Send + 'static {
        self.enqueue(lines, matcher, timeout, false)
    }

    /// [`Conn::start_request`], saying whether a full backlog may refuse the lines.
    fn enqueue(
        &self,
        lines: Vec<String>,
        matcher: Matcher,
        timeout: Duration,
        refusable: bool,
    ) -> impl std::future::Future<Output = Result<Vec<Message>, IrcFailure>> + Send + 'static {
        let (tx, mut rx) = oneshot::channel();
        let waiter = Waiter {
            matcher,
            tx,
            collected: Vec::new(),
            refusable,
        };
        let queued = self
            .cmd
            .unbounded_send(Cmd::Send {
                lines,
                waiter: Some(Box::new(waiter)),
            })
            .is_ok();
        let shared = self.shared.clone();
        async move {
            let target = || "IRC".to_owned();
            if !queued {
                return Err(IrcFailure::NotConnected { target: target() });
            }
            loop {
                match tokio::time::timeout(timeout, &mut rx).await {
                    Ok(Ok(result)) => return result,
                    Ok(Err(_)) => return Err(IrcFailure::NotConnected { target: target() }),
                    Err(_) if shared.backlog() > 0 => continue,
                    Err(_) => {
                        return Err(IrcFailure::SendFailed {
                            target: target(),
                            reason: format!(
                                "no answer from the IRC server within {}s",
                                timeout.as_secs()
                            ),
                        });
                    }
                }
            }
        }
    }

    /// Sends lines to `target` (PRIVMSG/NOTICE/KICK/TOPIC …) followed by a PING, and succeeds
    /// when the PONG comes back without an error numeric about `target` before it.
    pub async fn send_confirmed(
        &self,
        target: &str,
        lines: Vec<String>,
        timeout: Duration,
    ) -> Result<(), IrcFailure> {
        self.queue_confirmed(target, lines, timeout).await
    }

    /// Like [`Conn::send_confirmed`], but the lines are queued before this returns and only the
    /// verdict is left to wait for, so a chat's messages can be pipelined. Every error numeric
    /// about `target` up to the PONG belongs to these lines (the server answers in order); the
    /// first one is the verdict. When the connection is already `backlog_cap` lines behind,
    /// the lines are not queued and the verdict is [`IrcFailure::BackedUp`].
    pub fn queue_confirmed(
        &self,
        target: &str,
        lines: Vec<String>,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<(), IrcFailure>> + Send + 'static {
        let n = self.shared.confirmations.fetch_add(1, Ordering::Relaxed);
        let token = format!("fbc{n}");
        let mut all = lines;
        all.push(format!("PING :{token}"));
        let folded = fold(target);
        let mut failed: Option<IrcFailure> = None;
        let matcher: Matcher = Box::new(move |msg, _me| {
            if let Command::PONG(a, b) = &msg.command
                && (a == &token || b.as_deref() == Some(token.as_str()))
            {
                return match failed.take() {
                    Some(f) => Step::Fail(f),
                    None => Step::Done,
                };
            }
            match IrcFailure::from_message(msg) {
                Some(f) if failure_about(&f, &folded) => {
                    failed.get_or_insert(f);
                    Step::Collect
                }
                _ => Step::Ignore,
            }
        });
        let wait = self.enqueue(all, matcher, timeout, true);
        let target = target.to_owned();
        async move {
            wait.await.map(|_| ()).map_err(|e| match e {
                IrcFailure::NotConnected { .. } => IrcFailure::NotConnected { target },
                IrcFailure::BackedUp { lines, .. } => IrcFailure::BackedUp { target, lines },
                other => other,
            })
        }
    }

    /// Joins `channel` (with `key`) unless already in it; remembers it for reconnects.
    pub async fn join(
        &self,
        channel: &str,
        key: Option<&str>,
        timeout: Duration,
    ) -> Result<(), IrcFailure> {
        let folded = fold(channel);
        if self.in_channel(channel) {
            return Ok(());
        }
        let _one_at_a_time = self.shared.joins.lock().await;
        let stored_key = {
            let mut st = self.shared.lock();
            let entry = st.channels.entry(folded.clone()).or_default();
            if entry.joined {
                return Ok(());
            }
            entry.name = channel.to_owned();
            if let Some(k) = key {
                entry.key = Some(k.to_owned());
            }
            entry.key.clone()
        };
        let line = match &stored_key {
            Some(k) => format!("JOIN {channel} {k}"),
            None => format!("JOIN {channel}"),
        };
        let f2 = folded.clone();
        let matcher: Matcher = Box::new(move |msg, me| {
            if let Command::JOIN(chan, _, _) = &msg.command
                && fold(chan) == f2
                && msg.source_nickname().is_some_and(|n| fold(n) == fold(me))
            {
                return Step::Done;
            }
            match IrcFailure::from_message(msg) {
                Some(f) if failure_about(&f, &f2) => Step::Fail(f),
                _ => Step::Ignore,
            }
        });
        let result = self.request(vec![line], matcher, timeout).await;
        if result.is_err() {
            let mut st = self.shared.lock();
            if st.channels.get(&folded).is_some_and(|c| !c.joined) {
                st.channels.remove(&folded);
            }
        }
        result.map(|_| ())
    }

    /// Leaves `channel` and forgets it.
    pub fn part(&self, channel: &str, reason: Option<&str>) {
        let was = self.shared.lock().channels.remove(&fold(channel));
        if was.is_some() {
            self.send(vec![match reason {
                Some(r) => format!("PART {channel} :{r}"),
                None => format!("PART {channel}"),
            }]);
        }
    }

    /// Whether the connection is in `channel`.
    pub fn in_channel(&self, channel: &str) -> bool {
        self.shared
            .lock()
            .channels
            .get(&fold(channel))
            .is_some_and(|c| c.joined)
    }

    /// Changes nick; the new nick on success (also kept for reconnects).
    pub async fn change_nick(&self, nick: &str, timeout: Duration) -> Result<String, IrcFailure> {
        let wanted = nick.to_owned();
        let matcher: Matcher = Box::new(move |msg, me| {
            if let Command::NICK(new) = &msg.command
                && msg.source_nickname().is_some_and(|n| fold(n) == fold(me))
                && fold(new) == fold(&wanted)
            {
                return Step::Done;
            }
            match IrcFailure::from_message(msg) {
                Some(
                    f @ (IrcFailure::NickInUse { .. }
                    | IrcFailure::ErroneousNick { .. }
                    | IrcFailure::NickCollision { .. }
                    | IrcFailure::Unavailable { .. }),
                ) => Step::Fail(f),
                _ => Step::Ignore,
            }
        });
        if fold(&self.nick()) == fold(nick) && self.nick() == nick {
            return Ok(nick.to_owned());
        }
        self.request(vec![format!("NICK {nick}")], matcher, timeout)
            .await?;
        self.shared.lock().desired_nick = nick.to_owned();
        Ok(nick.to_owned())
    }

    /// Sets the nick to restore after reconnects without sending anything.
    pub fn set_desired_nick(&self, nick: &str) {
        self.shared.lock().desired_nick = nick.to_owned();
    }

    /// Quits and ends the task.
    pub fn quit(&self, reason: &str) {
        let _ = self.cmd.unbounded_send(Cmd::Quit(reason.to_owned()));
    }

    /// Ends the task without QUIT, leaving a pooled socket connected for the next bridge
    /// process; the lines already read are still handed on. Without a pool, a quit.
    pub fn detach(&self) {
        self.shared.detaching.store(true, Ordering::Relaxed);
        let _ = self.cmd.unbounded_send(Cmd::Detach);
    }

    /// Reconnects now (with a new config, e.g. new credentials).
    pub fn reconnect(&self, config: Option<ConnConfig>) {
        let _ = self
            .cmd
            .unbounded_send(Cmd::Reconnect(config.map(Box::new)));
    }
}

/// Records both ends of a new socket and, with the identd on, registers the connection's ident
/// for the socket's lifetime (the lease is dropped with the session).
fn on_connected(
    config: &ConnConfig,
    shared: &Shared,
    local: std::net::SocketAddr,
    peer: std::net::SocketAddr,
) -> Option<crate::identd::IdentLease> {
    {
        let mut st = shared.lock();
        st.local_addr = Some(local);
        st.peer_addr = Some(peer);
    }
    let registry = config.identd.as_ref()?;
    Some(registry.register(local, peer, &config.ident))
}

/// The refusal of a Matrix message that finds `backlog` lines queued, if that is at `cap`
/// already. Only the backlog at arrival counts, so one long message may take it past the cap,
/// but a message is never refused for its own length.
fn refuse_backed_up(backlog: u64, cap: usize) -> Option<IrcFailure> {
    let cap = u64::try_from(cap).unwrap_or(u64::MAX);
    (backlog >= cap).then(|| IrcFailure::BackedUp {
        target: "IRC".into(),
        lines: backlog,
    })
}

/// Whether a failure concerns the (folded) target.
fn failure_about(failure: &IrcFailure, folded_target: &str) -> bool {
    use crate::numerics::FailureTarget;
    match failure.target() {
        FailureTarget::Channel(c) | FailureTarget::Nick(c) => fold(c) == folded_target,
        FailureTarget::Connection => false,
    }
}

#[cfg(test)]
mod ircv3_tests;
#[cfg(test)]
mod tests;
