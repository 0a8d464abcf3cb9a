//! The pool process: owns the IRC sockets, answers the servers' PINGs, and relays lines
//! between the sockets and Redis. One task per socket, one task that reads commands and one
//! that writes events (batched into one pipelined round trip), plus the heartbeat.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrybridge_core::tasks::Tasks;
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::track::SocketState;
use super::wire::{Command, ConnKey, Event, Gen, Keys};
use super::{PoolConfig, PoolError, connect, entries, xadd};
use crate::config::IdentdConfig;
use crate::identd::IdentRegistry;
use crate::net::lock;

/// How often the heartbeat is renewed, and how long it lives.
const HEARTBEAT: Duration = Duration::from_secs(2);
const HEARTBEAT_TTL: Duration = Duration::from_secs(6);

/// What socket tasks hand the event writer.
pub(super) enum Out {
    Event(Event),
    /// The socket's state changed: rewrite its hash.
    State(ConnKey, Gen, SocketState),
    /// The socket is gone and was the key's current one: delete its hash.
    Forget(ConnKey),
}

pub(super) struct Socket {
    pub generation: Gen,
    lines: mpsc::UnboundedSender<Vec<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

pub(super) type Sockets = Arc<Mutex<HashMap<ConnKey, Socket>>>;

/// What the command reader and every socket task share.
#[derive(Clone)]
pub(super) struct Pool {
    pub out: mpsc::UnboundedSender<Out>,
    pub sockets: Sockets,
    pub tasks: Tasks,
    /// Where sockets register their ident, when the pool runs the identd.
    pub identd: Option<IdentRegistry>,
}

/// Runs the pool until `shutdown` resolves, then QUITs every socket and reports it closed.
/// With `identd` enabled, the pool answers ident lookups for its sockets (the bridge cannot:
/// it does not hold them).
pub async fn run(
    config: PoolConfig,
    identd: Option<IdentdConfig>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), PoolError> {
    let keys = Keys::new(&config.key_prefix);
    let mut conn = connect(&config.redis_url, false).await?;
    let reader = connect(&config.redis_url, true).await?;
    let tasks = Tasks::new();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let writer = tasks.spawn_uncancelled(write_events(
        config.redis_url.clone(),
        conn.clone(),
        keys.clone(),
        config.max_backlog,
        out_rx,
    ));
    forget_previous_run(&mut conn, &keys, &out_tx).await?;
    let last: Vec<(String, HashMap<String, redis::Value>)> = redis::cmd("XREVRANGE")
        .arg(keys.commands())
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await?;
    let start_id = last
        .first()
        .map_or_else(|| "0-0".to_owned(), |(id, _)| id.clone());
    let sockets: Sockets = Arc::default();
    let registry = match identd.filter(|c| c.enabled) {
        Some(c) => {
            // Before any socket: a server asks as soon as it accepts one.
            let listener = crate::identd::bind(&c).await?;
            let registry = IdentRegistry::default();
            tasks.spawn(crate::identd::serve(
                listener,
                registry.clone(),
                tasks.clone(),
            ));
            Some(registry)
        }
        None => None,
    };
    let pool = Pool {
        out: out_tx.clone(),
        sockets: sockets.clone(),
        tasks: tasks.clone(),
        identd: registry,
    };
    tasks.spawn(heartbeat(
        config.redis_url.clone(),
        conn.clone(),
        keys.clone(),
    ));
    tracing::info!(prefix = %config.key_prefix, "IRC connection pool running");
    tokio::select! {
        _ = read_commands(config.redis_url.clone(), reader, keys.clone(), start_id, pool) => {}
        _ = shutdown => {}
    }
    tasks.begin_shutdown();
    // Every socket QUITs and reports itself closed; then the writer drains.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lock(&sockets).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    let _: Result<(), _> = redis::cmd("DEL")
        .arg(keys.alive())
        .query_async(&mut conn)
        .await;
    tasks.shutdown(Duration::from_secs(2)).await;
    tracing::info!("IRC connection pool stopped");
    Ok(())
}

/// Sockets of a pool that died without saying so are gone: tell the bridge.
async fn forget_previous_run(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    out: &mpsc::UnboundedSender<Out>,
) -> Result<(), PoolError> {
    let old: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.conns())
        .query_async(conn)
        .await?;
    for raw in old {
        let Ok(key) = ConnKey::parse(&raw) else {
            continue;
        };
        let generation: Option<String> = redis::cmd("HGET")
            .arg(keys.conn(&key))
            .arg("generation")
            .query_async(conn)
            .await?;
        if let Some(generation) = generation.and_then(|g| g.parse().ok()) {
            let _ = out.send(Out::Event(Event::Closed {
                key: key.clone(),
                generation,
                reason: "the IRC connection pool restarted".into(),
            }));
        }
        let _ = out.send(Out::Forget(key));
    }
    Ok(())
}

async fn heartbeat(url: String, mut conn: MultiplexedConnection, keys: Keys) {
    let mut failing = false;
    loop {
        let r: Result<(), _> = redis::cmd("SET")
            .arg(keys.alive())
            .arg(std::process::id())
            .arg("PX")
            .arg(HEARTBEAT_TTL.as_millis() as u64)
            .query_async(&mut conn)
            .await;
        match r {
            Ok(()) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "IRC connection pool: heartbeat failed");
                    failing = true;
                }
                if let Ok(c) = connect(&url, false).await {
                    conn = c;
                }
            }
        }
        tokio::time::sleep(HEARTBEAT).await;
    }
}

