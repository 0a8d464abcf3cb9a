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
        let mut text = match ctx.network.whoami(&ctx.sender).await {
            Some(account) => format!("You are logged in as {account}."),
            None => "You are not logged in. Send `login` to link your account.".to_owned(),
        };
        let network = ctx.host.network_name();
        for (login, state) in ctx.host.connection_states().of_user(&ctx.sender) {
            let which = if login.is_empty() {
                network.to_owned()
            } else {
                format!("{network} ({login})")
            };
            text.push_str(&format!("\n{which}: {}.", state.describe()));
        }
        Ok(Reply::text(text))
    }
}
