//! Who may do what, from `bridge.permissions` in the config.
//!
//! Each entry is `*` (everyone), a server name (`example.com`, `example.com:8448`: the users of
//! that homeserver, compared exactly with the user ID's server part, ignoring ASCII case) or a
//! full user ID (`@admin:example.com`). The most specific entry wins: the user ID, then the
//! server, then `*`; a user no entry matches gets [`PermissionLevel::None`].

use std::collections::{BTreeMap, HashMap};

use ruma::{OwnedUserId, ServerName, UserId};

use crate::seam::{ConfigError, PermissionLevel};

/// Permission resolution from config entries (`*`, a server name, or a user ID).
#[derive(Clone, Debug, Default)]
pub struct Permissions {
    users: HashMap<OwnedUserId, PermissionLevel>,
    /// Keyed by lowercased server name.
    servers: HashMap<String, PermissionLevel>,
    everyone: Option<PermissionLevel>,
}

impl Permissions {
    /// Validates and indexes the `bridge.permissions` map. Errors name the entry, e.g.
    /// `bridge.permissions.example..com`.
    pub fn from_config(
        entries: &BTreeMap<String, PermissionLevel>,
    ) -> Result<Permissions, ConfigError> {
        let mut permissions = Permissions::default();
        for (entry, &level) in entries {
            let key = || format!("bridge.permissions.{entry}");
            if entry == "*" {
                permissions.everyone = Some(level);
            } else if entry.starts_with('@') {
                let user = UserId::parse(entry.as_str())
                    .map_err(|e| e.to_string())
                    .and_then(|user| {
                        if user.localpart().is_empty() {
                            Err("the localpart is empty".to_owned())
                        } else {
                            Ok(user)
                        }
                    })
                    .map_err(|e| {
                        ConfigError::new(key(), format!("`{entry}` is not a valid user ID: {e}"))
                    })?;
                permissions.users.insert(user, level);
            } else if <&ServerName>::try_from(entry.as_str()).is_ok() {
                let server = entry.to_ascii_lowercase();
                if permissions.servers.insert(server, level).is_some() {
                    return Err(ConfigError::new(
                        key(),
                        format!("server `{entry}` is listed twice (server names ignore case)"),
                    ));
                }
            } else {
                return Err(ConfigError::new(
                    key(),
                    format!(
                        "`{entry}` is neither `*`, a server name (example.com) nor a user ID \
                         (@user:example.com)"
                    ),
                ));
            }
        }
        Ok(permissions)
    }

    /// The level of `user`: its own entry, else its server's, else `*`'s, else `None`.
    pub fn level_of(&self, user: &UserId) -> PermissionLevel {
        if let Some(&level) = self.users.get(user) {
            return level;
        }
        let server = user.server_name().as_str().to_ascii_lowercase();
        if let Some(&level) = self.servers.get(&server) {
            return level;
        }
        self.everyone.unwrap_or(PermissionLevel::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PermissionLevel::*;

    fn perms(entries: &[(&str, PermissionLevel)]) -> Result<Permissions, ConfigError> {
        Permissions::from_config(&entries.iter().map(|(k, v)| (k.to_string(), *v)).collect())
    }

    fn user(s: &str) -> OwnedUserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn most_specific_wins() {
        let p = perms(&[
            ("*", Relay),
            ("example.com", User),
            ("@boss:example.com", Admin),
            ("@muted:example.com", None),
            ("other.org:8448", Admin),
        ])
        .unwrap();
        assert_eq!(p.level_of(&user("@boss:example.com")), Admin);
        assert_eq!(p.level_of(&user("@muted:example.com")), None);
        assert_eq!(p.level_of(&user("@alice:example.com")), User);
        assert_eq!(p.level_of(&user("@alice:EXAMPLE.com")), User);
        assert_eq!(p.level_of(&user("@alice:elsewhere.net")), Relay);
        assert_eq!(p.level_of(&user("@alice:other.org:8448")), Admin);
        // The port is part of the server name.
        assert_eq!(p.level_of(&user("@alice:other.org")), Relay);
        // A subdomain is another server.
        assert_eq!(p.level_of(&user("@alice:sub.example.com")), Relay);
    }

    #[test]
    fn nothing_matches() {
        let p = perms(&[("example.com", User)]).unwrap();
        assert_eq!(p.level_of(&user("@a:else.net")), None);
        assert_eq!(Permissions::default().level_of(&user("@a:b.c")), None);
    }

    #[test]
    fn ip_literals() {
        let p = perms(&[("[::1]:8448", Admin), ("127.0.0.1", User)]).unwrap();
        assert_eq!(p.level_of(&user("@a:[::1]:8448")), Admin);
        assert_eq!(p.level_of(&user("@a:127.0.0.1")), User);
    }

    #[test]
    fn invalid_entries() {
        for bad in [
            "",
            "**",
            "*.example.com",
            "@nocolon",
            "@:example.com",
            "exa mple.com",
            "example.com:port",
            "example.com:99999",
            "user@example.com",
            "#room:example.com",
        ] {
            let err = perms(&[(bad, User)]).unwrap_err();
            assert_eq!(err.key, format!("bridge.permissions.{bad}"), "{bad:?}");
            assert!(err.problem.contains('`'), "{}", err.problem);
        }
        let err = perms(&[("Example.com", User), ("example.com", Admin)]).unwrap_err();
        assert!(err.problem.contains("twice"));
    }
}
