//! One IRC connection (a Matrix user's puppet, or a network's listening bot): a task that owns
//! the socket, registers (SASL/PASS, nick collisions), answers pings, detects ping timeouts,
//! reconnects with jittered backoff under the network's connect limiter, and rejoins its
//! channels with its nick restored. Callers talk to it through [`Conn`], which never blocks on
//! another connection: every connection has its own task and queues.
//!
//! Requests that expect an answer ([`Conn::request`]) carry a [`Matcher`] that the task offers
//! every incoming line; messages are confirmed by a `PING` sent right after them, so an error
//! numeric (404, 401, …) for the message arrives before its `PONG` and is reported.

mod io;
mod session;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use irc::proto::{Command, Message};
use tokio::sync::{mpsc, oneshot, watch};

use crate::backoff::ConnectLimiter;
use crate::config::ServerConfig;
use crate::ids::fold;
use crate::numerics::IrcFailure;

/// How a connection authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// SASL PLAIN with this account name.
    Sasl { account: String, password: String },
    /// The connection password (`PASS`).
    ServerPassword(String),
    /// `PRIVMSG NickServ :IDENTIFY` after registration.
    NickServ { account: String, password: String },
}

/// Everything needed to (re)connect.
#[derive(Clone, Debug)]
pub struct ConnConfig {
    /// The network's name in the config (for logs).
    pub network: String,
    pub server: ServerConfig,
    /// The nick to register with (and restore after a reconnect).
    pub nick: String,
    pub ident: String,
    pub realname: String,
    pub auth: Option<Auth>,
}

/// What a connection reports to its owner.
#[derive(Clone, Debug)]
pub enum ConnEvent {
    /// Registered (001) under this nick.
    Registered { nick: String },
    /// A line no pending request claimed.
    Message(Message),
    /// A connection-level failure (SASL refused, nick refused, banned, …).
    Failure(IrcFailure),
    /// Our nick changed.
    NickChanged { old: String, new: String },
    /// The connection dropped; it reconnects by itself unless quit.
    Disconnected { reason: String },
}

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
}

pub(crate) enum Cmd {
    Send {
        lines: Vec<String>,
        waiter: Option<Waiter>,
    },
    Quit(String),
    Reconnect(Option<Box<ConnConfig>>),
}

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
}

pub(crate) struct Shared {
    pub state: Mutex<ConnState>,
    pub registered: watch::Sender<bool>,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handle on one connection; cheap to clone.
#[derive(Clone)]
pub struct Conn {
    cmd: mpsc::UnboundedSender<Cmd>,
    shared: Arc<Shared>,
    registered: watch::Receiver<bool>,
    counter: Arc<std::sync::atomic::AtomicU64>,
}

impl Conn {
    /// Starts the connection task; it connects right away.
    pub fn spawn(
        config: ConnConfig,
        limiter: ConnectLimiter,
        events: mpsc::UnboundedSender<ConnEvent>,
    ) -> Conn {
        let (cmd, cmd_rx) = mpsc::unbounded_channel();
        let (reg_tx, reg_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(ConnState {
                desired_nick: config.nick.clone(),
                ..ConnState::default()
            }),
            registered: reg_tx,
        });
        tokio::spawn(session::run(
            config,
            limiter,
            events,
            cmd_rx,
            shared.clone(),
        ));
        Conn {
            cmd,
            shared,
            registered: reg_rx,
            counter: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// A copy of what the connection knows.
    pub fn state(&self) -> ConnState {
        self.shared.lock().clone()
    }

    /// The current nick (empty before the first registration).
    pub fn nick(&self) -> String {
        self.shared.lock().nick.clone()
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
        let _ = self.cmd.send(Cmd::Send {
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
        let (tx, rx) = oneshot::channel();
        let waiter = Waiter {
            matcher,
            tx,
            collected: Vec::new(),
        };
        let target = || "IRC".to_owned();
        if self
            .cmd
            .send(Cmd::Send {
                lines,
                waiter: Some(waiter),
            })
            .is_err()
        {
            return Err(IrcFailure::NotConnected { target: target() });
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(IrcFailure::NotConnected { target: target() }),
            Err(_) => Err(IrcFailure::SendFailed {
                target: target(),
                reason: format!(
                    "no answer from the IRC server within {}s",
                    timeout.as_secs()
                ),
            }),
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
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = format!("fbc{n}");
        let mut all = lines;
        all.push(format!("PING :{token}"));
        let folded = fold(target);
        let matcher: Matcher = Box::new(move |msg, _me| {
            if let Command::PONG(a, b) = &msg.command
                && (a == &token || b.as_deref() == Some(token.as_str()))
            {
                return Step::Done;
            }
            match IrcFailure::from_message(msg) {
                Some(f) if failure_about(&f, &folded) => Step::Fail(f),
                _ => Step::Ignore,
            }
        });
        self.request(all, matcher, timeout)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                IrcFailure::NotConnected { .. } => IrcFailure::NotConnected {
                    target: target.to_owned(),
                },
                other => other,
            })
    }

    /// Joins `channel` (with `key`) unless already in it; remembers it for reconnects.
    pub async fn join(
        &self,
        channel: &str,
        key: Option<&str>,
        timeout: Duration,
    ) -> Result<(), IrcFailure> {
        let folded = fold(channel);
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
        let _ = self.cmd.send(Cmd::Quit(reason.to_owned()));
    }

    /// Reconnects now (with a new config, e.g. new credentials).
    pub fn reconnect(&self, config: Option<ConnConfig>) {
        let _ = self.cmd.send(Cmd::Reconnect(config.map(Box::new)));
    }
}

/// Whether a failure concerns the (folded) target.
fn failure_about(failure: &IrcFailure, folded_target: &str) -> bool {
    use crate::numerics::FailureTarget;
    match failure.target() {
        FailureTarget::Channel(c) | FailureTarget::Nick(c) => fold(c) == folded_target,
        FailureTarget::Connection => false,
    }
}
