//! The checked-in example config is exactly what `generate-config` prints, and it parses.

use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::{NetworkConfig, Tokens, example_config, parse_config_with};
use ferrybridge_xmpp::{XmppBridge, XmppConfig};

const CHECKED_IN: &str = include_str!("../../../config/xmpp.example.yaml");

#[test]
fn checked_in_example_is_generated() {
    let generated = example_config(&XmppBridge::info(), &XmppConfig::example_yaml());
    assert_eq!(
        CHECKED_IN, generated,
        "config/xmpp.example.yaml is stale: regenerate it with `ferrybridge-xmpp generate-config`"
    );
}

/// The example parses, and its `network:` section passes every check `init` relies on (a
/// bridge itself needs a running core to be built).
#[test]
fn example_parses_and_validates() {
    let text = ferrybridge_core::cli::fill_secrets(CHECKED_IN);
    let config = parse_config_with::<XmppConfig>(&text, Tokens::Required).unwrap();
    assert_eq!(config.network.component.jid, "matrix.localhost");
    let errors = NetworkConfig::validate(&config.network);
    assert!(
        errors.is_empty(),
        "the example does not validate: {errors:?}"
    );
}
