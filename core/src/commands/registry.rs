//! The one command registry: the core's commands and the network's, looked up by name or
//! alias, case-insensitively, listed in registration order (the order `help` shows them in,
//! within a section).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::{Command, PermissionLevel};

/// Why a command cannot be registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name or alias is already taken (by `existing`, a command's main name).
    #[error("command name `{name}` is already used by `{existing}`")]
    Duplicate { name: String, existing: String },
    /// Names must be non-empty and free of whitespace to be typed at all.
    #[error("invalid command name `{0}`: it must be non-empty and without spaces")]
    InvalidName(String),
}

/// The one command registry.
#[derive(Default)]
pub struct Registry {
    commands: Vec<Arc<dyn Command>>,
    /// Lowercased name or alias → index in `commands`.
    by_name: HashMap<String, usize>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `command` under its name and aliases (lowercased). Nothing is added on error.
    pub fn register(&mut self, command: Arc<dyn Command>) -> Result<(), RegistryError> {
        let spec = command.spec();
        let mut names: Vec<String> = Vec::with_capacity(1 + spec.aliases.len());
        for name in std::iter::once(spec.name).chain(spec.aliases.iter().copied()) {
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(RegistryError::InvalidName(name.to_owned()));
            }
            let lower = name.to_lowercase();
            if let Some(&index) = self.by_name.get(&lower) {
                return Err(RegistryError::Duplicate {
                    name: lower,
                    existing: self.commands[index].spec().name.to_owned(),
                });
            }
            if names.contains(&lower) {
                return Err(RegistryError::Duplicate {
                    name: lower,
                    existing: spec.name.to_owned(),
                });
            }
            names.push(lower);
        }
        let index = self.commands.len();
        self.by_name.extend(names.into_iter().map(|n| (n, index)));
        self.commands.push(command);
        Ok(())
    }

    /// The command called `name` (or aliased so), ignoring case.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Command>> {
        self.by_name
            .get(&name.to_lowercase())
            .map(|&i| Arc::clone(&self.commands[i]))
    }

    /// All commands, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Command>> {
        self.commands.iter()
    }

    /// All commands, in registration order.
    pub fn commands(&self) -> &[Arc<dyn Command>] {
        &self.commands
    }

    /// The commands a user at `level` may run (and see in `help`), in registration order.
    pub fn visible_to(&self, level: PermissionLevel) -> Vec<&Arc<dyn Command>> {
        self.commands
            .iter()
            .filter(|c| c.spec().level <= level)
            .collect()
    }

    /// Number of commands (aliases not counted).
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether no command is registered.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.commands.iter().map(|c| c.spec().name))
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::commands::{CommandContext, CommandError, CommandSpec, Reply, Section};
    use async_trait::async_trait;

    /// A command that does nothing, for registry and help tests.
    pub(crate) struct Dummy(pub CommandSpec);

    #[async_trait]
    impl Command for Dummy {
        fn spec(&self) -> &CommandSpec {
            &self.0
        }
        async fn run(&self, _: &CommandContext, _: Vec<String>) -> Result<Reply, CommandError> {
            Ok(Reply::Silent)
        }
    }

    pub(crate) fn dummy(
        name: &'static str,
        aliases: &'static [&'static str],
        section: Section,
        level: PermissionLevel,
    ) -> Arc<dyn Command> {
        Arc::new(Dummy(CommandSpec {
            name,
            aliases,
            section,
            usage: "",
            summary: "does nothing",
            level,
            management_only: false,
        }))
    }

    fn sample() -> Registry {
        let mut r = Registry::new();
        r.register(dummy(
            "help",
            &["h", "?"],
            Section::General,
            PermissionLevel::None,
        ))
        .unwrap();
        r.register(dummy("join", &[], Section::Chats, PermissionLevel::User))
            .unwrap();
        r.register(dummy(
            "plumb",
            &["Bridge"],
            Section::Admin,
            PermissionLevel::Admin,
        ))
        .unwrap();
        r
    }

    #[test]
    fn lookup_is_case_insensitive_with_aliases() {
        let r = sample();
        assert_eq!(r.get("HELP").unwrap().spec().name, "help");
        assert_eq!(r.get("h").unwrap().spec().name, "help");
        assert_eq!(r.get("?").unwrap().spec().name, "help");
        assert_eq!(r.get("bridge").unwrap().spec().name, "plumb");
        assert_eq!(r.get("BrIdGe").unwrap().spec().name, "plumb");
        assert!(r.get("nope").is_none());
        assert!(r.get("").is_none());
    }

    #[test]
    fn duplicates_are_refused_and_nothing_is_added() {
        let mut r = sample();
        let err = r
            .register(dummy(
                "part",
                &["x", "H"],
                Section::Chats,
                PermissionLevel::User,
            ))
            .unwrap_err();
        assert_eq!(
            err,
            RegistryError::Duplicate {
                name: "h".into(),
                existing: "help".into()
            }
        );
        assert!(err.to_string().contains("`h`"));
        assert!(r.get("part").is_none() && r.get("x").is_none());
        assert!(matches!(
            r.register(dummy("JOIN", &[], Section::Chats, PermissionLevel::User)),
            Err(RegistryError::Duplicate { .. })
        ));
        assert!(matches!(
            r.register(dummy("me", &["me"], Section::Chats, PermissionLevel::User)),
            Err(RegistryError::Duplicate { .. })
        ));
        assert_eq!(
            r.register(dummy("a b", &[], Section::Chats, PermissionLevel::User)),
            Err(RegistryError::InvalidName("a b".into()))
        );
        assert!(matches!(
            r.register(dummy("ok", &[""], Section::Chats, PermissionLevel::User)),
            Err(RegistryError::InvalidName(_))
        ));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn order_and_visibility() {
        let r = sample();
        let names: Vec<_> = r.iter().map(|c| c.spec().name).collect();
        assert_eq!(names, ["help", "join", "plumb"]);
        assert_eq!(r.commands().len(), 3);
        let names =
            |level| -> Vec<&str> { r.visible_to(level).iter().map(|c| c.spec().name).collect() };
        assert_eq!(names(PermissionLevel::None), ["help"]);
        assert_eq!(names(PermissionLevel::Relay), ["help"]);
        assert_eq!(names(PermissionLevel::User), ["help", "join"]);
        assert_eq!(names(PermissionLevel::Admin), ["help", "join", "plumb"]);
        assert_eq!(format!("{r:?}"), r#"["help", "join", "plumb"]"#);
        assert!(Registry::default().is_empty());
    }
}
