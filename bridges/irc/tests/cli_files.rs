//! `generate-registration` leaves its secrets owner-only: the config it fills tokens into, the
//! registration and a secrets key file it creates are `0600`, whatever the umask and the
//! config's mode before.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::{NetworkConfig, example_config};
use ferrybridge_irc::{IrcBridge, IrcConfig};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn generate_registration(config: &Path, output: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrybridge-irc"))
        .arg("generate-registration")
        .arg("-c")
        .arg(config)
        .arg("-o")
        .arg(output)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn generate_registration_writes_owner_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let registration = dir.path().join("registration.yaml");
    let key = dir.path().join("secrets.key");
    let text = example_config(&IrcBridge::info(), &IrcConfig::example_yaml()).replace(
        "  # secrets_key_file: /etc/ferrybridge/secrets.key",
        &format!("  secrets_key_file: {}", key.display()),
    );
    std::fs::write(&config, text).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();

    generate_registration(&config, &registration);
    assert_eq!(mode(&config), 0o600, "the config now holds the tokens");
    assert_eq!(mode(&registration), 0o600);
    assert_eq!(mode(&key), 0o600);
    let filled = std::fs::read_to_string(&config).unwrap();
    assert!(!filled.contains("as_token: \"\""), "{filled}");
    ferrybridge_core::store::SecretKey::from_file(&key).unwrap();
    let reg = std::fs::read_to_string(&registration).unwrap();
    assert!(reg.contains("_irc_(?:localhost)_"), "{reg}");

    // Again: nothing to fill, the key file is kept, a loosened registration is narrowed.
    let key_text = std::fs::read_to_string(&key).unwrap();
    std::fs::set_permissions(&registration, std::fs::Permissions::from_mode(0o644)).unwrap();
    generate_registration(&config, &registration);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), filled);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), key_text);
    assert_eq!(mode(&registration), 0o600);
    assert_eq!(std::fs::read_to_string(&registration).unwrap(), reg);
}
