//! `check-config`: what a config alone cannot show. With encryption on, the registration the
//! homeserver loaded must ask for what encryption needs; a registration generated before
//! encryption was turned on does not.

use std::path::Path;

use ferrybridge_registration::Registration;

/// What a registration lacks for end-to-bridge encryption, as one sentence; `None` if nothing.
pub(super) fn encryption_gaps(registration: &Registration) -> Option<String> {
    let flag = |key: &str| {
        registration
            .extra
            .get(key)
            .and_then(serde_norway::Value::as_bool)
            .unwrap_or(false)
    };
    let mut missing = Vec::new();
    if registration.receive_ephemeral != Some(true)
        && registration.push_ephemeral_unstable != Some(true)
    {
        missing.push("de.sorunome.msc2409.push_ephemeral: true (to-device events)");
    }
    if !flag("org.matrix.msc3202") {
        missing.push("org.matrix.msc3202: true (device lists and key counts)");
    }
    if !flag("io.element.msc4190") {
        missing.push("io.element.msc4190: true (the bot's device)");
    }
    (!missing.is_empty()).then(|| {
        format!(
            "encryption.allow is on, but the registration lacks {}: run generate-registration again and reload it in the homeserver",
            missing.join(", ")
        )
    })
}

/// Checks the registration file at `path` (if it exists) against an encrypting config.
pub(super) fn check_registration(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        eprintln!(
            "note: {} not found; cannot check it (pass --registration)",
            path.display()
        );
        return Ok(());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let registration =
        Registration::from_yaml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    match encryption_gaps(&registration) {
        Some(gaps) => anyhow::bail!("{}: {gaps}", path.display()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "id: x\nurl: http://127.0.0.1:1\nas_token: a\nhs_token: h\nsender_localpart: bot\nnamespaces: {}\n";

    #[test]
    fn names_every_missing_flag() {
        let reg = Registration::from_yaml(BASE).unwrap();
        let gaps = encryption_gaps(&reg).unwrap();
        for flag in ["msc2409", "msc3202", "msc4190"] {
            assert!(gaps.contains(flag), "{gaps}");
        }
        let full = format!(
            "{BASE}de.sorunome.msc2409.push_ephemeral: true\norg.matrix.msc3202: true\nio.element.msc4190: true\n"
        );
        assert_eq!(
            encryption_gaps(&Registration::from_yaml(&full).unwrap()),
            None
        );
    }
}
