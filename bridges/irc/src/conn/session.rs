//! The connection task: connect, register, serve, and reconnect with backoff.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use irc::proto::{Command, Message};
use tokio::time::Instant;

use super::io::{self, Reader};
use super::outbox::Outbox;
use crate::pool::track::SocketState;

mod attach;
mod ircv3;

/// How long a QUIT may wait for the lines queued before it.
const QUIT_FLUSH: Duration = Duration::from_secs(2);
/// How long a detaching connection reads what the pool already sent.
const DETACH_DRAIN: Duration = Duration::from_secs(5);
use futures::StreamExt;

use super::{Auth, Cmd, CmdReceiver, ConnConfig, ConnEvent, EventSink, Shared, Step, Waiter};
use crate::backoff::{Backoff, ConnectLimiter};
use crate::flood::FloodControl;
use crate::ids::fold;
use crate::line::{is_channel_chatter, is_server_banner, parse_line};
use crate::nick::{DEFAULT_NICKLEN, alternatives};

/// Nicks tried during registration before giving up.
const MAX_ALTERNATIVES: usize = 50;
use crate::numerics::IrcFailure;

/// How long registration may take before the attempt counts as failed.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(60);

/// How a session ended.
enum End {
    /// Dropped or failed: reconnect after a backoff.
    Lost(String),
    /// Quit on request: stop.
    Quit,
    /// Reconnect now, maybe with a new config.
    Reconnect(Option<Box<ConnConfig>>),
}

pub(super) async fn run(
    mut config: ConnConfig,
    limiter: ConnectLimiter,
    events: &dyn EventSink,
    mut cmds: CmdReceiver,
    shared: Arc<Shared>,
) {
    let mut backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(120),
        Duration::from_secs(300),
    );
    loop {
        let started = Instant::now();
        let end = {
            let permit = tokio::select! {
                p = limiter.acquire() => p,
                end = idle(&mut cmds) => match end {
                    End::Quit => return,
                    _ => continue,
                },
            };
            // Lives as long as the socket: the identd answers for it meanwhile.
            let mut ident_lease = None;
            // Boxed: connecting (TLS handshake, pool attach) is the biggest state of this task,
            // and a task's future is as big as its biggest state for the connection's lifetime.
            match Box::pin(attach::open(&config, &shared, &mut ident_lease)).await {
                Ok((reader, writer, resumed)) => {
                    let mut session = Session::new(&config, events, &shared, writer);
                    session
                        .serve(reader, &mut cmds, Some(permit), resumed)
                        .await
                }
                Err(e) => End::Lost(format!("cannot connect: {e}")),
            }
        };
        shared.lock().registered = false;
        let _ = shared.registered.send(false);
        for entry in shared.lock().channels.values_mut() {
            entry.joined = false;
        }
        match end {
            End::Quit => return,
            End::Reconnect(new) => {
                if let Some(new) = new {
                    config = *new;
                }
                backoff.reset();
                continue;
            }
            End::Lost(reason) => {
                tracing::info!(network = %config.network, nick = %config.nick, %reason, "IRC connection lost");
                shared.lock().last_error = Some(reason.clone());
                events.deliver(ConnEvent::Disconnected { reason });
                backoff.on_disconnect(started.elapsed());
                // "Equal jitter": at least half the ceiling, so quick refusals during an
                // outage do not race the ceiling up; the wait stays within about twice the
                // outage, never hours.
                let ceiling = backoff.ceiling();
                let delay = ceiling / 2 + backoff.next_delay() / 2;
                let sleep = tokio::time::sleep(delay);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        end = idle(&mut cmds) => match end {
                            End::Quit => return,
                            End::Reconnect(new) => {
                                if let Some(new) = new { config = *new; }
                                backoff.reset();
                                break;
                            }
                            End::Lost(_) => {}
                        },
                    }
                }
            }
        }
    }
}

