//! The IRC connection pool: an optional process (`ferrybridge-irc-pool`) that owns the IRC
//! sockets so that restarting or upgrading the bridge drops no IRC connection. The bridge and
//! the pool talk through Redis ([`wire`]): a stream of commands (open a socket, write lines), a
//! stream of events (connected, lines read, closed) read by the bridge's consumer group, so
//! lines that arrive while the bridge is down wait in Redis and are delivered, in order, when
//! it is back; and one hash per socket ([`track`]) with the nick and channels, from which a
//! restarted bridge takes a registered connection over without registering or joining again.
//!
//! The pool is deliberately dumb: it connects, answers the server's PINGs, writes what the
//! bridge sends and reports what it reads. Registration, nick handling, confirmations and
//! reconnect policy stay in the bridge's connection task ([`crate::conn`]), which sees a pooled
//! socket as a byte stream ([`client`]). If the pool or Redis is unreachable, connections wait
//! and retry like any unreachable IRC server (users get the usual "not connected" notices);
//! the bridge never falls back to direct sockets, which would put a second copy of each user
//! on IRC once the pool is back.

pub mod client;
pub mod server;
mod socket;
pub mod track;
pub mod wire;

use std::time::Duration;

use redis::aio::MultiplexedConnection;

pub use client::PoolClient;
pub use wire::ConnKey;

/// The `pool:` section of the IRC config.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Redis URL, e.g. `redis://127.0.0.1:6379/0`.
    pub redis_url: String,
    /// Prefix of every Redis key the pool and the bridge use (one per bridge deployment).
    #[serde(default = "d_prefix")]
    pub key_prefix: String,
    /// Most events kept in Redis for a bridge that is away (older ones are trimmed).
    #[serde(default = "d_max_backlog")]
    pub max_backlog: u64,
}

fn d_prefix() -> String {
    "ferrybridge:irc".into()
}
fn d_max_backlog() -> u64 {
    100_000
}

impl PoolConfig {
    pub fn new(redis_url: impl Into<String>, key_prefix: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            key_prefix: key_prefix.into(),
            max_backlog: d_max_backlog(),
        }
    }

    /// Problems, for config validation.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Err(e) = redis::Client::open(self.redis_url.as_str()) {
            out.push(("redis_url", format!("not a Redis URL: {e}")));
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(char::is_whitespace) {
            out.push(("key_prefix", "must be non-empty, without spaces".into()));
        }
        if self.max_backlog < 1000 {
            out.push(("max_backlog", "must be at least 1000".into()));
        }
        out
    }
}

/// Why the pool or the bridge's side of it failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("the IRC connection pool is not running (no heartbeat in Redis)")]
    NotRunning,
    #[error("the IRC connection pool did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Closed(String),
    #[error(transparent)]
    Identd(#[from] crate::identd::IdentdError),
}

impl From<PoolError> for std::io::Error {
    fn from(e: PoolError) -> Self {
        std::io::Error::other(e.to_string())
    }
}

/// A Redis connection; `blocking` ones have no response timeout (for `BLOCK` reads).
pub(crate) async fn connect(
    url: &str,
    blocking: bool,
) -> Result<MultiplexedConnection, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(if blocking {
            Duration::from_secs(30)
        } else {
            Duration::from_secs(5)
        }));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// Appends an entry to a stream, trimming it to about `max` entries.
pub(crate) fn xadd(pipe: &mut redis::Pipeline, stream: &str, max: u64, fields: &wire::Fields) {
    let cmd = pipe
        .cmd("XADD")
        .arg(stream)
        .arg("MAXLEN")
        .arg("~")
        .arg(max)
        .arg("*");
    for (k, v) in fields {
        cmd.arg(*k).arg(v.as_slice());
    }
    cmd.ignore();
}

/// The entries of a stream read reply, in order.
pub(crate) fn entries(reply: redis::streams::StreamReadReply) -> Vec<redis::streams::StreamId> {
    reply.keys.into_iter().flat_map(|k| k.ids).collect()
}
