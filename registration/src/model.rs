//! The registration file's model and its YAML form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{RegistrationError, namespace::compile};

/// An appservice registration, as the homeserver reads it.
///
/// Keys this model does not know (e.g. `io.element.msc4190`) are kept in [`Registration::extra`]
/// so reading and rewriting a file an admin edited loses nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// Unique ID of the appservice on the homeserver.
    pub id: String,
    /// Where the homeserver pushes transactions, e.g. `http://localhost:29320`.
    pub url: String,
    /// Token the bridge presents to the homeserver.
    pub as_token: String,
    /// Token the homeserver presents to the bridge.
    pub hs_token: String,
    /// Localpart of the bridge bot.
    pub sender_localpart: String,
    /// Whether the homeserver rate-limits the bridge's puppets. Bridges want `false`; a file
    /// without the key reads as `true`, the homeserver's default.
    #[serde(default = "yes")]
    pub rate_limited: bool,
    pub namespaces: Namespaces,
    /// Third-party protocols the bridge serves (e.g. `irc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<String>>,
    /// Ask for ephemeral events (typing, receipts, presence) in transactions (MSC2409, stable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_ephemeral: Option<bool>,
    /// The unstable name of `receive_ephemeral`, for older homeservers.
    #[serde(
        rename = "de.sorunome.msc2409.push_ephemeral",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub push_ephemeral_unstable: Option<bool>,
    /// Any other keys, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_norway::Value>,
}

/// The IDs the bridge claims, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespaces {
    #[serde(default)]
    pub users: Vec<Namespace>,
    #[serde(default)]
    pub aliases: Vec<Namespace>,
    #[serde(default)]
    pub rooms: Vec<Namespace>,
}

/// One namespace entry: a regex and whether only the bridge may use matching IDs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub exclusive: bool,
    pub regex: String,
}

impl Namespace {
    /// An exclusive namespace, what bridges use for their ghosts and portal aliases.
    pub fn exclusive(regex: impl Into<String>) -> Self {
        Self {
            exclusive: true,
            regex: regex.into(),
        }
    }
}

fn yes() -> bool {
    true
}

impl Registration {
    /// A bridge registration: not rate-limited, exclusive user and alias namespaces, no room
    /// namespace. The regexes usually come from [`crate::regex_for_localpart`]; each must compile.
    pub fn new(
        id: impl Into<String>,
        url: impl Into<String>,
        as_token: impl Into<String>,
        hs_token: impl Into<String>,
        sender_localpart: impl Into<String>,
        user_regexes: Vec<String>,
        alias_regexes: Vec<String>,
    ) -> Result<Self, RegistrationError> {
        let registration = Self {
            id: id.into(),
            url: url.into(),
            as_token: as_token.into(),
            hs_token: hs_token.into(),
            sender_localpart: sender_localpart.into(),
            rate_limited: false,
            namespaces: Namespaces {
                users: user_regexes.into_iter().map(Namespace::exclusive).collect(),
                aliases: alias_regexes
                    .into_iter()
                    .map(Namespace::exclusive)
                    .collect(),
                rooms: Vec::new(),
            },
            protocols: None,
            receive_ephemeral: None,
            push_ephemeral_unstable: None,
            extra: BTreeMap::new(),
        };
        registration.validate()?;
        Ok(registration)
    }

    /// Parses a registration file and checks that its regexes compile.
    pub fn from_yaml(yaml: &str) -> Result<Self, RegistrationError> {
        let registration: Self = serde_norway::from_str(yaml)?;
        registration.validate()?;
        Ok(registration)
    }

    /// The registration file's text.
    pub fn to_yaml(&self) -> Result<String, RegistrationError> {
        Ok(serde_norway::to_string(self)?)
    }

    /// Checks that every namespace regex compiles.
    pub fn validate(&self) -> Result<(), RegistrationError> {
        self.all_namespaces()
            .try_for_each(|ns| compile(&ns.regex).map(drop))
    }

    /// Whether `user_id` (e.g. `@_irc_bob:localhost`) is in one of the user namespaces.
    pub fn matches_user(&self, user_id: &str) -> bool {
        any_match(&self.namespaces.users, user_id)
    }

    /// Whether `alias` (e.g. `#_irc_#test:localhost`) is in one of the alias namespaces.
    pub fn matches_alias(&self, alias: &str) -> bool {
        any_match(&self.namespaces.aliases, alias)
    }