/// Handles commands while disconnected: requests fail at once (never silently), quit/reconnect
/// end the wait. Returns `Lost` after a plain send, so the caller keeps waiting.
async fn idle(cmds: &mut CmdReceiver) -> End {
    match cmds.next().await {
        None | Some(Cmd::Quit(_)) | Some(Cmd::Detach) => End::Quit,
        Some(Cmd::Reconnect(c)) => End::Reconnect(c),
        Some(Cmd::Send { waiter, .. }) => {
            if let Some(w) = waiter {
                let _ = w.tx.send(Err(IrcFailure::NotConnected {
                    target: "IRC".into(),
                }));
            }
            End::Lost(String::new())
        }
    }
}

struct Session<'a> {
    config: &'a ConnConfig,
    events: &'a dyn EventSink,
    shared: &'a Arc<Shared>,
    out: Outbox,
    waiters: Vec<Waiter>,
    registered: bool,
    nick: String,
    /// The nick registration started with, and how many of its alternatives were tried
    /// (made one at a time: most connections never need one).
    first_nick: String,
    alternatives_tried: usize,
    sasl_done: bool,
    /// IRCv3 capability negotiation (see `ircv3`).
    caps: super::caps::Negotiation,
}

impl<'a> Session<'a> {
    fn new(
        config: &'a ConnConfig,
        events: &'a dyn EventSink,
        shared: &'a Arc<Shared>,
        writer: io::Writer,
    ) -> Self {
        let out = Outbox::new(writer, FloodControl::from_config(&config.server.flood));
        // A new socket starts with an empty backlog, whatever the old one left unwritten.
        let queued = shared.queued.load(std::sync::atomic::Ordering::Relaxed);
        shared
            .written
            .store(queued, std::sync::atomic::Ordering::Relaxed);
        let nick = {
            let st = shared.lock();
            if st.desired_nick.is_empty() {
                config.nick.clone()
            } else {
                st.desired_nick.clone()
            }
        };
        ircv3::reset(shared);
        let sasl = config.auth.as_ref().and_then(Auth::sasl_mechanism);
        Self {
            config,
            events,
            shared,
            out,
            waiters: Vec::new(),
            registered: false,
            first_nick: nick.clone(),
            nick,
            alternatives_tried: 0,
            sasl_done: false,
            caps: ircv3::negotiation(config.channel_messages, sasl),
        }
    }

    /// Writes every queued line (the QUIT included), at most for `max`: a paced backlog is not
    /// worth holding a shutdown for.
    async fn flushed(&mut self, max: Duration) {
        // Boxed like connecting: a rare state should not size every idle connection's task.
        Box::pin(self.out.drain(max, &self.shared.written)).await;
    }

    fn send(&mut self, line: impl Into<String>) {
        self.shared
            .queued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.out.push(line.into());
    }

