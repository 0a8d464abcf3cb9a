//! The `provisioning` section: the HTTP API through which integration managers and web
//! front-ends log users in, list their portals and plumb rooms (see `crate::provisioning`).

use serde::{Deserialize, Serialize};

use crate::seam::ConfigError;

/// Provisioning API settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningConfig {
    /// The secret a caller presents (`Authorization: Bearer <secret>`, with `?user_id=` naming
    /// the Matrix user it acts for). Empty: only OpenID tokens of the bridge's own homeserver's
    /// users are accepted, and only if `openid` is on; both off: the API is not served.
    #[serde(default)]
    pub shared_secret: String,
    /// Whether a user's OpenID token (from `/_matrix/client/v3/user/{id}/openid/request_token`
    /// on the bridge's homeserver) is accepted instead of the shared secret.
    #[serde(default)]
    pub openid: bool,
}

/// Shortest shared secret accepted: a guessable one would hand out every user's logins.
const MIN_SECRET: usize = 16;

impl ProvisioningConfig {
    /// Whether the API is served at all.
    pub fn enabled(&self) -> bool {
        !self.shared_secret.is_empty() || self.openid
    }

    /// Rules serde cannot check.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !self.shared_secret.is_empty() && self.shared_secret.len() < MIN_SECRET {
            errors.push(ConfigError::new(
                "provisioning.shared_secret",
                format!("must be at least {MIN_SECRET} characters (or empty to turn it off)"),
            ));
        }
        errors
    }
}

/// The section as the example config shows it.
pub(crate) const EXAMPLE_YAML: &str = r#"
# The provisioning API (under the appservice listener, /_ferrybridge/provision/v1; described in
# docs/provisioning.openapi.yaml): integration managers and web front-ends log users in (QR
# codes included), list their portals and plumb rooms, with the same permissions as the bot.
provisioning:
  # Callers send `Authorization: Bearer <shared_secret>` and `?user_id=@user:server`. Empty:
  # off. generate-registration fills it in.
  shared_secret: ""
  # Also accept a user's own OpenID token (requested from the bridge's homeserver) instead.
  openid: false
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_empty_means_off() {
        let off = ProvisioningConfig::default();
        assert!(!off.enabled() && off.validate().is_empty());
        let short = ProvisioningConfig {
            shared_secret: "abc".into(),
            openid: false,
        };
        assert_eq!(short.validate().len(), 1);
        let openid_only = ProvisioningConfig {
            shared_secret: String::new(),
            openid: true,
        };
        assert!(openid_only.enabled());
    }
}
