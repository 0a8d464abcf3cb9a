//! `feature name [true|false|default]`: per-user feature switches (see [`crate::features`]).

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::failed;
use crate::bridge::IrcBridge;
use crate::features::{FEATURES, find};

pub struct Feature(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "feature",
    aliases: &[],
    section: Section::General,
    usage: "name [true|false|default]",
    summary: "Show or switch an optional feature.",
    level: PermissionLevel::User,
    management_only: false,
};

fn list() -> String {
    FEATURES
        .iter()
        .map(|f| format!("{} (default {}): {}", f.name, f.default, f.what))
        .collect::<Vec<_>>()
        .join("\n")
}

#[async_trait]
impl Command for Feature {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let Some(name) = args.first() else {
            return Err(CommandError::Usage(format!("Which feature?\n{}", list())));
        };
        let Some(feature) = find(name) else {
            return Err(CommandError::Usage(format!(
                "Unknown feature {name:?}. Features:\n{}",
                list()
            )));
        };
        let (name, default) = (feature.name, feature.default);
        let features = &self.0.features;
        let value = match args.get(1).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => {
                return Ok(Reply::text(match features.explicit(&ctx.sender, feature) {
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
        features
            .set(ctx.host.store(), &ctx.sender, feature, value)
            .await
            .map_err(failed)?;
        Ok(Reply::text(match value {
            Some(v) => format!("{name} is now {v}."),
            None => format!("{name} is back to its default ({default})."),
        }))
    }
}