    async fn serve(
        &mut self,
        mut reader: Reader,
        cmds: &mut CmdReceiver,
        mut permit: Option<crate::backoff::ConnectPermit>,
        resumed: Option<SocketState>,
    ) -> End {
        match resumed {
            Some(state) => {
                self.resume(state);
                // Taken over registered: the connect slot is free at once.
                permit.take();
            }
            None => self.register_start(),
        }
        // Set by a detach: hand on what the pool already sent, then end without QUIT.
        let mut detaching: Option<Instant> = None;
        let ping_timeout = Duration::from_secs(self.config.server.ping_timeout_secs.max(10));
        let started = Instant::now();
        let mut last_seen = Instant::now();
        let mut pinged = false;
        loop {
            let deadline = if let Some(d) = detaching {
                d
            } else if self.registered {
                last_seen
                    + if pinged {
                        ping_timeout
                    } else {
                        ping_timeout / 2
                    }
            } else {
                started + REGISTER_TIMEOUT
            };
            let (busy, next_token) = (self.out.busy(), self.out.next_token());
            tokio::select! {
                read = reader.next_line() => match read {
                    Ok(true) => {
                        let buf = reader.line();
                        last_seen = Instant::now();
                        pinged = false;
                        if is_server_banner(buf)
                            || (!self.config.channel_messages
                                && is_channel_chatter(buf)
                                && !self.may_be_own_echo(buf))
                        {
                            continue;
                        }
                        match parse_line(buf) {
                            Ok(parsed) => {
                                if let Some(end) = self.handle(parsed.message) {
                                    self.fail_waiters();
                                    return end;
                                }
                                if self.registered {
                                    permit.take();
                                }
                            }
                            Err(e) => tracing::debug!(error = %e, "ignoring malformed IRC line"),
                        }
                    }
                    Ok(false) if detaching.is_some() || self.shared.detaching.load(std::sync::atomic::Ordering::Relaxed) => return End::Quit,
                    Ok(false) => { self.fail_waiters(); return End::Lost("connection closed by the server".into()); }
                    Err(e) => { self.fail_waiters(); return End::Lost(format!("read error: {e}")); }
                },
                cmd = cmds.next(), if detaching.is_none() => match cmd {
                    Some(Cmd::Detach) if self.config.pool.is_some() => {
                        self.fail_waiters();
                        detaching = Some(Instant::now() + DETACH_DRAIN);
                    }
                    None | Some(Cmd::Quit(_)) | Some(Cmd::Detach) => {
                        let reason = match cmd { Some(Cmd::Quit(r)) => r, _ => "bridge stopping".into() };
                        self.send(format!("QUIT :{reason}"));
                        self.flushed(QUIT_FLUSH).await;
                        self.fail_waiters();
                        return End::Quit;
                    }
                    Some(Cmd::Reconnect(c)) => {
                        self.send("QUIT :Reconnecting");
                        self.flushed(QUIT_FLUSH).await;
                        self.fail_waiters();
                        return End::Reconnect(c);
                    }
                    Some(Cmd::Send { lines, waiter }) => {
                        if !self.registered {
                            if let Some(w) = waiter {
                                let _ = w.tx.send(Err(IrcFailure::NotConnected { target: "IRC".into() }));
                            }
                            continue;
                        }
                        if let Some(w) = waiter {
                            let refusal = w.refusable
                                .then(|| super::refuse_backed_up(self.shared.backlog(), self.config.backlog_cap))
                                .flatten();
                            if let Some(f) = refusal {
                                let _ = w.tx.send(Err(f));
                                continue;
                            }
                            self.waiters.push(*w);
                        }
                        for l in lines { self.send(l); }
                    }
                },
                wrote = self.out.progress(&self.shared.written), if busy => {
                    if let Err(e) = wrote {
                        self.fail_waiters();
                        return End::Lost(format!("write error: {e}"));
                    }
                }
                // One timer for both the next flood token and the deadline: each is a timer
                // entry in every idle connection's task.
                _ = tokio::time::sleep_until(next_token.map_or(deadline, |t| t.min(deadline))) => {
                    if next_token.is_some() {
                        self.out.fill();
                    }
                    if Instant::now() < deadline {
                        continue;
                    }
                    if detaching.is_some() {
                        return End::Quit;
                    }
                    if !self.registered {
                        self.fail_waiters();
                        return End::Lost("registration timed out".into());
                    }
                    if pinged {
                        self.fail_waiters();
                        return End::Lost(format!("ping timeout ({}s without data)", ping_timeout.as_secs()));
                    }
                    self.send(io::KEEPALIVE);
                    pinged = true;
                }
            }
        }
    }

    fn register_start(&mut self) {
        // Servers without CAP ignore it (or answer 421) and register as before.
        self.send(super::caps::Negotiation::start());
        if let Some(Auth::ServerPassword(p)) = &self.config.auth {
            self.send(format!("PASS :{p}"));
        }
        self.send(format!("NICK {}", self.nick));
        self.send(format!(
            "USER {} 0 * :{}",
            self.config.ident, self.config.realname
        ));
    }

