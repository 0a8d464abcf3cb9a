//! `bridge.relay`: relay mode, in which portal members without a login of their own talk through
//! the login of whoever set the portal's relay, their name in front of each message.

use serde::{Deserialize, Serialize};

use crate::seam::ConfigError;
use crate::templates::Template;

/// Relay-mode settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Whether `set-relay` may be used at all.
    #[serde(default)]
    pub enabled: bool,
    /// Only bridge admins may set a portal's relay (else any logged-in moderator of its room).
    #[serde(default)]
    pub admin_only: bool,
    /// How a relayed message reads on the network: `{displayname}` and `{message}`.
    #[serde(default = "default_format")]
    pub message_format: String,
}

fn default_format() -> String {
    "{displayname}: {message}".into()
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            admin_only: false,
            message_format: default_format(),
        }
    }
}

impl RelayConfig {
    /// The message format as a template (variables checked).
    pub fn template(&self) -> Result<Template, ConfigError> {
        let key = "bridge.relay.message_format";
        let template = Template::parse(&self.message_format)
            .map_err(|e| ConfigError::new(key, e.to_string()))?;
        template
            .check_variables(&["displayname", "message"])
            .map_err(|e| ConfigError::new(key, e.to_string()))?;
        if !template.variables().contains(&"message") {
            return Err(ConfigError::new(key, "must contain {message}"));
        }
        Ok(template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_needs_the_message_and_known_variables_only() {
        assert!(RelayConfig::default().template().is_ok());
        let with = |f: &str| RelayConfig {
            message_format: f.into(),
            ..Default::default()
        };
        assert!(with("<{displayname}> {message}").template().is_ok());
        assert!(with("{displayname} said something").template().is_err());
        assert!(with("{nick}: {message}").template().is_err());
        assert!(with("{message").template().is_err());
    }
}
