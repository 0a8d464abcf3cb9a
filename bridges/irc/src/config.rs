//! The IRC bridge's `network:` config section: one entry per IRC network.

use std::collections::BTreeMap;

use ferrybridge_core::commands::PermissionLevel;
use ferrybridge_core::config::{ConfigError, NetworkConfig};
use ferrybridge_core::templates::KnownValues;
use serde::{Deserialize, Serialize};

use crate::nick::validate_channel;

/// The `network:` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IrcConfig {
    /// Networks by the name users type in commands (`!join oftc #chan`); the name is also
    /// `{network}` in templates, so it must be usable in Matrix localparts.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerConfig>,
    /// The connection pool that owns the IRC sockets (see [`crate::pool`]); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<crate::pool::PoolConfig>,
    /// The built-in identd, shared by every network.
    #[serde(default)]
    pub identd: IdentdConfig,
}

/// The built-in identd (RFC 1413; see [`crate::identd`]). Off by default: port 113 needs root
/// or `CAP_NET_BIND_SERVICE`, and only networks that look idents up benefit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentdConfig {
    #[serde(default)]
    pub enabled: bool,
    /// The IP address to listen on.
    #[serde(default = "d_identd_address")]
    pub address: String,
    /// Servers ask port 113; another port only helps behind a port forward.
    #[serde(default = "d_identd_port")]
    pub port: u16,
}

impl Default for IdentdConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            address: d_identd_address(),
            port: d_identd_port(),
        }
    }
}

impl IdentdConfig {
    fn check(&self, errors: &mut Vec<ConfigError>) {
        if self.address.parse::<std::net::IpAddr>().is_err() {
            errors.push(ConfigError::new(
                "identd.address",
                format!(
                    "{:?} is not an IP address (e.g. 0.0.0.0 or ::)",
                    self.address
                ),
            ));
        }
        if self.port == 0 {
            errors.push(ConfigError::new(
                "identd.port",
                "expected a port between 1 and 65535",
            ));
        }
    }
}

impl IrcConfig {
    /// The network a command argument names: its key (case-insensitive) or its address.
    pub fn find_server(&self, arg: &str) -> Option<(&str, &ServerConfig)> {
        self.servers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(arg))
            .or_else(|| {
                self.servers
                    .iter()
                    .find(|(_, s)| s.address.eq_ignore_ascii_case(arg))
            })
            .map(|(k, s)| (k.as_str(), s))
    }

    /// Every problem found, keyed relative to `network` (e.g. `servers.oftc.port`).
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.servers.is_empty() {
            errors.push(ConfigError::new(
                "servers",
                "configure at least one IRC network",
            ));
        }
        for (name, server) in &self.servers {
            server.check(name, &mut errors);
        }
        if let Some(pool) = &self.pool {
            for (key, problem) in pool.problems() {
                errors.push(ConfigError::new(format!("pool.{key}"), problem));
            }
        }
        self.identd.check(&mut errors);
        errors
    }
}

impl NetworkConfig for IrcConfig {
    /// Problems with keys prefixed `network.`.
    fn validate(&self) -> Vec<ConfigError> {
        self.problems()
            .into_iter()
            .map(|e| ConfigError::new(format!("network.{}", e.key), e.problem))
            .collect()
    }

    fn example_yaml() -> String {
        EXAMPLE_YAML.to_owned()
    }

    /// `{network}` is one of the configured servers: the registration claims
    /// `_irc_(?:libera|oftc)_.+`, not every `_irc_…` (nor other bridges' ghosts).
    fn namespace_vars(&self) -> KnownValues {
        KnownValues::new().with("network", self.servers.keys().cloned())
    }
}

/// How a password stored with `!storepass` is presented to the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordMode {
    /// SASL PLAIN with the username (or nick) and password.
    #[default]
    Sasl,
    /// The connection password (`PASS`).
    ServerPassword,
    /// `PRIVMSG NickServ :IDENTIFY <password>` after registration.
    Nickserv,
}

