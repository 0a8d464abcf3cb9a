//! `version` (also `bridgeversion`): which bridge and version is running.

use async_trait::async_trait;

use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

pub struct Version;

const SPEC: CommandSpec = CommandSpec {
    name: "version",
    aliases: &["bridgeversion"],
    section: Section::Info,
    usage: "",
    summary: "Show the version of the bridge.",
    level: PermissionLevel::Relay,
    management_only: false,
};

#[async_trait]
impl Command for Version {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, _args: Vec<String>) -> Result<Reply, CommandError> {
        let info = ctx.network.info();
        Ok(Reply::text(format!(
            "ferrybridge-{} {}",
            info.id, info.version
        )))
    }
}
