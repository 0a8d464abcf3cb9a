//! The pool process: owns the IRC sockets, answers the servers' PINGs, and relays lines
//! between the sockets and Redis. One task per socket, one task that reads commands and one
//! that writes events (batched into one pipelined round trip), plus the heartbeat.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrybridge_core::tasks::Tasks;
use redis::aio::MultiplexedConnection;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::track::SocketState;
use super::wire::{Command, ConnKey, Event, Gen, Keys};
use super::{PoolConfig, PoolError, connect, entries, xadd};
use crate::client_cert::ClientCert;
use crate::config::ServerConfig;
use crate::conn::io;
use crate::line::{is_channel_chatter, parse_line};

/// How often the heartbeat is renewed, and how long it lives.
const HEARTBEAT: Duration = Duration::from_secs(2);
const HEARTBEAT_TTL: Duration = Duration::from_secs(6);
/// Silence after which the pool pings the server itself (the bridge may be away), and closes
/// the socket if the silence goes on as long again.
const QUIET: Duration = Duration::from_secs(120);
const POOL_PING: &str = "PING :ferrybridge-pool";

/// What socket tasks hand the event writer.
enum Out {
    Event(Event),
    /// The socket's state changed: rewrite its hash.
    State(ConnKey, Gen, SocketState),
    /// The socket is gone and was the key's current one: delete its hash.
    Forget(ConnKey),
}

struct Socket {
    generation: Gen,
    lines: mpsc::UnboundedSender<Vec<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

type Sockets = Arc<Mutex<HashMap<ConnKey, Socket>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the pool until `shutdown` resolves, then QUITs every socket and reports it closed.
pub async fn run(config: PoolConfig, shutdown: impl Future<Output = ()>) -> Result<(), PoolError> {
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
    tasks.spawn(heartbeat(
        config.redis_url.clone(),
        conn.clone(),
        keys.clone(),
    ));
    tracing::info!(prefix = %config.key_prefix, "IRC connection pool running");
    tokio::select! {
        _ = read_commands(
            config.redis_url.clone(),
            reader,
            keys.clone(),
            start_id,
            sockets.clone(),
            out_tx.clone(),
            tasks.clone(),
        ) => {}
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
    sockets: Sockets,
    out: mpsc::UnboundedSender<Out>,
    tasks: Tasks,
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
                Ok(cmd) => apply(cmd, &sockets, &out, &tasks),
                Err(e) => {
                    tracing::warn!(id = %entry.id, error = %e, "IRC connection pool: skipping a malformed command")
                }
            }
        }
    }
}

