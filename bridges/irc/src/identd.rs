//! A built-in identd (RFC 1413). IRC servers ask the connecting host "who owns the connection
//! from your port X to my port Y?"; without an answer they show the user as `~ident` (and some
//! networks refuse them). The bridge knows exactly which of its own connections that is, so it
//! answers with that connection's ident and says `NO-USER` for anything else.
//!
//! Connections register themselves ([`IdentRegistry::register`]) right after the TCP connect,
//! before TLS and before `NICK`/`USER`, because servers ask as soon as they accept; the
//! registration ends with the returned [`IdentLease`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrybridge_core::tasks::Tasks;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::config::IdentdConfig;

/// The longest query read: `65535 , 65535` plus generous whitespace. A longer line is not a
/// query and the connection is closed.
pub const MAX_QUERY_BYTES: usize = 128;
/// How long a client may take to send its query (and read the answer).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Queries answered at once; more are closed unanswered (a flood must not exhaust the bridge).
const MAX_CONCURRENT: usize = 64;
/// A server may ask while the connecting task is still between `connect` returning and its
/// registration: look again a few times before saying `NO-USER`.
const LOOKUP_RETRIES: u32 = 5;
const LOOKUP_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Why the identd could not start.
#[derive(Debug, thiserror::Error)]
pub enum IdentdError {
    #[error("identd: {address} is not an IP address")]
    Address { address: String },
    #[error(
        "identd: cannot listen on {addr}: {source} (ports below 1024 need root or \
         CAP_NET_BIND_SERVICE; or forward port 113 to a higher one)"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// One of our connections, by the ports a query names.
#[derive(Debug)]
struct Entry {
    id: u64,
    /// The IRC server's address: only it may ask about this connection.
    peer_ip: IpAddr,
    ident: String,
}

/// (our port, the server's port): what an ident query names.
type PortPair = (u16, u16);

/// Our live connections, keyed by their port pair. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct IdentRegistry {
    entries: Arc<Mutex<HashMap<PortPair, Vec<Entry>>>>,
    next_id: Arc<AtomicU64>,
}

/// Keeps a connection answerable; dropping it (the connection ended) removes the entry.
#[derive(Debug)]
pub struct IdentLease {
    registry: IdentRegistry,
    key: (u16, u16),
    id: u64,
}

impl Drop for IdentLease {
    fn drop(&mut self) {
        let mut entries = self.registry.lock();
        if let Some(list) = entries.get_mut(&self.key) {
            list.retain(|e| e.id != self.id);
            if list.is_empty() {
                entries.remove(&self.key);
            }
        }
    }
}

impl IdentRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u16, u16), Vec<Entry>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the connection from `local` to `peer` as `ident`'s until the lease is dropped.
    pub fn register(&self, local: SocketAddr, peer: SocketAddr, ident: &str) -> IdentLease {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let key = (local.port(), peer.port());
        self.lock().entry(key).or_default().push(Entry {
            id,
            peer_ip: peer.ip().to_canonical(),
            ident: ident.to_owned(),
        });
        IdentLease {
            registry: self.clone(),
            key,
            id,
        }
    }

    /// The ident of our connection from `our_port` to `their_port` at `querier`, if any.
    pub fn lookup(&self, our_port: u16, their_port: u16, querier: IpAddr) -> Option<String> {
        let querier = querier.to_canonical();
        self.lock()
            .get(&(our_port, their_port))?
            .iter()
            .find(|e| e.peer_ip == querier)
            .map(|e| e.ident.clone())
    }

    /// How many connections are registered (for tests and logs).
    pub fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A query: the port on our side, then the port on the asking server's side.
#[derive(Debug, PartialEq, Eq)]
pub struct Query {
    pub ours: u16,
    pub theirs: u16,
}

/// Parses `<port-on-server> , <port-on-client>` (whitespace around the numbers allowed, CRLF
/// already stripped); `None` unless both are ports in 1..=65535.
pub fn parse_query(line: &str) -> Option<Query> {
    let (a, b) = line.split_once(',')?;
    let port = |s: &str| -> Option<u16> {
        let s = s.trim_matches([' ', '\t']);
        if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u16>().ok().filter(|p| *p != 0)
    };
    Some(Query {
        ours: port(a)?,
        theirs: port(b)?,
    })
}

