//! `login`: starts the network's login step machine in the management room. On networks that
//! allow several logins it adds one (the network numbers it); elsewhere a second is refused.

use async_trait::async_trait;

use crate::commands::login_driver::spawn_login;
use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

pub struct Login;

const SPEC: CommandSpec = CommandSpec {
    name: "login",
    aliases: &[],
    section: Section::Auth,
    usage: "[options]",
    summary: "Link your account on the network.",
    level: PermissionLevel::User,
    management_only: true,
};

#[async_trait]
impl Command for Login {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let network = &ctx.network;
        if let Some(account) = network.whoami(&ctx.sender).await
            && !network.capabilities().multiple_logins
        {
            return Err(CommandError::Failed(format!(
                "You are already logged in as {account}. Send `logout` first to switch accounts."
            )));
        }
        let process = network
            .start_login(&ctx.sender, &args)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        if !spawn_login(
            ctx.host.clone(),
            ctx.logins.clone(),
            ctx.sender.clone(),
            ctx.room_id.clone(),
            process,
        ) {
            return Err(CommandError::Failed(
                "A login is already in progress; send `cancel` to stop it.".into(),
            ));
        }
        Ok(Reply::Silent)
    }
}
