//! `ping`: who you are logged in as, and how the connections are.

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
        let logins = ctx.network.logins(&ctx.sender).await;
        let mut text = match logins.as_slice() {
            [] => super::list_logins::NOT_LOGGED_IN.to_owned(),
            [one] => format!("You are logged in as {}.", one.account),
            many => format!(
                "You are logged in as:\n{}",
                super::list_logins::numbered(many)
            ),
        };
        let network = ctx.host.network_name();
        for (login, state) in ctx.host.connection_states().of_user(&ctx.sender) {
            let which = if login.is_empty() {
                network.to_owned()
            } else if login.starts_with(network) {
                // A numbered login's label names the network already ("Telegram login 2").
                login
            } else {
                format!("{network} ({login})")
            };
            text.push_str(&format!("\n{which}: {}.", state.describe()));
        }
        Ok(Reply::text(text))
    }
}
