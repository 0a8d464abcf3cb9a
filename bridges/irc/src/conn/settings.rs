//! What a connection is made with: server, nick, credentials, pool.

use std::sync::Arc;

use crate::client_cert::ClientCert;
use crate::config::ServerConfig;
use crate::identd::IdentRegistry;

/// How a connection authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// SASL PLAIN with this account name.
    Sasl { account: String, password: String },
    /// The connection password (`PASS`).
    ServerPassword(String),
    /// `PRIVMSG NickServ :IDENTIFY` after registration.
    NickServ { account: String, password: String },
    /// SASL EXTERNAL: the server identifies us by the client certificate
    /// ([`ConnConfig::client_cert`]) we present over TLS.
    External,
}

impl Auth {
    /// The SASL mechanism this authentication uses, if any: the one place that chooses it.
    pub fn sasl_mechanism(&self) -> Option<&'static str> {
        match self {
            Auth::Sasl { .. } => Some("PLAIN"),
            Auth::External => Some("EXTERNAL"),
            _ => None,
        }
    }
}

/// Everything needed to (re)connect.
#[derive(Clone, Debug)]
pub struct ConnConfig {
    /// The network's name in the config (for logs).
    pub network: String,
    pub server: Arc<ServerConfig>,
    /// The nick to register with (and restore after a reconnect).
    pub nick: String,
    pub ident: String,
    pub realname: String,
    pub auth: Option<Auth>,
    /// Whether the owner wants messages said in channels (the network's bot, which relays
    /// them); puppets do not, and skip them unparsed.
    pub channel_messages: bool,
    /// Lines the flood-paced writer may hold before a confirmed send (a Matrix message) is
    /// refused with [`IrcFailure::BackedUp`] (`limits.remote_backlog`).
    pub backlog_cap: usize,
    /// The connection pool that owns the socket, if one is configured.
    pub pool: Option<Pooled>,
    /// The certificate presented when the server is TLS (CertFP, SASL EXTERNAL).
    pub client_cert: Option<Arc<ClientCert>>,
    /// Where the connection registers its ident for the built-in identd, when it runs.
    pub identd: Option<IdentRegistry>,
}

/// Where a pooled connection's socket lives: the pool, under a key stable across restarts.
#[derive(Clone)]
pub struct Pooled {
    pub client: Arc<crate::pool::PoolClient>,
    pub key: crate::pool::ConnKey,
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pooled").field(&self.key.as_str()).finish()
    }
}