/// Reads commands for ever; while Redis is away it reconnects (the sockets stay up, events
/// wait in the writer).
async fn read_commands(
    url: String,
    mut reader: MultiplexedConnection,
    keys: Keys,
    mut last_id: String,
    pool: Pool,
) {
    let stream = keys.commands();
    let mut down = false;
    loop {
        let read: Result<Option<redis::streams::StreamReadReply>, _> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(500)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg(&stream)
            .arg(&last_id)
            .query_async(&mut reader)
            .await;
        let reply = match read {
            Ok(r) => {
                if down {
                    tracing::info!("IRC connection pool: Redis is back");
                    down = false;
                }
                r
            }
            Err(e) => {
                if !down {
                    tracing::warn!(error = %e, "IRC connection pool: Redis unreachable; sockets stay up, events wait");
                    down = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Ok(c) = connect(&url, true).await {
                    reader = c;
                }
                continue;
            }
        };
        for entry in reply.map(entries).unwrap_or_default() {
            last_id = entry.id.clone();
            match Command::decode(&entry.map) {
                Ok(cmd) => apply(cmd, &pool),
                Err(e) => {
                    tracing::warn!(id = %entry.id, error = %e, "IRC connection pool: skipping a malformed command")
                }
            }
        }
    }
}

fn apply(cmd: Command, pool: &Pool) {
    let (sockets, out) = (&pool.sockets, &pool.out);
    match cmd {
        Command::Open {
            key,
            generation,
            spec,
        } => {
            let (tx, rx) = mpsc::unbounded_channel();
            let mut map = lock(sockets);
            if let Some(old) = map.remove(&key) {
                old.task.abort();
                let _ = out.send(Out::Event(Event::Closed {
                    key: key.clone(),
                    generation: old.generation,
                    reason: "replaced by a new connection".into(),
                }));
            }
            let task = pool.tasks.spawn(super::socket::run(
                key.clone(),
                generation,
                spec,
                rx,
                pool.clone(),
            ));
            map.insert(
                key,
                Socket {
                    generation,
                    lines: tx,
                    task,
                },
            );
        }
        Command::Send {
            key,
            generation,
            lines,
        } => match lock(sockets).get(&key) {
            Some(s) if s.generation == generation => {
                let _ = s.lines.send(lines);
            }
            _ => {
                tracing::debug!(key = %key.as_str(), generation, "lines for a socket that is gone")
            }
        },
    }
}

/// Writes events and state in arrival order, one pipelined round trip per batch; lines of
/// one socket that arrive together become one entry.
async fn write_events(
    url: String,
    mut conn: MultiplexedConnection,
    keys: Keys,
    max_backlog: u64,
    mut rx: mpsc::UnboundedReceiver<Out>,
) {
    let stream = keys.events();
    // The latest state of every socket, written again after Redis was away (it may have come
    // back empty: a restarted bridge must still find its sockets).
    let mut states: HashMap<ConnKey, (Gen, SocketState)> = HashMap::new();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 1000
            && let Ok(next) = rx.try_recv()
        {
            batch.push(next);
        }
        let mut pipe = redis::pipe();
        let mut pending: Option<Event> = None;
        for item in batch {
            match item {
                Out::Event(Event::Lines {
                    key,
                    generation,
                    lines,
                }) => {
                    if let Some(Event::Lines {
                        key: k,
                        generation: g,
                        lines: l,
                    }) = &mut pending
                        && *k == key
                        && *g == generation
                    {
                        l.extend(lines);
                        continue;
                    }
                    if let Some(ev) = pending.take() {
                        xadd(&mut pipe, &stream, max_backlog, &ev.fields());
                    }
                    pending = Some(Event::Lines {
                        key,
                        generation,
                        lines,
                    });
                }
                other => {
                    if let Some(ev) = pending.take() {
                        xadd(&mut pipe, &stream, max_backlog, &ev.fields());
                    }
                    match other {
                        Out::Event(ev) => xadd(&mut pipe, &stream, max_backlog, &ev.fields()),
                        Out::State(key, generation, state) => {
                            write_state(&mut pipe, &keys, &key, generation, &state);
                            states.insert(key, (generation, state));
                        }
                        Out::Forget(key) => {
                            states.remove(&key);
                            pipe.cmd("DEL").arg(keys.conn(&key)).ignore();
                            pipe.cmd("SREM")
                                .arg(keys.conns())
                                .arg(key.as_str())
                                .ignore();
                        }
                    }
                }
            }
        }
        if let Some(ev) = pending.take() {
            xadd(&mut pipe, &stream, max_backlog, &ev.fields());
        }
        // Redis may be briefly away: retry rather than lose what the sockets read.
        let mut wait = Duration::from_millis(100);
        let mut attempt = pipe.clone();
        loop {
            match attempt.query_async::<()>(&mut conn).await {
                Ok(()) => break,
                Err(e) => {
                    if wait == Duration::from_millis(100) {
                        tracing::warn!(error = %e, "IRC connection pool: cannot write events to Redis; retrying");
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                    if let Ok(c) = connect(&url, false).await {
                        conn = c;
                    }
                    attempt = pipe.clone();
                    for (key, (generation, state)) in &states {
                        write_state(&mut attempt, &keys, key, *generation, state);
                    }
                }
            }
        }
    }
}

fn write_state(
    pipe: &mut redis::Pipeline,
    keys: &Keys,
    key: &ConnKey,
    generation: Gen,
    state: &SocketState,
) {
    let h = keys.conn(key);
    pipe.cmd("DEL").arg(&h).ignore();
    let c = pipe.cmd("HSET").arg(&h);
    for (f, v) in state.to_fields(generation) {
        c.arg(f).arg(v);
    }
    c.ignore();
    pipe.cmd("SADD")
        .arg(keys.conns())
        .arg(key.as_str())
        .ignore();
}