/// One IRC network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Host name of the server.
    pub address: String,
    /// Port; defaults to 6697 with TLS, 6667 without.
    #[serde(default)]
    pub port: Option<u16>,
    /// Connect with TLS.
    #[serde(default)]
    pub tls: bool,
    /// A PEM file of extra certificates to trust for this server's TLS (a self-signed or
    /// private CA), on top of the usual web roots.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    #[serde(default)]
    pub password_mode: PasswordMode,
    /// Connection password (`PASS`) of the bridge's own listening connection, for servers that
    /// ask every client for one.
    #[serde(default)]
    pub bot_password: Option<String>,
    /// Nick of Matrix users on IRC: `{displayname}`, `{localpart}`, `{mxid}`.
    #[serde(default = "d_nick_template")]
    pub nick_template: String,
    /// Localpart of IRC users' Matrix ghosts: `{network}`, `{nick}`.
    #[serde(default = "d_ghost_template")]
    pub ghost_template: String,
    /// Alias localpart of channel portals: `{network}`, `{channel}` (with its `#`).
    #[serde(default = "d_alias_template")]
    pub alias_template: String,
    /// Whether users may join any channel (`!join`, aliases); else only plumbed ones.
    #[serde(default = "yes")]
    pub dynamic_channels: bool,
    /// Channels never bridged.
    #[serde(default)]
    pub exclude_channels: Vec<String>,
    /// Who may use `!join` on this network.
    #[serde(default = "d_join_permission")]
    pub join_permission: PermissionLevel,
    /// Whether private messages (DMs) are bridged.
    #[serde(default = "yes")]
    pub private_messages: bool,
    /// More lines than this and a message is sent as a link to its full text; 0 = no limit.
    #[serde(default = "d_line_limit")]
    pub line_limit: usize,
    /// Disconnect users idle on Matrix for this long; 0 = never.
    #[serde(default)]
    pub idle_timeout_secs: u64,
    /// Most simultaneous user connections to this network.
    #[serde(default = "d_max_connections")]
    pub max_connections: u32,
    /// Most connection attempts in flight at once (avoids a thundering herd on restart).
    #[serde(default = "d_concurrent_connects")]
    pub concurrent_connects: u32,
    #[serde(default)]
    pub flood: FloodConfig,
    /// Reconnect when the server has been silent this long.
    #[serde(default = "d_ping_timeout")]
    pub ping_timeout_secs: u64,
    /// IRC realname: `{mxid}`, `{displayname}`, `{localpart}`.
    #[serde(default = "d_realname_template")]
    pub realname_template: String,
    /// IRC ident (username): `{localpart}`, `{mxid}`; reduced to 10 lowercase letters/digits.
    #[serde(default = "d_ident_template")]
    pub ident_template: String,
    /// Which IRC membership is mirrored as Matrix membership (see [`crate::membership`]).
    #[serde(default)]
    pub membership: crate::membership::MembershipConfig,
}

