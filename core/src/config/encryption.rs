//! The `encryption` section: end-to-bridge encryption of Matrix rooms (the bridge holds the keys;
//! the remote network sees plaintext, as it always does).

use serde::{Deserialize, Serialize};

use crate::seam::ConfigError;

/// End-to-bridge encryption settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// The bot and ghosts may join encrypted rooms, decrypt what arrives there and encrypt what
    /// they send. Needs homeserver support (see the README); off, an encrypted message gets a
    /// plaintext notice that the bridge cannot read it.
    #[serde(default)]
    pub allow: bool,
    /// Portals the bridge creates are encrypted from the start.
    #[serde(default)]
    pub default: bool,
    /// Refuse to bridge unencrypted portals: their messages get a notice instead.
    #[serde(default)]
    pub require: bool,
    /// Share room keys with devices their owners have not verified. Bridges must, or most
    /// users' messages could not be read by the bridge's recipients; turn off only when every
    /// user cross-signs.
    #[serde(default = "yes")]
    pub share_with_unverified: bool,
    /// Seconds a message the bridge cannot decrypt yet waits for its key before its sender is
    /// told it was not bridged.
    #[serde(default = "default_key_wait")]
    pub key_wait_seconds: u64,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        Self {
            allow: false,
            default: false,
            require: false,
            share_with_unverified: true,
            key_wait_seconds: default_key_wait(),
        }
    }
}

impl EncryptionConfig {
    /// Rules serde cannot check.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if (self.default || self.require) && !self.allow {
            errors.push(ConfigError::new(
                "encryption.allow",
                "must be true when encryption.default or encryption.require is set",
            ));
        }
        if self.key_wait_seconds > 600 {
            errors.push(ConfigError::new(
                "encryption.key_wait_seconds",
                "at most 600 (a message waiting longer holds up its room)",
            ));
        }
        errors
    }
}

fn yes() -> bool {
    true
}

fn default_key_wait() -> u64 {
    10
}

/// The commented example of this section.
pub(super) const EXAMPLE_YAML: &str = r#"
# End-to-bridge encryption: the bridge decrypts what Matrix users send in encrypted rooms and
# encrypts what it posts there (Element X makes every DM encrypted). Needs, in Synapse's
# homeserver.yaml:
#   experimental_features:
#     msc2409_to_device_messages_enabled: true
#     msc3202_transaction_extensions: true
# and a registration generated with allow: true (it asks for to-device events and device lists).
encryption:
  # Join and bridge encrypted rooms. Off: encrypted messages get a plaintext notice instead.
  allow: false
  # Create new portals encrypted.
  default: false
  # Refuse to bridge unencrypted portals.
  require: false
  # Share room keys with devices their owners have not verified (bridges should).
  share_with_unverified: true
  # How long a message without its key yet waits before its sender is told it was not bridged.
  key_wait_seconds: 10
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_require_need_allow() {
        let cfg = EncryptionConfig {
            default: true,
            ..Default::default()
        };
        assert_eq!(cfg.validate().len(), 1);
        let ok = EncryptionConfig {
            allow: true,
            require: true,
            ..Default::default()
        };
        assert!(ok.validate().is_empty());
    }
}
