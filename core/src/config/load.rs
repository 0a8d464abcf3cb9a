//! Reading and validating a config file: syntax errors name the key (via
//! `serde_path_to_error`), and semantic checks report every problem at once.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::{Config, ConfigError, ConfigLoadError, NetworkConfig};
use crate::permissions::Permissions;
use crate::templates::Template;

/// Whether empty tokens are an error: they are for `run` and `check-config`, not for
/// `generate-registration`, which fills them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tokens {
    Required,
    MayBeEmpty,
}

/// Reads, parses and validates a config file for running.
pub fn load_config<N: NetworkConfig + DeserializeOwned>(
    path: &Path,
) -> Result<Config<N>, ConfigLoadError> {
    load_config_with(path, Tokens::Required)
}

/// Reads, parses and validates a config file.
pub fn load_config_with<N: NetworkConfig + DeserializeOwned>(
    path: &Path,
    tokens: Tokens,
) -> Result<Config<N>, ConfigLoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigLoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_config_with(&text, tokens)
}

/// Parses and validates config text for running.
pub fn parse_config<N: NetworkConfig + DeserializeOwned>(
    text: &str,
) -> Result<Config<N>, ConfigLoadError> {
    parse_config_with(text, Tokens::Required)
}

/// Parses and validates config text.
pub fn parse_config_with<N: NetworkConfig + DeserializeOwned>(
    text: &str,
    tokens: Tokens,
) -> Result<Config<N>, ConfigLoadError> {
    let de = serde_norway::Deserializer::from_str(text);
    let config: Config<N> = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." {
            "(top level)".to_owned()
        } else {
            path
        };
        ConfigLoadError::Syntax(ConfigError::new(key, e.into_inner().to_string()))
    })?;
    let errors = validate(&config, tokens);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigLoadError::Invalid(errors))
    }
}

/// Every semantic problem in `config`.
pub fn validate<N: NetworkConfig>(config: &Config<N>, tokens: Tokens) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut err = |key: &str, problem: String| errors.push(ConfigError::new(key, problem));

    let hs = &config.homeserver;
    if !matches!(hs.address.scheme(), "http" | "https") {
        err(
            "homeserver.address",
            format!("expected an http(s) URL, got {}", hs.address),
        );
    }
    if ruma::ServerName::parse(&hs.domain).is_err() {
        err(
            "homeserver.domain",
            format!("{:?} is not a valid server name", hs.domain),
        );
    }

    let asv = &config.appservice;
    if !matches!(asv.address.scheme(), "http" | "https") {
        err(
            "appservice.address",
            format!("expected an http(s) URL, got {}", asv.address),
        );
    }
    if asv.port == 0 {
        err("appservice.port", "expected a port from 1 to 65535".into());
    }
    if asv.id.trim().is_empty() {
        err("appservice.id", "must not be empty".into());
    }
    if ruma::UserId::parse(format!("@{}:localhost", asv.bot.username)).is_err()
        || asv.bot.username.is_empty()
    {
        err(
            "appservice.bot.username",
            format!("{:?} is not a valid user localpart", asv.bot.username),
        );
    }
    if !asv.bot.avatar.is_empty() && !asv.bot.avatar.starts_with("mxc://") {
        err(
            "appservice.bot.avatar",
            "expected an mxc:// URI or nothing".into(),
        );
    }
    if tokens == Tokens::Required {
        for (key, value) in [
            ("appservice.as_token", &asv.as_token),
            ("appservice.hs_token", &asv.hs_token),
        ] {
            if value.is_empty() {
                err(
                    key,
                    "is empty: run `generate-registration` to fill in the tokens".into(),
                );
            }
        }
    }
    if !asv.as_token.is_empty() && asv.as_token == asv.hs_token {
        err("appservice.hs_token", "must differ from as_token".into());
    }
    // Ghost IDs and aliases must map back to the remote ID they came from.
    if let Err(e) = Template::parse(&asv.username_template).and_then(|t| t.check_localpart()) {
        err("appservice.username_template", e.to_string());
    }
    if let Err(e) = Template::parse(&asv.displayname_template) {
        err("appservice.displayname_template", e.to_string());
    }
    if !asv.alias_template.is_empty() {
        // Alias localparts may hold more than user IDs (`#_oftc_#channel`), but no `:`.
        match Template::parse(&asv.alias_template).and_then(|t| t.check_reversible().map(|()| t)) {
            Err(e) => err("appservice.alias_template", e.to_string()),
            Ok(_) if asv.alias_template.contains(':') => err(
                "appservice.alias_template",
                "`:` cannot appear in a room alias localpart".into(),
            ),
            Ok(_) => {}
        }
    }

    let db = &config.database;
    if !(db.uri.starts_with("sqlite:")
        || db.uri.starts_with("postgres://")
        || db.uri.starts_with("postgresql://"))
    {
        err(
            "database.uri",
            format!("expected sqlite://… or postgres://…, got {:?}", db.uri),
        );
    }
    if db.max_connections == 0 {
        err("database.max_connections", "expected at least 1".into());
    }

    let bridge = &config.bridge;
    if bridge.command_prefix.trim().is_empty()
        || bridge.command_prefix.contains(char::is_whitespace)
    {
        err(
            "bridge.command_prefix",
            "expected a non-empty prefix without spaces, such as !".into(),
        );
    }
    if let Err(e) = Permissions::from_config(&bridge.permissions) {
        errors.push(e);
    }
    if bridge.secrets_key_file.is_none() && !bridge.secrets_key.is_empty() {
        if let Err(e) = crate::store::SecretKey::from_base64(&bridge.secrets_key) {
            errors.push(ConfigError::new("bridge.secrets_key", e.to_string()));
        }
    }

    if let Err(e) = bridge.relay.template() {
        errors.push(e);
    }
    if let Err(e) = bridge.backfill.validate() {
        errors.push(e);
    }
    errors.extend(config.encryption.validate());
    errors.extend(config.double_puppet.validate(&config.homeserver.domain));
    errors.extend(config.provisioning.validate());
    config.limits.validate(&mut errors);
    config.metrics.validate(&mut errors);

    if tracing_subscriber::EnvFilter::try_new(&config.logging.level).is_err() {
        errors.push(ConfigError::new(
            "logging.level",
            format!(
                "{:?} is not a log filter such as info or info,ferrybridge_core=debug",
                config.logging.level
            ),
        ));
    }

    errors.extend(config.network.validate().into_iter().map(|e| ConfigError {
        key: format!("network.{}", e.key),
        problem: e.problem,
    }));
    errors
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
