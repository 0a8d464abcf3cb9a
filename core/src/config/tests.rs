//! Config parsing and validation: every problem names its key.

use serde::{Deserialize, Serialize};

use super::*;
use crate::config::{ConfigError, ConfigLoadError, NetworkConfig, example_config};
use crate::seam::NetworkInfo;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestNet {
    #[serde(default)]
    servers: u8,
}

impl NetworkConfig for TestNet {
    fn validate(&self) -> Vec<ConfigError> {
        if self.servers == 0 {
            vec![ConfigError::new("servers", "expected at least 1")]
        } else {
            vec![]
        }
    }
    fn example_yaml() -> String {
        "  # How many servers.\n  servers: 1\n".into()
    }
}

fn info() -> NetworkInfo {
    NetworkInfo {
        id: "test",
        display_name: "Test",
        bot_username: "testbot",
        bot_displayname: "Test bot",
        default_port: 29000,
        ghost_template: "_test_{id}",
        displayname_template: "{name} (Test)",
        alias_template: Some("_test_{id}"),
        command_prefix: "!",
        version: "0.0.0",
        capabilities: Default::default(),
    }
}

fn example() -> String {
    example_config(&info(), &TestNet::example_yaml())
}

fn filled() -> String {
    crate::cli::fill_secrets(&example())
}

fn errors(text: &str, tokens: Tokens) -> Vec<ConfigError> {
    match parse_config_with::<TestNet>(text, tokens) {
        Ok(_) => vec![],
        Err(ConfigLoadError::Invalid(errors)) => errors,
        Err(ConfigLoadError::Syntax(e)) => vec![e],
        Err(e) => panic!("unexpected: {e}"),
    }
}

fn keys(errors: &[ConfigError]) -> Vec<&str> {
    errors.iter().map(|e| e.key.as_str()).collect()
}

#[test]
fn the_example_is_valid_once_secrets_are_filled() {
    assert_eq!(errors(&example(), Tokens::MayBeEmpty), vec![]);
    let missing = errors(&example(), Tokens::Required);
    assert_eq!(
        keys(&missing),
        ["appservice.as_token", "appservice.hs_token"]
    );
    assert!(missing[0].problem.contains("generate-registration"));
    let config = parse_config::<TestNet>(&filled()).expect("filled example parses");
    assert_eq!(config.appservice.port, 29000);
    assert_eq!(config.appservice.bot.username, "testbot");
    assert_eq!(config.network.servers, 1);
}

#[test]
fn a_wrong_type_names_the_key() {
    let text = filled().replace("port: 29000", "port: lots");
    let errs = errors(&text, Tokens::Required);
    assert_eq!(keys(&errs), ["appservice.port"]);
    assert!(errs[0].problem.contains("invalid"), "{}", errs[0].problem);
}

#[test]
fn an_unknown_key_is_refused_by_name() {
    let text = filled().replace(
        "  hostname: 127.0.0.1",
        "  hostname: 127.0.0.1\n  hostnmae: typo",
    );
    let errs = errors(&text, Tokens::Required);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].problem.contains("hostnmae"), "{errs:?}");
}

#[test]
fn semantic_problems_are_all_reported_with_keys() {
    let text = filled()
        .replace("domain: localhost", "domain: \"not a domain!\"")
        .replace("port: 29000", "port: 0")
        .replace(
            "username_template: \"_test_{id}\"",
            "username_template: \"_test_{id}{x}\"",
        )
        .replace("uri: sqlite://ferrybridge-test.db", "uri: mysql://nope")
        .replace("command_prefix: \"!\"", "command_prefix: \"\"")
        .replace("level: info", "level: \"[[[\"")
        .replace("    localhost: user", "    \"not a server!\": user")
        .replace("servers: 1", "servers: 0");
    let errs = errors(&text, Tokens::Required);
    assert_eq!(
        keys(&errs),
        [
            "homeserver.domain",
            "appservice.port",
            "appservice.username_template",
            "database.uri",
            "bridge.command_prefix",
            "bridge.permissions.not a server!",
            "logging.level",
            "network.servers",
        ],
        "{errs:#?}"
    );
}

#[test]
fn a_bad_secrets_key_is_reported() {
    let text = filled();
    let start = text.find("secrets_key: \"").expect("key line") + "secrets_key: \"".len();
    let end = start + text[start..].find('"').expect("closing quote");
    let text = format!("{}{}{}", &text[..start], "dG9vIHNob3J0", &text[end..]);
    assert_eq!(
        keys(&errors(&text, Tokens::Required)),
        ["bridge.secrets_key"]
    );
}

#[test]
fn garbage_is_a_syntax_error_not_a_panic() {
    for text in [
        "",
        ":",
        "homeserver: [",
        "\u{0}",
        "- a\n- b",
        "homeserver:\n  address: 5",
    ] {
        let result = parse_config_with::<TestNet>(text, Tokens::Required);
        assert!(result.is_err(), "{text:?} should not parse");
    }
}