    fn all_namespaces(&self) -> impl Iterator<Item = &Namespace> {
        let ns = &self.namespaces;
        ns.users.iter().chain(&ns.aliases).chain(&ns.rooms)
    }
}

/// A regex that does not compile matches nothing (`validate` reports it).
fn any_match(namespaces: &[Namespace], id: &str) -> bool {
    namespaces
        .iter()
        .any(|ns| compile(&ns.regex).is_ok_and(|re| re.is_match(id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{alias_regex_for_localpart, generate_token, regex_for_localpart};

    fn sample() -> Registration {
        let mut reg = Registration::new(
            "irc",
            "http://localhost:29320",
            generate_token(),
            generate_token(),
            "ircbot",
            vec![regex_for_localpart("_irc_.*", "localhost").unwrap()],
            vec![alias_regex_for_localpart("_irc_.*", "localhost").unwrap()],
        )
        .unwrap();
        reg.protocols = Some(vec!["irc".into()]);
        reg.receive_ephemeral = Some(true);
        reg.push_ephemeral_unstable = Some(true);
        reg
    }

    #[test]
    fn yaml_round_trip() {
        let reg = sample();
        let yaml = reg.to_yaml().unwrap();
        assert!(
            yaml.contains("de.sorunome.msc2409.push_ephemeral: true"),
            "{yaml}"
        );
        assert!(yaml.contains("rate_limited: false"), "{yaml}");
        assert_eq!(Registration::from_yaml(&yaml).unwrap(), reg);
    }

    #[test]
    fn new_bridge_registration_defaults() {
        let reg = sample();
        assert!(!reg.rate_limited);
        assert!(reg.namespaces.users.iter().all(|ns| ns.exclusive));
        assert!(reg.namespaces.rooms.is_empty());
        assert_ne!(reg.as_token, reg.hs_token);
    }

    #[test]
    fn reads_a_hand_written_file_and_keeps_unknown_keys() {
        let yaml = r#"
id: telegram
url: http://localhost:29317
as_token: aaa
hs_token: bbb
sender_localpart: telegrambot
namespaces:
  users:
    - exclusive: true
      regex: '^@_tg_.*:example\.org$'
io.element.msc4190: true
"#;
        let reg = Registration::from_yaml(yaml).unwrap();
        assert!(
            reg.rate_limited,
            "a missing rate_limited means the homeserver default"
        );
        assert!(reg.namespaces.aliases.is_empty());
        assert_eq!(reg.protocols, None);
        assert_eq!(
            reg.extra.get("io.element.msc4190"),
            Some(&serde_norway::Value::Bool(true))
        );
        let again = Registration::from_yaml(&reg.to_yaml().unwrap()).unwrap();
        assert_eq!(again, reg);
        assert!(reg.matches_user("@_tg_42:example.org"));
        assert!(!reg.matches_user("@_tg_42:example.org.evil"));
    }

    #[test]
    fn matches_users_and_aliases() {
        let reg = sample();
        assert!(reg.matches_user("@_irc_bob:localhost"));
        assert!(!reg.matches_user("@alice:localhost"));
        assert!(!reg.matches_user("@_irc_bob:localhost.evil"));
        assert!(reg.matches_alias("#_irc_#test:localhost"));
        assert!(!reg.matches_alias("#test:localhost"));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let err = Registration::from_yaml("id: [unclosed").unwrap_err();
        assert!(matches!(err, RegistrationError::Yaml(_)), "{err}");
        let err = Registration::from_yaml("id: x\nurl: y\n").unwrap_err();
        assert!(err.to_string().contains("as_token"), "{err}");
        let yaml = "id: x\nurl: y\nas_token: a\nhs_token: b\nsender_localpart: bot\n\
                    namespaces:\n  users:\n    - exclusive: true\n      regex: '@_x_(:localhost'\n";
        let err = Registration::from_yaml(yaml).unwrap_err();
        assert!(matches!(err, RegistrationError::Regex { .. }), "{err}");
        let err =
            Registration::new("x", "y", "a", "b", "bot", vec!["(".into()], vec![]).unwrap_err();
        assert!(matches!(err, RegistrationError::Regex { .. }), "{err}");
    }
}
