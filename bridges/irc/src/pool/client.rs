//! The bridge's side of the pool: [`PoolClient::attach`] gives a connection task a byte stream
//! that behaves like a socket (lines in, lines out) over Redis, taking over the pool's socket
//! as it is when this process has not used the key before (a bridge restart). One consumer task
//! reads the events stream through the bridge's consumer group and routes each event to its
//! connection; one writer task sends commands in order. An event is acknowledged once it is
//! handed to its connection, so what arrived while the bridge was away, or was read but not
//! yet handed on when it stopped, is delivered after the next start.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrybridge_core::tasks::Tasks;
use redis::aio::MultiplexedConnection;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::track::SocketState;
use super::wire::{Command, ConnKey, Event, GROUP, Gen, Keys, SocketSpec};
use super::{PoolConfig, PoolError, connect, entries, xadd};
use crate::conn::io::{self, Reader, Writer};
use crate::net::lock;

/// How long an open waits for the pool to report the socket up (it gives up connecting after
/// 30 s itself).
const OPEN_WAIT: Duration = Duration::from_secs(40);
/// Most lines held for connections not attached yet (after a restart, before restore).
const MAX_UNATTACHED_LINES: usize = 100_000;
/// How often the consumer checks the pool's heartbeat.
const ALIVE_CHECK: Duration = Duration::from_secs(3);

/// A pooled socket as its connection task sees it.
pub struct Attached {
    pub reader: Reader,
    pub writer: Writer,
    /// The socket was taken over registered, in this state: no registration, no rejoins.
    pub resumed: Option<SocketState>,
}

struct Route {
    generation: Gen,
    tx: mpsc::UnboundedSender<Event>,
}

#[derive(Default)]
struct Routes {
    by_key: HashMap<ConnKey, Route>,
    /// Events for keys nobody attached yet, with their stream IDs (acknowledged when handed
    /// on, so a stop before that loses nothing).
    unattached: HashMap<ConnKey, Vec<(String, Event)>>,
    unattached_lines: usize,
    /// The last socket of each key whose stream ended.
    ended: HashMap<ConnKey, Gen>,
}

/// The bridge's handle on the pool; one per bridge process, shared by its networks.
pub struct PoolClient {
    config: PoolConfig,
    keys: Keys,
    commands: mpsc::UnboundedSender<Command>,
    commands_rx: Mutex<Option<mpsc::UnboundedReceiver<Command>>>,
    routes: Mutex<Routes>,
    /// Keys attached before by this process: only a first attach takes a socket over.
    attached: Mutex<HashSet<ConnKey>>,
    redis: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// IDs handed on whose acknowledgement is due.
    acks: Mutex<Vec<String>>,
    stopping: CancellationToken,
    tasks: Mutex<Option<Tasks>>,
}

