//! The `limits:` and `metrics:` sections: every bound on what remote or Matrix input can make the
//! bridge hold, and where operators read its health. Each key has a default an admin can keep.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Bounds on queues, backlogs, caches and downloads (`limits:`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Matrix events waiting in one room's queue before the appservice answers transactions
    /// for that room with 503 (the homeserver retries later; nothing is lost).
    pub portal_queue_depth: usize,
    /// Matrix events accepted but not yet handled, bridge-wide, before transactions get 503.
    pub inflight_events: usize,
    /// Remote events a network may hand over ahead of the portal queues before
    /// `BridgeHost::send` waits (backpressure into the remote connection).
    pub remote_queue_depth: usize,
    /// Lines/stanzas a network may hold for one connection while it is paced or reconnecting.
    /// A new Matrix message that finds this many waiting is refused with a notice to its sender
    /// (never dropped silently, never retried onto the full queue); messages already queued
    /// stay, and protocol lines (pings, joins) are never refused.
    pub remote_backlog: usize,
    /// Largest media file the bridge downloads, uploads or proxies, in bytes.
    pub media_max_bytes: u64,
    /// How long a media link handed to remote users stays valid, in seconds.
    pub media_link_ttl_secs: u64,
    /// Entries in each in-memory map fed by remote input (nick and profile caches, reaction
    /// memory, avatar state); the least recently used entry goes first.
    pub remote_cache_entries: usize,
    /// How long a delivery that failed with a retryable error (connection not up yet) is
    /// retried, with the one jittered backoff policy, before the sender gets a notice.
    pub delivery_retry_secs: u64,
    /// How long a clean shutdown (SIGTERM/SIGINT) waits for queued work before parking it.
    pub shutdown_grace_secs: u64,
    /// Whether attachment fetchers may contact loopback, private and link-local addresses.
    pub fetch_private_addresses: bool,
    /// Redirects an attachment fetcher follows at most.
    pub fetch_max_redirects: u8,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            portal_queue_depth: 1_000,
            inflight_events: 20_000,
            remote_queue_depth: 1_000,
            remote_backlog: 2_000,
            media_max_bytes: 100 * 1024 * 1024,
            media_link_ttl_secs: 7 * 24 * 3600,
            remote_cache_entries: 10_000,
            delivery_retry_secs: 120,
            shutdown_grace_secs: 10,
            fetch_private_addresses: false,
            fetch_max_redirects: 3,
        }
    }
}

impl LimitsConfig {
    /// How long retryable deliveries are retried.
    pub fn delivery_retry(&self) -> Duration {
        Duration::from_secs(self.delivery_retry_secs)
    }
    /// How long shutdown waits for queued work.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
    /// How long media links stay valid.
    pub fn media_link_ttl(&self) -> Duration {
        Duration::from_secs(self.media_link_ttl_secs)
    }

    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        for (key, value) in [
            ("limits.portal_queue_depth", self.portal_queue_depth),
            ("limits.inflight_events", self.inflight_events),
            ("limits.remote_queue_depth", self.remote_queue_depth),
            ("limits.remote_backlog", self.remote_backlog),
            ("limits.remote_cache_entries", self.remote_cache_entries),
        ] {
            if value == 0 {
                errors.push(ConfigError::new(key, "expected at least 1"));
            }
        }
        if self.media_max_bytes == 0 {
            errors.push(ConfigError::new(
                "limits.media_max_bytes",
                "expected at least 1",
            ));
        }
        if self.media_link_ttl_secs == 0 {
            errors.push(ConfigError::new(
                "limits.media_link_ttl_secs",
                "expected at least 1",
            ));
        }
    }
}

/// Where Prometheus metrics and the health/readiness endpoints are served (`metrics:`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics`, `/health` and `/ready` on `listen`.
    pub enabled: bool,
    /// `host:port` of the metrics listener.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:9110".into(),
        }
    }
}

impl MetricsConfig {
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        if self.enabled && self.listen.parse::<std::net::SocketAddr>().is_err() {
            errors.push(ConfigError::new(
                "metrics.listen",
                format!(
                    "expected host:port such as 127.0.0.1:9110, got {:?}",
                    self.listen
                ),
            ));
        }
    }
}

/// The commented YAML of both sections, for the example config.
pub(super) const EXAMPLE_YAML: &str = r#"limits:
  # Matrix events waiting in one room before the bridge answers that room's transactions with
  # 503 (the homeserver retries later; nothing is lost), and bridge-wide.
  portal_queue_depth: 1000
  inflight_events: 20000
  # Remote events a network may hand over ahead of the portal queues before it has to wait.
  remote_queue_depth: 1000
  # Lines a remote connection may hold while paced or reconnecting; a new message that finds
  # this many waiting is refused with a notice to its sender.
  remote_backlog: 2000
  # Largest file downloaded, uploaded or proxied (bytes), and how long media links stay valid.
  media_max_bytes: 104857600
  media_link_ttl_secs: 604800
  # Entries kept in each in-memory cache fed by remote input (least recently used goes first).
  remote_cache_entries: 10000
  # How long a message is retried while its remote connection comes back, before a notice.
  delivery_retry_secs: 120
  # How long a clean shutdown waits for queued work.
  shutdown_grace_secs: 10
  # Attachment fetchers: may they reach loopback/private/link-local addresses, and how many
  # redirects they follow.
  fetch_private_addresses: false
  fetch_max_redirects: 3

metrics:
  # Prometheus /metrics plus /health and /ready on their own listener (/health and /ready are
  # also served on the appservice listener).
  enabled: false
  listen: 127.0.0.1:9110
"#;
