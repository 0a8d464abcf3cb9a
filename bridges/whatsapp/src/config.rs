//! The `network:` section of the WhatsApp bridge's config.

use std::path::PathBuf;

use ferrybridge_core::config::{ConfigError, NetworkConfig};
use serde::{Deserialize, Serialize};

/// WhatsApp settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppConfig {
    /// Directory of the per-user session files (whatsapp-rust's SQLite store), kept beside the
    /// bridge database; relative paths are from the working directory.
    #[serde(default = "default_session_dir")]
    pub session_dir: PathBuf,
    /// After login, portals are created for chats active within this many days.
    #[serde(default = "default_recent_days")]
    pub recent_chat_days: u32,
    /// How long a login waits for WhatsApp before telling the user it cannot reach it.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Lines per page of `list contacts` and `list groups`.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// Messages kept per chat from WhatsApp's history sync (the newest), for backfill: what a
    /// new portal can get of its past. WhatsApp sends the history once, after login.
    #[serde(default = "default_history_per_chat")]
    pub history_per_chat: usize,
}

fn default_session_dir() -> PathBuf {
    PathBuf::from("whatsapp-sessions")
}
fn default_recent_days() -> u32 {
    7
}
fn default_connect_timeout() -> u64 {
    30
}
fn default_page_size() -> usize {
    20
}
fn default_history_per_chat() -> usize {
    100
}

/// Above this one chat's kept history is rewritten as one sizeable value on every sync.
const MAX_HISTORY_PER_CHAT: usize = 10_000;

impl Default for WhatsAppConfig {
    fn default() -> Self {
        Self {
            session_dir: default_session_dir(),
            recent_chat_days: default_recent_days(),
            connect_timeout_secs: default_connect_timeout(),
            page_size: default_page_size(),
            history_per_chat: default_history_per_chat(),
        }
    }
}

impl NetworkConfig for WhatsAppConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = vec![];
        if self.session_dir.as_os_str().is_empty() {
            errors.push(ConfigError::new("session_dir", "must not be empty"));
        }
        if self.connect_timeout_secs == 0 {
            errors.push(ConfigError::new(
                "connect_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.page_size == 0 {
            errors.push(ConfigError::new("page_size", "must be at least 1"));
        }
        if self.history_per_chat > MAX_HISTORY_PER_CHAT {
            errors.push(ConfigError::new(
                "history_per_chat",
                format!("must be at most {MAX_HISTORY_PER_CHAT}"),
            ));
        }
        errors
    }

    fn example_yaml() -> String {
        "  # Directory of the per-user WhatsApp session files (SQLite), beside the bridge database.\n  \
         # `delete-session` removes a user's file; keep it private: it is the linked device.\n  \
         session_dir: whatsapp-sessions\n  \
         # After login, rooms are created for chats active within this many days; others as\n  \
         # messages arrive.\n  \
         recent_chat_days: 7\n  \
         # Seconds a login waits for WhatsApp before saying it cannot be reached.\n  \
         connect_timeout_secs: 30\n  \
         # Lines per page of `list contacts` and `list groups`.\n  \
         page_size: 20\n  \
         # Messages kept per chat from WhatsApp's history sync (sent once, after login), for\n  \
         # backfill (`bridge.backfill`): a new room gets up to this many of its chat's past.\n  \
         history_per_chat: 100\n"
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_to_the_defaults() {
        let yaml = WhatsAppConfig::example_yaml();
        let unindented: String = yaml
            .lines()
            .map(|l| l.strip_prefix("  ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: WhatsAppConfig = serde_norway::from_str(&unindented).unwrap();
        assert_eq!(parsed, WhatsAppConfig::default());
        assert!(parsed.validate().is_empty());
    }

    #[test]
    fn bad_values_are_reported_by_key() {
        let c = WhatsAppConfig {
            page_size: 0,
            connect_timeout_secs: 0,
            history_per_chat: 20_000,
            ..Default::default()
        };
        let errors: Vec<String> = c.validate().iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(serde_norway::from_str::<WhatsAppConfig>("bogus: 1").is_err());
    }
}