fn apply(cmd: Command, sockets: &Sockets, out: &mpsc::UnboundedSender<Out>, tasks: &Tasks) {
    match cmd {
        Command::Open {
            key,
            generation,
            server,
            channel_messages,
            client_cert_pem,
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
            let task = tasks.spawn(socket(
                key.clone(),
                generation,
                server,
                channel_messages,
                client_cert_pem,
                rx,
                out.clone(),
                sockets.clone(),
                tasks.clone(),
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

/// The command word of a raw line (after tags and source).
fn command_word(raw: &[u8]) -> &[u8] {
    let mut words = raw.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let mut w = words.next().unwrap_or_default();
    if w.starts_with(b"@") {
        w = words.next().unwrap_or_default();
    }
    if w.starts_with(b":") {
        w = words.next().unwrap_or_default();
    }
    w
}

/// The answer to a server's `PING` line: `PONG` and the ping's arguments.
fn pong_for(ping: &[u8]) -> Vec<u8> {
    let args = ping
        .windows(5)
        .position(|w| w == b"PING ")
        .map_or(&b""[..], |i| &ping[i + 5..]);
    [b"PONG ".as_slice(), args, b"\r\n"].concat()
}

#[allow(clippy::too_many_arguments)]
async fn socket(
    key: ConnKey,
    generation: Gen,
    server: Box<ServerConfig>,
    channel_messages: bool,
    client_cert_pem: Option<String>,
    mut lines: mpsc::UnboundedReceiver<Vec<Vec<u8>>>,
    out: mpsc::UnboundedSender<Out>,
    sockets: Sockets,
    tasks: Tasks,
) {
    let cert = match client_cert_pem.map(|pem| ClientCert::from_pem(pem.as_bytes())) {
        Some(Err(e)) => {
            tracing::warn!(key = %key.as_str(), error = %e, "unusable client certificate; connecting without");
            None
        }
        Some(Ok(c)) => Some(c),
        None => None,
    };
    let connect = io::connect(&server, cert.as_ref(), |_, _| {});
    let reason = match tokio::time::timeout(Duration::from_secs(30), connect).await {
        Err(_) => "cannot connect: timed out".to_owned(),
        Ok(Err(e)) => format!("cannot connect: {e}"),
        Ok(Ok((mut reader, mut writer))) => {
            let _ = out.send(Out::Event(Event::Connected {
                key: key.clone(),
                generation,
            }));
            let mut state = SocketState::default();
            let mut buf = Vec::with_capacity(512);
            let mut last_seen = Instant::now();
            let mut pinged = false;
            loop {
                let deadline = last_seen + QUIET;
                tokio::select! {
                    read = io::read_line(&mut reader, &mut buf) => match read {
                        Ok(Some(())) => {
                            last_seen = Instant::now();
                            pinged = false;
                            let word = command_word(&buf);
                            if word == b"PING" {
                                if writer.write_all(&pong_for(&buf)).await.is_err() {
                                    break "write error".to_owned();
                                }
                                continue;
                            }
                            if word == b"PONG" && buf.ends_with(b"ferrybridge-pool") {
                                continue;
                            }
                            if matches!(
                                word,
                                b"001" | b"NICK" | b"JOIN" | b"PART" | b"KICK" | b"CAP"
                            )
                                && let Ok(parsed) = parse_line(&buf)
                                && state.on_incoming(&parsed.message)
                            {
                                let _ = out.send(Out::State(key.clone(), generation, state.clone()));
                            }
                            if !channel_messages && is_channel_chatter(&buf) {
                                continue;
                            }
                            let _ = out.send(Out::Event(Event::Lines { key: key.clone(), generation, lines: vec![buf.clone()] }));
                        }
                        Ok(None) => break "connection closed by the server".to_owned(),
                        Err(e) => break format!("read error: {e}"),
                    },
                    batch = lines.recv() => {
                        let Some(batch) = batch else { break "dropped by the pool".to_owned() };
                        let mut bytes = Vec::new();
                        for l in batch {
                            state.on_outgoing(&l);
                            bytes.extend(l.iter().filter(|b| !matches!(b, b'\r' | b'\n' | b'\0')));
                            bytes.extend_from_slice(b"\r\n");
                        }
                        if let Err(e) = writer.write_all(&bytes).await {
                            break format!("write error: {e}");
                        }
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        if pinged {
                            break format!("ping timeout ({}s without data)", (QUIET * 2).as_secs());
                        }
                        pinged = true;
                        last_seen = Instant::now();
                        let _ = writer.write_all(format!("{POOL_PING}\r\n").as_bytes()).await;
                    }
                    _ = tasks.stopping() => {
                        let _ = writer.write_all(b"QUIT :IRC connection pool stopping\r\n").await;
                        let _ = writer.shutdown().await;
                        break "the IRC connection pool stopped".to_owned();
                    }
                }
            }
        }
    };
    tracing::info!(key = %key.as_str(), generation, %reason, "pooled IRC socket closed");
    let _ = out.send(Out::Event(Event::Closed {
        key: key.clone(),
        generation,
        reason,
    }));
    let mut map = lock(&sockets);
    if map.get(&key).is_some_and(|s| s.generation == generation) {
        map.remove(&key);
        let _ = out.send(Out::Forget(key));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_word_skips_tags_and_source() {
        assert_eq!(command_word(b"PING :x"), b"PING");
        assert_eq!(command_word(b":srv 001 me :hi"), b"001");
        assert_eq!(command_word(b"@time=1 :a!b@c JOIN #x"), b"JOIN");
        assert_eq!(command_word(b""), b"");
        assert_eq!(command_word(b"@only-tags"), b"");
    }

    #[test]
    fn pings_are_answered_with_their_arguments() {
        assert_eq!(pong_for(b"PING :abc def"), b"PONG :abc def\r\n");
        assert_eq!(pong_for(b":srv PING srv"), b"PONG srv\r\n");
        assert_eq!(pong_for(b"PING"), b"PONG \r\n");
    }
}