impl PoolClient {
    /// A client for `config`; nothing talks to Redis before [`PoolClient::start`].
    pub fn new(config: PoolConfig) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            keys: Keys::new(&config.key_prefix),
            config,
            commands: tx,
            commands_rx: Mutex::new(Some(rx)),
            routes: Mutex::default(),
            attached: Mutex::default(),
            redis: tokio::sync::Mutex::new(None),
            acks: Mutex::default(),
            stopping: CancellationToken::new(),
            tasks: Mutex::new(None),
        })
    }

    /// Starts the consumer and the command writer.
    pub fn start(self: &Arc<Self>, tasks: &Tasks) {
        *lock(&self.tasks) = Some(tasks.clone());
        tasks.spawn(self.clone().consume());
        if let Some(rx) = lock(&self.commands_rx).take() {
            tasks.spawn(self.clone().write_commands(rx));
        }
    }

    /// Stops reading events and ends every attached stream (the connection tasks, told to
    /// detach, read what was handed to them and end); the pool keeps the sockets.
    pub fn stop(&self) {
        self.stopping.cancel();
        let mut routes = lock(&self.routes);
        routes.by_key.clear();
    }

    /// A Redis connection for single requests.
    async fn redis(&self) -> Result<MultiplexedConnection, PoolError> {
        let mut slot = self.redis.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = connect(&self.config.redis_url, false).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn forget_redis(&self) {
        *self.redis.lock().await = None;
    }

    async fn pool_alive(&self) -> Result<bool, PoolError> {
        let mut conn = self.redis().await?;
        let r: Result<bool, _> = redis::cmd("EXISTS")
            .arg(self.keys.alive())
            .query_async(&mut conn)
            .await;
        match r {
            Ok(b) => Ok(b),
            Err(e) => {
                self.forget_redis().await;
                Err(e.into())
            }
        }
    }

    /// Keys of the pool's open sockets on `network` (to take over puppets after a restart).
    pub async fn pooled_keys(&self, network: &str) -> Result<Vec<ConnKey>, PoolError> {
        let mut conn = self.redis().await?;
        let raw: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.conns())
            .query_async(&mut conn)
            .await?;
        Ok(raw
            .iter()
            .filter_map(|k| ConnKey::parse(k).ok())
            .filter(|k| k.network() == network)
            .collect())
    }

    /// A socket for `key`: the pool's registered one if this process never attached `key`
    /// (a restart takes it over), else a new one as `spec` says.
    pub async fn attach(
        self: &Arc<Self>,
        key: &ConnKey,
        spec: SocketSpec,
    ) -> Result<Attached, PoolError> {
        if self.stopping.is_cancelled() {
            return Err(PoolError::Closed("the bridge is stopping".into()));
        }
        if !self.pool_alive().await? {
            return Err(PoolError::NotRunning);
        }
        let first = lock(&self.attached).insert(key.clone());
        if first && let Some((generation, state)) = self.stored_state(key).await? {
            let rx = self.route(key, generation);
            tracing::info!(key = %key.as_str(), nick = %state.nick, channels = state.channels.len(), "taking over a pooled IRC connection");
            return Ok(self.stream(key.clone(), generation, rx, Some(state)));
        }
        let generation: Gen = rand::random();
        let mut rx = self.route(key, generation);
        let _ = self.commands.send(Command::Open {
            key: key.clone(),
            generation,
            spec: Box::new(spec),
        });
        let answer = tokio::time::timeout(OPEN_WAIT, rx.recv()).await;
        match answer {
            Ok(Some(Event::Connected { .. })) => Ok(self.stream(key.clone(), generation, rx, None)),
            Ok(Some(Event::Closed { reason, .. })) => {
                self.unroute(key, generation);
                Err(PoolError::Closed(reason))
            }
            Ok(_) => {
                self.unroute(key, generation);
                Err(PoolError::Closed("the bridge is stopping".into()))
            }
            Err(_) => {
                self.unroute(key, generation);
                Err(PoolError::Timeout(OPEN_WAIT))
            }
        }
    }

    async fn stored_state(&self, key: &ConnKey) -> Result<Option<(Gen, SocketState)>, PoolError> {
        let mut conn = self.redis().await?;
        let map: HashMap<String, redis::Value> = redis::cmd("HGETALL")
            .arg(self.keys.conn(key))
            .query_async(&mut conn)
            .await?;
        match SocketState::from_fields(&map) {
            Ok(Some((generation, state))) if state.registered => Ok(Some((generation, state))),
            Ok(_) => Ok(None),
            Err(e) => {
                tracing::warn!(key = %key.as_str(), error = %e, "unreadable pooled connection state; opening a new connection");
                Ok(None)
            }
        }
    }

    /// Routes `key`'s events of `generation` to a new channel, first those held while unattached.
    fn route(&self, key: &ConnKey, generation: Gen) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut routes = lock(&self.routes);
        if let Some(held) = routes.unattached.remove(key) {
            let mut acks = lock(&self.acks);
            for (id, ev) in held {
                routes.unattached_lines = routes.unattached_lines.saturating_sub(lines_in(&ev));
                if ev.generation() == generation {
                    let _ = tx.send(ev);
                }
                acks.push(id);
            }
        }
        routes.by_key.insert(key.clone(), Route { generation, tx });
        rx
    }

    fn unroute(&self, key: &ConnKey, generation: Gen) {
        let mut routes = lock(&self.routes);
        if routes
            .by_key
            .get(key)
            .is_some_and(|r| r.generation == generation)
        {
            routes.by_key.remove(key);
        }
        routes.ended.insert(key.clone(), generation);
    }

    /// The connection task's end of a pooled socket, and the pump that serves it.
    fn stream(
        self: &Arc<Self>,
        key: ConnKey,
        generation: Gen,
        rx: mpsc::UnboundedReceiver<Event>,
        resumed: Option<SocketState>,
    ) -> Attached {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (r, w) = tokio::io::split(theirs);
        let pump = self.clone().pump(ours, key, generation, rx);
        match lock(&self.tasks).as_ref() {
            Some(t) => {
                t.spawn(pump);
            }
            None => {
                tokio::spawn(pump);
            }
        }
        Attached {
            reader: io::reader(r),
            writer: Box::new(w),
            resumed,
        }
    }

    /// Moves lines between a connection task's stream and the pool until both sides end.
    async fn pump(
        self: Arc<Self>,
        stream: tokio::io::DuplexStream,
        key: ConnKey,
        generation: Gen,
        mut events: mpsc::UnboundedReceiver<Event>,
    ) {
        let (r, mut w) = tokio::io::split(stream);
        let mut reader: Reader = io::reader(r);
        let (mut inbound, mut outbound) = (true, true);
        while inbound || outbound {
            tokio::select! {
                ev = events.recv(), if inbound => match ev {
                    Some(Event::Lines { lines, .. }) => {
                        let mut bytes = Vec::new();
                        for l in lines {
                            bytes.extend_from_slice(&l);
                            bytes.extend_from_slice(b"\r\n");
                        }
                        if w.write_all(&bytes).await.is_err() {
                            inbound = false;
                        }
                    }
                    Some(Event::Connected { .. }) => {}
                    Some(Event::Closed { reason, .. }) => {
                        tracing::debug!(key = %key.as_str(), %reason, "pooled socket closed");
                        let _ = w.shutdown().await;
                        inbound = false;
                    }
                    None => {
                        let _ = w.shutdown().await;
                        inbound = false;
                    }
                },
                line = reader.next_line(), if outbound => match line {
                    Ok(true) => {
                        let _ = self.commands.send(Command::Send { key: key.clone(), generation, lines: vec![reader.line().to_vec()] });
                    }
                    _ => outbound = false,
                },
            }
        }
        self.unroute(&key, generation);
    }

    /// Reads the events stream through the consumer group and routes each event.
    async fn consume(self: Arc<Self>) {
        let stream = self.keys.events();
        let mut warned = false;
        while !self.stopping.is_cancelled() {
            let mut conn = match connect(&self.config.redis_url, true).await {
                Ok(c) => c,
                Err(e) => {
                    if !warned {
                        tracing::warn!(error = %e, "IRC connection pool: Redis unreachable; pooled connections wait");
                        warned = true;
                    }
                    self.sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            warned = false;
            let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&stream)
                .arg(GROUP)
                // From the start: events the pool wrote before the group existed (a first
                // start, or Redis came back empty) are for sockets this bridge takes over.
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await;
            if let Err(e) = created
                && e.code() != Some("BUSYGROUP")
            {
                tracing::warn!(error = %e, "IRC connection pool: cannot create the consumer group");
                self.sleep(Duration::from_secs(1)).await;
                continue;
            }
            if let Err(e) = self.read_loop(&mut conn, &stream).await {
                tracing::warn!(error = %e, "IRC connection pool: reading events failed; reconnecting to Redis");
                self.sleep(Duration::from_millis(500)).await;
            }
        }
    }

    async fn sleep(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.stopping.cancelled() => {}
        }
    }

    async fn read_loop(
        &self,
        conn: &mut MultiplexedConnection,
        stream: &str,
    ) -> Result<(), PoolError> {
        // Our own unacknowledged entries first (from a stop or crash), then new ones.
        let mut from = "0".to_owned();
        let mut last_alive_check = tokio::time::Instant::now();
        let mut dead_checks = 0;
        loop {
            if self.stopping.is_cancelled() {
                return Ok(());
            }
            if last_alive_check.elapsed() >= ALIVE_CHECK {
                last_alive_check = tokio::time::Instant::now();
                match self.pool_alive().await {
                    Ok(true) => dead_checks = 0,
                    Ok(false) => {
                        dead_checks += 1;
                        if dead_checks == 2 {
                            tracing::warn!(
                                "IRC connection pool stopped answering: its connections count as lost"
                            );
                            self.close_all("the IRC connection pool is not running");
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(GROUP)
                .arg(GROUP)
                .arg("COUNT")
                .arg(500)
                .arg("BLOCK")
                .arg(1000)
                .arg("STREAMS")
                .arg(stream)
                .arg(&from);
            let read = cmd.query_async::<Option<redis::streams::StreamReadReply>>(conn);
            let reply = tokio::select! {
                r = read => r?,
                // Entries in flight stay unacknowledged and come again after the next start.
                _ = self.stopping.cancelled() => return Ok(()),
            };
            let batch = reply.map(entries).unwrap_or_default();
            if from != ">" {
                match batch.last() {
                    Some(last) => from = last.id.clone(),
                    None => from = ">".to_owned(),
                }
            }
            let mut ids = Vec::with_capacity(batch.len());
            for entry in batch {
                match Event::decode(&entry.map) {
                    Ok(ev) => {
                        if self.dispatch(&entry.id, ev) {
                            ids.push(entry.id);
                        }
                    }
                    Err(e) => {
                        if !entry.map.is_empty() {
                            tracing::warn!(id = %entry.id, error = %e, "IRC connection pool: skipping a malformed event");
                        }
                        ids.push(entry.id);
                    }
                }
            }
            ids.append(&mut lock(&self.acks));
            if !ids.is_empty() {
                let mut ack = redis::cmd("XACK");
                ack.arg(stream).arg(GROUP);
                for id in &ids {
                    ack.arg(id);
                }
                ack.query_async::<()>(conn).await?;
            }
        }
    }

    /// Hands an event to its connection, or holds it for one not attached yet; whether it
    /// can be acknowledged now.
    fn dispatch(&self, id: &str, ev: Event) -> bool {
        let mut routes = lock(&self.routes);
        if self.stopping.is_cancelled() {
            return false;
        }
        let key = ev.key().clone();
        if let Some(route) = routes.by_key.get(&key) {
            if route.generation == ev.generation() {
                let _ = route.tx.send(ev);
            }
            return true;
        }
        if routes.ended.get(&key) == Some(&ev.generation()) {
            // Late news of a socket this process gave up.
            return true;
        }
        let n = lines_in(&ev);
        if routes.unattached_lines + n > MAX_UNATTACHED_LINES {
            tracing::warn!(key = %key.as_str(), "IRC connection pool: too many lines for connections not taken over yet; dropping");
            return true;
        }
        routes.unattached_lines += n;
        routes
            .unattached
            .entry(key)
            .or_default()
            .push((id.to_owned(), ev));
        false
    }

    /// Ends every attached stream as if its socket closed (the connections reconnect).
    fn close_all(&self, reason: &str) {
        let routes = std::mem::take(&mut lock(&self.routes).by_key);
        for (key, route) in routes {
            let _ = route.tx.send(Event::Closed {
                key,
                generation: route.generation,
                reason: reason.to_owned(),
            });
        }
    }

    /// Sends commands in order; lines of one socket queued together become one entry.
    async fn write_commands(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Command>) {
        let stream = self.keys.commands();
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < 1000
                && let Ok(next) = rx.try_recv()
            {
                batch.push(next);
            }
            let mut merged: Vec<Command> = Vec::with_capacity(batch.len());
            for cmd in batch {
                if let (
                    Some(Command::Send {
                        key,
                        generation,
                        lines,
                    }),
                    Command::Send {
                        key: k2,
                        generation: g2,
                        lines: l2,
                    },
                ) = (merged.last_mut(), &cmd)
                    && key == k2
                    && generation == g2
                {
                    lines.extend(l2.iter().cloned());
                    continue;
                }
                merged.push(cmd);
            }
            let mut pipe = redis::pipe();
            for cmd in &merged {
                xadd(&mut pipe, &stream, self.config.max_backlog, &cmd.fields());
            }
            let mut wait = Duration::from_millis(100);
            loop {
                let sent = match self.redis().await {
                    Ok(mut conn) => pipe
                        .query_async::<()>(&mut conn)
                        .await
                        .map_err(PoolError::from),
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(()) => break,
                    Err(e) => {
                        self.forget_redis().await;
                        tracing::warn!(error = %e, "IRC connection pool: cannot send to Redis; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    }
}

fn lines_in(ev: &Event) -> usize {
    match ev {
        Event::Lines { lines, .. } => lines.len(),
        _ => 1,
    }
}