/// The reply line (without CRLF) to a query line.
pub fn reply(line: &str, ident_of: impl FnOnce(&Query) -> Option<String>) -> String {
    let Some(q) = parse_query(line) else {
        return "0, 0 : ERROR : INVALID-PORT".to_owned();
    };
    match ident_of(&q) {
        Some(ident) => format!("{}, {} : USERID : UNIX : {ident}", q.ours, q.theirs),
        None => format!("{}, {} : ERROR : NO-USER", q.ours, q.theirs),
    }
}

/// Binds the listener (at start-up, so a port that cannot be had stops the bridge with a
/// clear error rather than leaving users silently unidentified).
pub async fn bind(config: &IdentdConfig) -> Result<TcpListener, IdentdError> {
    let ip: IpAddr = config.address.parse().map_err(|_| IdentdError::Address {
        address: config.address.clone(),
    })?;
    let addr = SocketAddr::new(ip, config.port);
    TcpListener::bind(addr)
        .await
        .map_err(|source| IdentdError::Bind { addr, source })
}

/// Answers queries until the bridge stops (a tracked task).
pub async fn serve(listener: TcpListener, registry: IdentRegistry, tasks: Tasks) {
    let limit = Arc::new(Semaphore::new(MAX_CONCURRENT));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "identd listening");
    }
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "identd accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::debug!(%from, "identd busy; closing a query unanswered");
            continue;
        };
        let registry = registry.clone();
        tasks.spawn(async move {
            let _permit = permit;
            if let Err(e) = answer(stream, from.ip(), &registry).await {
                tracing::debug!(%from, error = %e, "identd query not answered");
            }
        });
    }
}

