use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::{
    Config, ConfigLoadError, NetworkConfig, Tokens, example_config, parse_config_with,
};

use super::TelegramConfig;
use crate::TelegramBridge;

const CHECKED_IN: &str = include_str!("../../../../config/telegram.example.yaml");

fn generated() -> String {
    example_config(&TelegramBridge::info(), &TelegramConfig::example_yaml())
}

#[test]
fn checked_in_example_is_what_generate_config_prints() {
    assert_eq!(
        CHECKED_IN,
        generated(),
        "regenerate config/telegram.example.yaml"
    );
}

#[test]
fn example_needs_only_the_api_credentials() {
    let text = ferrybridge_core::cli::fill_secrets(&generated());
    match parse_config_with::<TelegramConfig>(&text, Tokens::Required) {
        Err(ConfigLoadError::Invalid(errors)) => {
            let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys, ["network.api_id", "network.api_hash"], "{errors:?}");
        }
        other => panic!("expected the missing API credentials, got {other:?}"),
    }
    let filled = text.replace("  api_id:\n", "  api_id: 12345\n").replace(
        "  api_hash:\n",
        "  api_hash: 0123456789abcdef0123456789abcdef\n",
    );
    let config: Config<TelegramConfig> =
        parse_config_with(&filled, Tokens::Required).expect("valid");
    assert_eq!(config.network.api_id, Some(12345));
    assert_eq!(config.appservice.bot.username, "telegram");
    assert_eq!(config.network.recent_chat_days, 30);
}

#[test]
fn bad_values_name_their_keys() {
    let c = TelegramConfig {
        api_id: Some(-1),
        api_hash: Some("xyz".into()),
        connect_timeout_secs: 0,
        ..Default::default()
    };
    let keys: Vec<String> = c.validate().into_iter().map(|e| e.key).collect();
    assert_eq!(keys, ["api_id", "api_hash", "connect_timeout_secs"]);
}