    fn fail_waiters(&mut self) {
        for w in self.waiters.drain(..) {
            let _ = w.tx.send(Err(IrcFailure::NotConnected {
                target: "IRC".into(),
            }));
        }
    }

    fn event(&self, e: ConnEvent) {
        self.events.deliver(e);
    }

    /// Handles one line; `Some` ends the session.
    fn handle(&mut self, msg: Message) -> Option<End> {
        match &msg.command {
            Command::PING(a, b) => {
                match b {
                    Some(b) => self.send(format!("PONG {a} :{b}")),
                    None => self.send(format!("PONG :{a}")),
                }
                return None;
            }
            Command::ERROR(text) => return Some(End::Lost(format!("server error: {text}"))),
            _ if self.on_cap_line(&msg) => return None,
            Command::AUTHENTICATE(arg) if arg == "+" => {
                // EXTERNAL: the certificate says who we are; the answer is empty.
                if let Some(Auth::External) = &self.config.auth {
                    self.send("AUTHENTICATE +");
                }
                if let Some(Auth::Sasl { account, password }) = &self.config.auth {
                    let raw = format!("{account}\0{account}\0{password}");
                    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                    // 400-byte chunks; an exact multiple ends with "+".
                    let chunks: Vec<&str> = encoded
                        .as_bytes()
                        .chunks(400)
                        .map(|c| std::str::from_utf8(c).unwrap_or_default())
                        .collect();
                    for c in &chunks {
                        self.send(format!("AUTHENTICATE {c}"));
                    }
                    if encoded.len() % 400 == 0 {
                        self.send("AUTHENTICATE +");
                    }
                }
                return None;
            }
            _ => {}
        }
        if let Command::Response(resp, args) = &msg.command {
            let code = *resp as u16;
            match code {
                903 => {
                    self.sasl_done = true;
                    let steps = self.caps.on_sasl_done();
                    self.apply_caps(steps);
                    return None;
                }
                902 | 904 | 905 | 906 => {
                    let steps = self.caps.on_sasl_done();
                    self.apply_caps(steps);
                    let failure = IrcFailure::from_message(&msg);
                    if let Some(f) = sasl_failure(failure, self.config.auth.as_ref()) {
                        self.event(ConnEvent::Failure(f));
                    }
                    return None;
                }
                1 => {
                    self.registered = true;
                    self.caps.on_registered();
                    let nick = args.first().cloned().unwrap_or_else(|| self.nick.clone());
                    self.on_registered(nick);
                    return None;
                }
                432 | 433 | 436 | 437 if !self.registered => {
                    match self.next_alternative() {
                        Some(alt) => {
                            self.nick = alt.clone();
                            self.send(format!("NICK {alt}"));
                        }
                        None => {
                            if let Some(f) = IrcFailure::from_message(&msg) {
                                self.event(ConnEvent::Failure(f));
                            }
                            return Some(End::Lost("no usable nick".into()));
                        }
                    }
                    return None;
                }
                464 | 465 => {
                    if let Some(f) = IrcFailure::from_message(&msg) {
                        self.shared.lock().last_error = Some(f.to_string());
                        self.event(ConnEvent::Failure(f));
                    }
                    return None;
                }
                _ => {}
            }
        }
        let before = self.nick.clone();
        if self.registered {
            self.track_self(&msg);
        }
        if !self.offer_to_waiters(&msg, &before) && !self.is_own_echo(&msg, &before) {
            self.event(ConnEvent::Message(Box::new(msg)));
        }
        None
    }

    /// The next nick to try when the server refuses ours during registration (at most
    /// [`MAX_ALTERNATIVES`]).
    fn next_alternative(&mut self) -> Option<String> {
        if self.alternatives_tried >= MAX_ALTERNATIVES {
            return None;
        }
        let alt = alternatives(&self.first_nick, DEFAULT_NICKLEN).nth(self.alternatives_tried)?;
        self.alternatives_tried += 1;
        Some(alt)
    }

