//! `cancel`: stops a login in progress. While a login waits, the router hands `cancel` to it
//! directly; this command only answers when there is nothing to cancel.

use async_trait::async_trait;

use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

pub struct Cancel;

const SPEC: CommandSpec = CommandSpec {
    name: "cancel",
    aliases: &[],
    section: Section::General,
    usage: "",
    summary: "Stop the login or other command in progress.",
    level: PermissionLevel::Relay,
    management_only: false,
};

#[async_trait]
impl Command for Cancel {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, _ctx: &CommandContext, _args: Vec<String>) -> Result<Reply, CommandError> {
        Ok(Reply::text("There is nothing to cancel."))
    }
}
