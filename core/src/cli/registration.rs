//! Building the registration from a config, and filling generated secrets into a config file
//! without disturbing its comments.

use ferrybridge_registration::{
    Registration, alias_regex_for_localpart, generate_token, regex_for_localpart,
};

use crate::bridge::Capabilities;
use crate::config::{Config, ConfigError, NetworkConfig};

/// The registration YAML for `config`: the bot, the ghosts' user namespace and the portals'
/// alias namespace, all exclusive. Variables the network's config fixes are named literally
/// ([`NetworkConfig::namespace_vars`]), so bridges on one homeserver claim disjoint IDs.
pub fn registration_for<N: NetworkConfig>(config: &Config<N>) -> Result<String, ConfigError> {
    registration_with(config, &Capabilities::default())
}

/// As [`registration_for`], asking the homeserver for typing notifications and read receipts
/// (MSC2409 ephemeral events) when the network shows them.
pub fn registration_with<N: NetworkConfig>(
    config: &Config<N>,
    caps: &Capabilities,
) -> Result<String, ConfigError> {
    let asv = &config.appservice;
    let domain = &config.homeserver.domain;
    let users = config.username_template()?;
    let mut user_regexes = vec![
        regex_for_localpart(&regex::escape(&asv.bot.username), domain),
        regex_for_localpart(&users.namespace_regex(), domain),
    ];
    let mut alias_regexes = Vec::new();
    if let Some(aliases) = config.alias_template()? {
        alias_regexes.push(alias_regex_for_localpart(
            &aliases.namespace_regex(),
            domain,
        ));
    }
    let invalid = |e: ferrybridge_registration::RegistrationError| {
        ConfigError::new("appservice", e.to_string())
    };
    let user_regexes = user_regexes
        .drain(..)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let alias_regexes = alias_regexes
        .drain(..)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let registration = Registration::new(
        asv.id.clone(),
        asv.address.as_str().trim_end_matches('/'),
        asv.as_token.clone(),
        asv.hs_token.clone(),
        asv.bot.username.clone(),
        user_regexes,
        alias_regexes,
    )
    .map_err(invalid)?;
    let mut registration = registration;
    if caps.typing || caps.read_receipts || config.encryption.allow {
        registration.receive_ephemeral = Some(true);
        registration.push_ephemeral_unstable = Some(true);
    }
    if config.encryption.allow {
        // To-device events, device lists and one-time key counts in transactions (MSC2409,
        // MSC3202), and devices the appservice makes without a login (MSC4190).
        for key in ["org.matrix.msc3202", "io.element.msc4190"] {
            registration
                .extra
                .insert(key.to_owned(), serde_norway::Value::Bool(true));
        }
    }
    registration.to_yaml().map_err(invalid)
}

/// A registration that lets the bridge act as every user of `domain` (double puppeting), and
/// its `as_token` for the `double_puppet.secrets` entry. It claims the users non-exclusively
/// and has no URL, so the homeserver pushes it nothing and users keep their accounts.
pub fn double_puppet_registration(domain: &str) -> (String, String) {
    let as_token = generate_token();
    let yaml = format!(
        "# Double puppeting for ferrybridge bridges: lets them send as users of {domain}.\n\
         # Keep the as_token secret; the bridges' configs name it under double_puppet.secrets.\n\
         id: ferrybridge-double-puppet\n\
         url: null\n\
         as_token: \"{as_token}\"\n\
         hs_token: \"{hs}\"\n\
         sender_localpart: \"_fb_double_puppet_{bot}\"\n\
         rate_limited: false\n\
         namespaces:\n  users:\n    - regex: '@.*:{escaped}'\n      exclusive: false\n",
        hs = generate_token(),
        bot = generate_token()
            .get(..8)
            .unwrap_or("x")
            .to_ascii_lowercase(),
        escaped = regex::escape(domain),
    );
    (yaml, as_token)
}

/// Fills empty `as_token`, `hs_token` and `secrets_key` values in config text with fresh ones,
/// line by line, so the admin's comments and layout survive.
pub fn fill_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 200);
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let newline = if line.ends_with('\n') { "\n" } else { "" };
        let fresh = match trimmed.trim_end() {
            "as_token: \"\"" | "as_token: ''" | "as_token:" => Some(("as_token", generate_token())),
            "hs_token: \"\"" | "hs_token: ''" | "hs_token:" => Some(("hs_token", generate_token())),
            "shared_secret: \"\"" | "shared_secret: ''" | "shared_secret:" => {
                Some(("shared_secret", generate_token()))
            }
            "secrets_key: \"\"" | "secrets_key: ''" | "secrets_key:" => Some((
                "secrets_key",
                crate::store::SecretKey::generate().to_base64(),
            )),
            _ => None,
        };
        match fresh {
            Some((key, value)) => out.push_str(&format!("{indent}{key}: \"{value}\"{newline}")),
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_only_empty_values_and_keeps_comments() {
        let text = "# comment\nappservice:\n  as_token: \"\"\n  hs_token: keep-me\nbridge:\n  secrets_key: ''\n";
        let out = fill_secrets(text);
        assert!(out.starts_with("# comment\nappservice:\n  as_token: \""));
        assert!(out.contains("  hs_token: keep-me\n"));
        assert!(!out.contains("as_token: \"\"\n"));
        assert!(!out.contains("secrets_key: ''"));
        assert_eq!(fill_secrets(&out), out, "a filled config stays as it is");
    }

    #[test]
    fn the_double_puppet_registration_claims_every_user_non_exclusively() {
        let (yaml, token) = double_puppet_registration("example.org");
        let v: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
        assert_eq!(v["as_token"].as_str(), Some(token.as_str()));
        assert!(v["url"].is_null());
        let users = &v["namespaces"]["users"][0];
        assert_eq!(users["regex"].as_str(), Some("@.*:example\\.org"));
        assert_eq!(users["exclusive"].as_bool(), Some(false));
    }
}