/// Reads one query from `stream` and answers it, within [`READ_TIMEOUT`].
async fn answer(
    stream: TcpStream,
    querier: IpAddr,
    registry: &IdentRegistry,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read.take(MAX_QUERY_BYTES as u64 + 1));
    let mut buf = Vec::with_capacity(32);
    let timed_out = || std::io::Error::new(std::io::ErrorKind::TimedOut, "no query in time");
    tokio::time::timeout(READ_TIMEOUT, reader.read_until(b'\n', &mut buf))
        .await
        .map_err(|_| timed_out())??;
    if buf.len() > MAX_QUERY_BYTES || buf.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "query too long or empty",
        ));
    }
    let line = String::from_utf8_lossy(&buf);
    let line = line.trim_end_matches(['\r', '\n']);
    let mut found = None;
    if let Some(q) = parse_query(line) {
        for attempt in 0..LOOKUP_RETRIES {
            found = registry.lookup(q.ours, q.theirs, querier);
            if found.is_some() || attempt + 1 == LOOKUP_RETRIES {
                break;
            }
            tokio::time::sleep(LOOKUP_RETRY_DELAY).await;
        }
    }
    let text = reply(line, |_| found);
    tracing::debug!(%querier, query = %line, reply = %text, "identd");
    tokio::time::timeout(READ_TIMEOUT, async {
        write.write_all(format!("{text}\r\n").as_bytes()).await?;
        write.shutdown().await
    })
    .await
    .map_err(|_| timed_out())?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_queries_with_and_without_spaces() {
        let q = |ours, theirs| Some(Query { ours, theirs });
        assert_eq!(parse_query("6193, 23"), q(6193, 23));
        assert_eq!(parse_query("6193,23"), q(6193, 23));
        assert_eq!(parse_query("  6193 ,\t23 "), q(6193, 23));
        assert_eq!(parse_query("65535 , 1"), q(65535, 1));
    }

    #[test]
    fn refuses_bad_ports_and_garbage() {
        for bad in [
            "",
            "6193",
            "6193,",
            ",23",
            "0, 23",
            "23, 0",
            "65536, 23",
            "-1, 23",
            "1.5, 23",
            "+23, 23",
            "a, b",
            "6193, 23, 5",
            "000006193, 23",
            "6193 23",
            "\u{1F600}, 2",
        ] {
            assert_eq!(parse_query(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn replies_in_rfc_1413_form() {
        assert_eq!(
            reply("40000, 6667", |q| (q.ours == 40000).then(|| "alice".into())),
            "40000, 6667 : USERID : UNIX : alice"
        );
        assert_eq!(
            reply("40001,6667", |_| None),
            "40001, 6667 : ERROR : NO-USER"
        );
        assert_eq!(
            reply("GET / HTTP/1.1", |_| unreachable!()),
            "0, 0 : ERROR : INVALID-PORT"
        );
    }

    #[test]
    fn registry_matches_ports_and_the_asking_server_until_the_lease_ends() {
        let reg = IdentRegistry::default();
        let lease = reg.register(addr("10.0.0.1:40000"), addr("192.0.2.7:6697"), "alice");
        let _other = reg.register(addr("10.0.0.1:40001"), addr("192.0.2.7:6697"), "bob");
        let server: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(reg.lookup(40000, 6697, server).as_deref(), Some("alice"));
        assert_eq!(reg.lookup(40001, 6697, server).as_deref(), Some("bob"));
        // Ports the other way round, another port, or someone else asking: nobody.
        assert_eq!(reg.lookup(6697, 40000, server), None);
        assert_eq!(reg.lookup(40000, 6667, server), None);
        assert_eq!(
            reg.lookup(40000, 6697, "198.51.100.1".parse().unwrap()),
            None
        );
        // An IPv4-mapped IPv6 querier is the same server.
        assert_eq!(
            reg.lookup(40000, 6697, "::ffff:192.0.2.7".parse().unwrap())
                .as_deref(),
            Some("alice")
        );
        drop(lease);
        assert_eq!(reg.lookup(40000, 6697, server), None);
        assert_eq!(reg.len(), 1);
    }

    /// A listener on a free local port with one registered connection.
    async fn running() -> (SocketAddr, IdentRegistry, IdentLease, Tasks) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        let reg = IdentRegistry::default();
        let lease = reg.register(addr("127.0.0.1:41000"), addr("127.0.0.1:6667"), "carol");
        let tasks = Tasks::new();
        tasks.spawn(serve(listener, reg.clone(), tasks.clone()));
        (at, reg, lease, tasks)
    }

    async fn ask(at: SocketAddr, bytes: &[u8]) -> String {
        let mut s = TcpStream::connect(at).await.unwrap();
        s.write_all(bytes).await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
            .await
            .expect("answered or closed in time")
            .ok();
        out
    }

    #[tokio::test]
    async fn answers_over_tcp_and_survives_bad_clients() {
        let (at, _reg, _lease, tasks) = running().await;
        assert_eq!(
            ask(at, b"41000 , 6667\r\n").await,
            "41000, 6667 : USERID : UNIX : carol\r\n"
        );
        assert_eq!(
            ask(at, b"41001, 6667\r\n").await,
            "41001, 6667 : ERROR : NO-USER\r\n"
        );
        assert_eq!(
            ask(at, b"\xff\xfe\r\n").await,
            "0, 0 : ERROR : INVALID-PORT\r\n"
        );
        // Over-long: closed without an answer, and the server keeps serving.
        assert_eq!(ask(at, &[b'1'; 4096]).await, "");
        assert_eq!(
            ask(at, b"41000,6667\n").await,
            "41000, 6667 : USERID : UNIX : carol\r\n"
        );
        tasks.shutdown(Duration::from_secs(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_closed_after_the_timeout() {
        let (at, _reg, _lease, tasks) = running().await;
        let mut s = TcpStream::connect(at).await.unwrap();
        let mut out = Vec::new();
        // Paused time jumps to the read timeout once everything is idle.
        let n = tokio::time::timeout(READ_TIMEOUT * 2, s.read_to_end(&mut out))
            .await
            .expect("closed by the server")
            .unwrap_or(0);
        assert_eq!(n, 0);
        tasks.shutdown(Duration::from_secs(1)).await;
    }
}
