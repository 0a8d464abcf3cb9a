//! The `double_puppet` section: how the bridge sends as a user's own Matrix account what that
//! user sent from their phone or another client of the network, instead of as their ghost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::seam::ConfigError;

/// The prefix of a secret that is an appservice token.
const AS_TOKEN: &str = "as_token:";

/// Double-puppeting settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoublePuppetConfig {
    /// Per homeserver name, how to act as its users: `as_token:<token>`, the `as_token` of a
    /// second appservice registration whose `users` namespace claims them non-exclusively
    /// (`generate-double-puppet-registration` writes one). Only the bridge's own homeserver
    /// can be named. Empty: own messages come from the user's ghost.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

impl DoublePuppetConfig {
    /// The token for users of `server`, if one is configured.
    pub fn token_for(&self, server: &str) -> Option<&str> {
        self.secrets.get(server)?.strip_prefix(AS_TOKEN)
    }

    /// Rules serde cannot check; `domain` is the bridge's homeserver.
    pub fn validate(&self, domain: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (server, secret) in &self.secrets {
            let key = format!("double_puppet.secrets.{server}");
            if server != domain {
                errors.push(ConfigError::new(
                    &key,
                    format!("only the bridge's own homeserver ({domain}) can be double-puppeted"),
                ));
            }
            match secret.strip_prefix(AS_TOKEN) {
                Some(token) if !token.trim().is_empty() && !token.contains(char::is_whitespace) => {
                }
                Some(_) => errors.push(ConfigError::new(
                    &key,
                    "the token after as_token: is empty or has spaces",
                )),
                None => errors.push(ConfigError::new(
                    &key,
                    "expected as_token:<token> (the shared-secret login module is not supported)",
                )),
            }
        }
        errors
    }
}

/// The section as the example config shows it.
pub(super) const EXAMPLE_YAML: &str = r#"
# Double puppeting: what users send from their phone (or another client of the network) is
# sent in Matrix by their own account instead of a ghost of their number. Run
# generate-double-puppet-registration, add the file it writes to the homeserver's
# app_service_config_files, and put the line it prints here:
double_puppet:
  secrets: {}
  #   example.org: "as_token:..."
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn of(pairs: &[(&str, &str)]) -> DoublePuppetConfig {
        DoublePuppetConfig {
            secrets: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn tokens_of_the_own_homeserver_only() {
        let good = of(&[("example.org", "as_token:abc")]);
        assert!(good.validate("example.org").is_empty());
        assert_eq!(good.token_for("example.org"), Some("abc"));
        assert_eq!(good.token_for("other.org"), None);
        let errors = of(&[
            ("other.org", "as_token:abc"),
            ("example.org", "shared_secret"),
        ])
        .validate("example.org");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            of(&[("example.org", "as_token: ")])
                .validate("example.org")
                .len(),
            1
        );
    }
}
