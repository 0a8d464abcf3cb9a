//! `feature name [true|false|default]`: per-user feature switches.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::failed;
use crate::bridge::IrcBridge;
use crate::net::KV_FEATURES;

#[allow(dead_code)] // kept for symmetry with the other commands
pub struct Feature(pub Arc<IrcBridge>);

/// Known features and their defaults.
pub const FEATURES: &[(&str, bool, &str)] = &[(
    "mentions",
    true,
    "turn IRC nick mentions of Matrix users into mentions",
)];

const SPEC: CommandSpec = CommandSpec {
    name: "feature",
    aliases: &[],
    section: Section::General,
    usage: "name [true|false|default]",
    summary: "Show or switch an optional feature.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Feature {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let list = || {
            FEATURES
                .iter()
                .map(|(n, d, what)| format!("{n} (default {d}): {what}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let Some(name) = args.first() else {
            return Err(CommandError::Usage(format!("Which feature?\n{}", list())));
        };
        let Some((name, default, _)) = FEATURES
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        else {
            return Err(CommandError::Usage(format!(
                "Unknown feature {name:?}. Features:\n{}",
                list()
            )));
        };
        let store = ctx.host.store();
        let mut map: BTreeMap<String, bool> = store
            .kv_get(KV_FEATURES, ctx.sender.as_str())
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let value = match args.get(1).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => {
                let v = map.get(*name).copied();
                return Ok(Reply::text(match v {
                    Some(v) => format!("{name} is {v}."),
                    None => format!("{name} is {default} (the default)."),
                }));
            }
            Some("true" | "on" | "yes") => Some(true),
            Some("false" | "off" | "no") => Some(false),
            Some("default") => None,
            Some(other) => {
                return Err(CommandError::Usage(format!(
                    "{other:?}: use true, false or default"
                )));
            }
        };
        match value {
            Some(v) => map.insert((*name).to_owned(), v),
            None => map.remove(*name),
        };
        store
            .kv_set(KV_FEATURES, ctx.sender.as_str(), &map)
            .await
            .map_err(failed)?;
        Ok(Reply::text(match value {
            Some(v) => format!("{name} is now {v}."),
            None => format!("{name} is back to its default ({default})."),
        }))
    }
}
