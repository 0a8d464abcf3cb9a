//! `ping`: who you are logged in as.

use async_trait::async_trait;

use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

pub struct Ping;

const SPEC: CommandSpec = CommandSpec {
    name: "ping",
    aliases: &["whoami"],
    section: Section::Auth,
    usage: "",
    summary: "Show which account you are logged in as.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Ping {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, _args: Vec<String>) -> Result<Reply, CommandError> {
        Ok(Reply::text(
            match ctx.host.network().whoami(&ctx.sender).await {
                Some(account) => format!("You are logged in as {account}."),
                None => "You are not logged in. Send `login` to link your account.".to_owned(),
            },
        ))
    }
}
