//! The checked-in example config is what `generate-config` prints, and it loads and validates.

use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::{NetworkConfig, Tokens, example_config, parse_config_with};
use ferrybridge_irc::{IrcBridge, IrcConfig};

fn checked_in() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/irc.example.yaml");
    std::fs::read_to_string(path).expect("config/irc.example.yaml")
}

#[test]
fn checked_in_example_matches_generate_config() {
    let generated = example_config(&IrcBridge::info(), &IrcConfig::example_yaml());
    assert!(
        checked_in() == generated,
        "config/irc.example.yaml is stale: regenerate it with `ferrybridge-irc generate-config > config/irc.example.yaml`"
    );
}

#[test]
fn example_parses_and_validates_with_tokens() {
    let filled = ferrybridge_core::cli::fill_secrets(&checked_in());
    let config = parse_config_with::<IrcConfig>(&filled, Tokens::Required).expect("valid example");
    assert!(config.network.servers.contains_key("localhost"));
    assert!(ferrybridge_core::config::NetworkConfig::validate(&config.network).is_empty());
}
