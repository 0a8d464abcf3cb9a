//! `config/whatsapp.example.yaml` is exactly what `generate-config` prints, and it loads.
//! Regenerate with `WRITE_EXAMPLE=1 cargo test --workspace --test example_config`.

use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::{Config, NetworkConfig, Tokens, example_config, parse_config_with};
use ferrybridge_whatsapp::{WhatsAppBridge, WhatsAppConfig};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../config/whatsapp.example.yaml"
);

fn generated() -> String {
    example_config(&WhatsAppBridge::info(), &WhatsAppConfig::example_yaml())
}

#[test]
fn example_file_is_the_generated_config() {
    if std::env::var_os("WRITE_EXAMPLE").is_some() {
        std::fs::write(PATH, generated()).unwrap();
    }
    let file = std::fs::read_to_string(PATH).unwrap();
    assert_eq!(file, generated(), "regenerate with WRITE_EXAMPLE=1");
}

#[test]
fn example_config_parses_with_guide_defaults() {
    let text = ferrybridge_core::cli::fill_secrets(&generated());
    let config: Config<WhatsAppConfig> = parse_config_with(&text, Tokens::Required).unwrap();
    assert_eq!(config.appservice.bot.username, "whatsappbot");
    assert_eq!(config.network, WhatsAppConfig::default());
    assert_eq!(WhatsAppBridge::info().displayname_template, "{name} (WA)");
}
