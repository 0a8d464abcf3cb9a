//! The `network:` section of the Telegram bridge's config.

use ferrybridge_core::config::{ConfigError, NetworkConfig};
use serde::{Deserialize, Serialize};

/// Telegram settings. `api_id` and `api_hash` identify the bridge as a Telegram application
/// (from <https://my.telegram.org/apps>); without them nobody can log in.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The application's API ID.
    #[serde(default)]
    pub api_id: Option<i32>,
    /// The application's API hash.
    #[serde(default)]
    pub api_hash: Option<String>,
    /// The device name Telegram shows in the user's active sessions.
    #[serde(default = "default_device_model")]
    pub device_model: String,
    /// After login, invite the user to portals for chats active within this many days.
    #[serde(default = "default_recent_days")]
    pub recent_chat_days: u32,
    /// At most this many chats are opened after login.
    #[serde(default = "default_recent_limit")]
    pub recent_chat_limit: usize,
    /// Seconds to wait for Telegram before telling the user it cannot be reached.
    #[serde(default = "default_timeout")]
    pub connect_timeout_secs: u64,
    /// Connect to this `ip:port` instead of Telegram's data centers (Telegram's test servers,
    /// or tests). Not in the example config: admins leave it unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_address: Option<String>,
}

fn default_device_model() -> String {
    "ferrybridge".into()
}
fn default_recent_days() -> u32 {
    30
}
fn default_recent_limit() -> usize {
    20
}
fn default_timeout() -> u64 {
    20
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            api_id: None,
            api_hash: None,
            device_model: default_device_model(),
            recent_chat_days: default_recent_days(),
            recent_chat_limit: default_recent_limit(),
            connect_timeout_secs: default_timeout(),
            server_address: None,
        }
    }
}

impl NetworkConfig for TelegramConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = vec![];
        match self.api_id {
            None => errors.push(ConfigError::new(
                "api_id",
                "missing: get an API ID for the bridge at https://my.telegram.org/apps",
            )),
            Some(id) if id <= 0 => errors.push(ConfigError::new(
                "api_id",
                format!("expected a positive number, got {id}"),
            )),
            Some(_) => {}
        }
        match self.api_hash.as_deref().map(str::trim) {
            None | Some("") => errors.push(ConfigError::new(
                "api_hash",
                "missing: get an API hash for the bridge at https://my.telegram.org/apps",
            )),
            Some(h) if h.len() != 32 || !h.chars().all(|c| c.is_ascii_hexdigit()) => errors.push(
                ConfigError::new("api_hash", "expected 32 hexadecimal characters"),
            ),
            Some(_) => {}
        }
        if self.device_model.trim().is_empty() {
            errors.push(ConfigError::new("device_model", "must not be empty"));
        }
        if self.connect_timeout_secs == 0 {
            errors.push(ConfigError::new(
                "connect_timeout_secs",
                "must be at least 1",
            ));
        }
        errors
    }

    fn example_yaml() -> String {
        r#"  # The bridge's Telegram application, from https://my.telegram.org/apps (required).
  api_id:
  api_hash:
  # The device name Telegram shows in your active sessions.
  device_model: ferrybridge
  # After login you are invited to rooms for chats active within this many days...
  recent_chat_days: 30
  # ...but at most this many.
  recent_chat_limit: 20
  # Seconds to wait for Telegram before telling the user it cannot be reached.
  connect_timeout_secs: 20
"#
        .into()
    }
}

#[cfg(test)]
mod tests;
