//! `help`: the commands the sender may run, grouped by section, generated from the registry.

use async_trait::async_trait;

use crate::commands::help::render_help;
use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

pub struct Help;

const SPEC: CommandSpec = CommandSpec {
    name: "help",
    aliases: &[],
    section: Section::General,
    usage: "",
    summary: "Show the commands you can use.",
    level: PermissionLevel::Relay,
    management_only: false,
};

#[async_trait]
impl Command for Help {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, _args: Vec<String>) -> Result<Reply, CommandError> {
        let (text, html) = render_help(
            &ctx.registry,
            ctx.level,
            ctx.host.command_prefix(),
            ctx.is_management,
        );
        Ok(Reply::html(text, html))
    }
}
