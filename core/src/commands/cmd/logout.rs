//! `logout`: signs out of the network and forgets the session.

use async_trait::async_trait;

use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

pub struct Logout;

const SPEC: CommandSpec = CommandSpec {
    name: "logout",
    aliases: &[],
    section: Section::Auth,
    usage: "",
    summary: "Unlink your account from the bridge.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Logout {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, _args: Vec<String>) -> Result<Reply, CommandError> {
        let network = &ctx.network;
        if network.whoami(&ctx.sender).await.is_none() {
            return Err(CommandError::Failed("You are not logged in.".into()));
        }
        network
            .logout(&ctx.sender)
            .await
            .map_err(|e| CommandError::Failed(format!("Logout failed: {e}")))?;
        // Whatever the network linked as theirs speaks as a ghost again.
        ctx.host.ghosts().double_puppets().unlink(&ctx.sender);
        Ok(Reply::text("Logged out."))
    }
}
