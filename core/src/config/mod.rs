//! The bridge config: typed sections, defaults, validation that names the offending key, and
//! the commented example every binary prints with `generate-config`.
//!
//! The layout is what homeserver admins know from mautrix and matrix-appservice-irc bridges:
//! `homeserver`, `appservice`, `database`, `bridge`, `network` (the network's own section),
//! `encryption` and `logging`.

mod backfill;
mod double_puppet;
mod encryption;
mod example;
mod limits;
mod load;
mod namespace;
mod provisioning;
mod relay;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use backfill::BackfillConfig;
pub use double_puppet::DoublePuppetConfig;
pub use encryption::EncryptionConfig;
pub use example::example_config;
pub use limits::{LimitsConfig, MetricsConfig};
pub use load::{Tokens, load_config, load_config_with, parse_config, parse_config_with, validate};
pub use provisioning::ProvisioningConfig;
pub use relay::RelayConfig;

pub use crate::seam::ConfigError;
use crate::seam::PermissionLevel;

/// All problems found in one config file, reported together so an admin fixes them in one go.
#[derive(Debug, thiserror::Error)]
pub enum ConfigLoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Syntax(ConfigError),
    #[error("invalid config:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

/// Implemented by each network's `network:` section.
pub trait NetworkConfig: Default {
    /// Checks values serde cannot (ranges, cross-field rules). Keys are relative to `network`.
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }
    /// The commented YAML of the `network:` section for the example config, indented by two
    /// spaces and without the `network:` line itself.
    fn example_yaml() -> String;
    /// Template variables whose values this config fixes (IRC's `{network}`: the configured
    /// servers). The registration names them literally instead of claiming `.+`, so bridges
    /// sharing a homeserver do not claim each other's users. Default: none.
    fn namespace_vars(&self) -> crate::templates::KnownValues {
        crate::templates::KnownValues::new()
    }
}

/// A whole config file for a bridge whose network section is `N`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config<N> {
    pub homeserver: HomeserverConfig,
    pub appservice: AppserviceConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub bridge: BridgeConfig,
    pub network: N,
    #[serde(default)]
    pub encryption: EncryptionConfig,
    #[serde(default)]
    pub double_puppet: DoublePuppetConfig,
    #[serde(default)]
    pub provisioning: ProvisioningConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub logging: LoggingConfig,
}

/// How to reach the homeserver.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeserverConfig {
    /// Client-server API base URL, e.g. `http://127.0.0.1:8008`.
    pub address: url::Url,
    /// The server name in user IDs, e.g. `example.com`.
    pub domain: String,
    /// Whether to try the authenticated media endpoints first (falls back automatically).
    #[serde(default = "yes")]
    pub authenticated_media: bool,
}

/// The appservice side: where the bridge listens and who it is.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppserviceConfig {
    /// The URL the homeserver uses to reach the bridge (goes into the registration).
    pub address: url::Url,
    /// The address to listen on.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// The port to listen on.
    pub port: u16,
    /// Where people on the remote network can reach this bridge over HTTP(S) to open media links;
    /// `None` makes links point at the homeserver (which then must serve unauthenticated media).
    #[serde(default)]
    pub public_address: Option<url::Url>,
    /// The registration ID.
    pub id: String,
    pub bot: BotConfig,
    /// Token the bridge uses towards the homeserver; filled by `generate-registration`.
    #[serde(default)]
    pub as_token: String,
    /// Token the homeserver uses towards the bridge; filled by `generate-registration`.
    #[serde(default)]
    pub hs_token: String,
    /// Ghost localpart template, e.g. `_irc_{id}`.
    pub username_template: String,
    /// Ghost display name template, e.g. `{name} (WA)`.
    #[serde(default = "default_displayname_template")]
    pub displayname_template: String,
    /// Portal alias localpart template, e.g. `_irc_{id}`; empty when the network has none.
    #[serde(default)]
    pub alias_template: String,
}

/// The bridge bot's identity.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    pub username: String,
    #[serde(default)]
    pub displayname: String,
    /// An `mxc://` avatar, or empty.
    #[serde(default)]
    pub avatar: String,
}

/// Where the bridge keeps its state.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` (embedded default) or `postgres://user@host/db`.
    pub uri: String,
    /// Upper bound of pooled connections.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            uri: "sqlite://ferrybridge.db".into(),
            max_connections: default_max_connections(),
        }
    }
}

/// Bridge-wide behaviour.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// Prefix of commands outside the management room.
    #[serde(default = "default_prefix")]
    pub command_prefix: String,
    /// `*`, a domain or an MXID → `relay`, `user` or `admin`; the most specific entry wins.
    #[serde(default = "default_permissions")]
    pub permissions: BTreeMap<String, PermissionLevel>,
    /// Key for encrypting user secrets at rest (32 bytes, base64). Generated if empty
    /// by `generate-registration`.
    #[serde(default)]
    pub secrets_key: String,
    /// A file holding the key instead (takes precedence when set).
    #[serde(default)]
    pub secrets_key_file: Option<PathBuf>,
    /// Relay mode for networks that need a login.
    #[serde(default)]
    pub relay: RelayConfig,
    /// One space per user holding their portals of this bridge.
    #[serde(default = "yes")]
    pub personal_spaces: bool,
    /// History in portals: on creation and after the bridge was away.
    #[serde(default)]
    pub backfill: BackfillConfig,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            command_prefix: default_prefix(),
            permissions: default_permissions(),
            secrets_key: String::new(),
            secrets_key_file: None,
            relay: RelayConfig::default(),
            personal_spaces: true,
            backfill: BackfillConfig::default(),
        }
    }
}

/// Log output.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// A tracing filter, e.g. `info` or `info,ferrybridge_core=debug`.
    #[serde(default = "default_level")]
    pub level: String,
    /// `pretty` (human-readable) or `json`.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: default_level(),
            format: LogFormat::Pretty,
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

fn yes() -> bool {
    true
}
fn default_hostname() -> String {
    "127.0.0.1".into()
}
fn default_displayname_template() -> String {
    "{name}".into()
}
fn default_max_connections() -> u32 {
    8
}
fn default_prefix() -> String {
    "!".into()
}
fn default_level() -> String {
    "info".into()
}
fn default_permissions() -> BTreeMap<String, PermissionLevel> {
    BTreeMap::from([("*".to_owned(), PermissionLevel::Relay)])
}