impl ServerConfig {
    /// A server with every default, at `address`.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            port: None,
            tls: false,
            tls_ca_file: None,
            password_mode: PasswordMode::default(),
            bot_password: None,
            nick_template: d_nick_template(),
            ghost_template: d_ghost_template(),
            alias_template: d_alias_template(),
            dynamic_channels: true,
            exclude_channels: Vec::new(),
            join_permission: d_join_permission(),
            private_messages: true,
            line_limit: d_line_limit(),
            idle_timeout_secs: 0,
            max_connections: d_max_connections(),
            concurrent_connects: d_concurrent_connects(),
            flood: FloodConfig::default(),
            ping_timeout_secs: d_ping_timeout(),
            realname_template: d_realname_template(),
            ident_template: d_ident_template(),
            membership: Default::default(),
        }
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls { 6697 } else { 6667 })
    }

    fn check(&self, name: &str, errors: &mut Vec<ConfigError>) {
        let name_ok = !name.is_empty()
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !name_ok {
            // Field keys under such a name would be unreadable; the name error is enough.
            errors.push(ConfigError::new(
                format!("servers.{name}"),
                "network names may only use a-z, 0-9, '.', '_' and '-' (they become part of Matrix IDs)",
            ));
            return;
        }
        let mut err = |field: &str, problem: String| {
            errors.push(ConfigError::new(format!("servers.{name}.{field}"), problem))
        };
        if self.address.trim().is_empty()
            || self.address.contains(char::is_whitespace)
            || self.address.contains("://")
        {
            err(
                "address",
                "expected a host name such as irc.example.net (no scheme, no spaces)".into(),
            );
        }
        if self.port == Some(0) {
            err("port", "expected a port between 1 and 65535".into());
        }
        for (field, problem) in self.membership.problems() {
            err(&field, problem);
        }
        if let Some(path) = &self.tls_ca_file {
            if !self.tls {
                err("tls_ca_file", "only used with tls: true".into());
            } else if let Err(e) = crate::conn::load_ca_file(path) {
                err("tls_ca_file", format!("{path}: {e}"));
            }
        }
        if self
            .bot_password
            .as_deref()
            .is_some_and(|p| p.contains(['\r', '\n', ' ']))
        {
            err(
                "bot_password",
                "may not contain spaces or line breaks".into(),
            );
        }
        let templates: [(&str, &str, &[&str], &[&str]); 5] = [
            (
                "nick_template",
                &self.nick_template,
                &["displayname", "localpart", "mxid"],
                &["displayname", "localpart", "mxid"],
            ),
            (
                "ghost_template",
                &self.ghost_template,
                &["network", "nick"],
                &["nick"],
            ),
            (
                "alias_template",
                &self.alias_template,
                &["network", "channel"],
                &["channel"],
            ),
            (
                "realname_template",
                &self.realname_template,
                &["displayname", "localpart", "mxid"],
                &[],
            ),
            (
                "ident_template",
                &self.ident_template,
                &["localpart", "mxid"],
                &[],
            ),
        ];
        for (field, template, allowed, needs_one_of) in templates {
            if let Some(problem) = check_template(template, allowed, needs_one_of) {
                err(field, problem);
            }
        }
        for (i, channel) in self.exclude_channels.iter().enumerate() {
            if let Err(e) = validate_channel(channel) {
                err(
                    &format!("exclude_channels[{i}]"),
                    format!("{channel:?}: {e}"),
                );
            }
        }
        if self.max_connections == 0 {
            err("max_connections", "must be at least 1".into());
        }
        if self.concurrent_connects == 0 {
            err("concurrent_connects", "must be at least 1".into());
        }
        if self.flood.burst == 0 {
            err("flood.burst", "must be at least 1".into());
        }
        if !(self.flood.per_second.is_finite() && self.flood.per_second > 0.0) {
            err("flood.per_second", "must be a number above 0".into());
        }
        if self.ping_timeout_secs < 10 {
            err("ping_timeout_secs", "must be at least 10 seconds".into());
        }
    }
}

/// Why a template is unusable: an unknown `{placeholder}`, or none of the required ones.
fn check_template(template: &str, allowed: &[&str], needs_one_of: &[&str]) -> Option<String> {
    let mut rest = template;
    let mut used = Vec::new();
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Some("unclosed '{' in template".into());
        };
        let name = &after[..close];
        if !allowed.contains(&name) {
            return Some(format!(
                "unknown placeholder {{{name}}}; allowed: {}",
                allowed
                    .iter()
                    .map(|a| format!("{{{a}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        used.push(name);
        rest = &after[close + 1..];
    }
    if !needs_one_of.is_empty() && !needs_one_of.iter().any(|n| used.contains(n)) {
        return Some(format!(
            "must use {}",
            needs_one_of
                .iter()
                .map(|a| format!("{{{a}}}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    None
}

/// Outgoing line pacing per connection (a token bucket).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloodConfig {
    /// Lines that may go out back to back.
    #[serde(default = "d_burst")]
    pub burst: u32,
    /// Sustained lines per second.
    #[serde(default = "d_per_second")]
    pub per_second: f64,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            burst: d_burst(),
            per_second: d_per_second(),
        }
    }
}

fn yes() -> bool {
    true
}
fn d_identd_address() -> String {
    "0.0.0.0".into()
}
fn d_identd_port() -> u16 {
    113
}
fn d_nick_template() -> String {
    "{displayname}[m]".into()
}
fn d_ghost_template() -> String {
    "_irc_{network}_{nick}".into()
}
fn d_alias_template() -> String {
    "_irc_{network}_#{channel}".into()
}
fn d_join_permission() -> PermissionLevel {
    PermissionLevel::User
}
fn d_line_limit() -> usize {
    3
}
fn d_max_connections() -> u32 {
    1000
}
fn d_concurrent_connects() -> u32 {
    50
}
fn d_ping_timeout() -> u64 {
    120
}
fn d_realname_template() -> String {
    "{mxid}".into()
}
fn d_ident_template() -> String {
    "{localpart}".into()
}
fn d_burst() -> u32 {
    5
}
fn d_per_second() -> f64 {
    2.0
}

/// The example `network:` section (two-space indented, without the `network:` line).
const EXAMPLE_YAML: &str = include_str!("config/example.yaml");

#[cfg(test)]
mod tests;