    fn on_registered(&mut self, nick: String) {
        let (rejoin, desired) = {
            let mut st = self.shared.lock();
            st.nick = nick.clone();
            st.registered = true;
            st.last_error = None;
            if st.desired_nick.is_empty() {
                st.desired_nick = nick.clone();
            }
            let rejoin: Vec<(String, Option<String>)> = st
                .channels
                .values()
                .map(|c| (c.name.clone(), c.key.clone()))
                .collect();
            (rejoin, st.desired_nick.clone())
        };
        self.nick = nick.clone();
        tracing::info!(network = %self.config.network, %nick, "IRC connection registered");
        if let Some(Auth::NickServ { account, password }) = &self.config.auth {
            self.send(format!("PRIVMSG NickServ :IDENTIFY {account} {password}"));
        }
        // Restore the nick we had before a reconnect (a ghost of us may hold it briefly).
        if fold(&desired) != fold(&nick) {
            self.send(format!("NICK {desired}"));
        }
        for (name, key) in rejoin {
            match key {
                Some(k) => self.send(format!("JOIN {name} {k}")),
                None => self.send(format!("JOIN {name}")),
            }
        }
        let _ = self.shared.registered.send(true);
        self.event(ConnEvent::Registered { nick });
    }

    /// Keeps our own nick, host and channel list up to date.
    fn track_self(&mut self, msg: &Message) {
        let me = fold(&self.nick);
        let from_me = msg.source_nickname().is_some_and(|n| fold(n) == me);
        match &msg.command {
            Command::NICK(new) if from_me => {
                let old = std::mem::replace(&mut self.nick, new.clone());
                self.shared.lock().nick = new.clone();
                self.event(ConnEvent::NickChanged {
                    old,
                    new: new.clone(),
                });
            }
            Command::JOIN(chan, _, _) if from_me => {
                let mut st = self.shared.lock();
                if let Some(irc::proto::Prefix::Nickname(_, user, host)) = &msg.prefix {
                    st.user = Some(user.clone());
                    st.host = Some(host.clone());
                }
                let entry = st.channels.entry(fold(chan)).or_default();
                entry.name = chan.clone();
                entry.joined = true;
            }
            Command::PART(chan, _) if from_me => {
                self.shared.lock().channels.remove(&fold(chan));
            }
            Command::KICK(chan, who, _) if fold(who) == me => {
                self.shared.lock().channels.remove(&fold(chan));
            }
            _ => {}
        }
    }

    /// Gives the line to the first waiter that wants it; whether one did.
    fn offer_to_waiters(&mut self, msg: &Message, nick: &str) -> bool {
        self.waiters.retain(|w| !w.tx.is_closed());
        let mut taken = false;
        let mut i = 0;
        while i < self.waiters.len() {
            let step = (self.waiters[i].matcher)(msg, nick);
            match step {
                Step::Ignore => {
                    i += 1;
                    continue;
                }
                Step::Collect => {
                    self.waiters[i].collected.push(msg.clone());
                }
                Step::Done => {
                    let mut w = self.waiters.remove(i);
                    w.collected.push(msg.clone());
                    let _ = w.tx.send(Ok(w.collected));
                }
                Step::Fail(f) => {
                    let w = self.waiters.remove(i);
                    let _ = w.tx.send(Err(f));
                }
            }
            taken = true;
            break;
        }
        // Keep PONGs of our own confirmations out of the owner's way.
        taken || matches!(&msg.command, Command::PONG(..))
    }
}

/// A refused EXTERNAL login is about the certificate, not a password: say so.
pub(super) fn sasl_failure(failure: Option<IrcFailure>, auth: Option<&Auth>) -> Option<IrcFailure> {
    match (failure, auth) {
        (Some(IrcFailure::SaslFailed), Some(Auth::External)) => Some(IrcFailure::CertFpRefused),
        (f, _) => f,
    }
}
