//! `removepass [network]`: forgets the user's stored IRC password.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, network};
use crate::bridge::IrcBridge;
use crate::net::password_secret;

pub struct RemovePass(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "removepass",
    aliases: &[],
    section: Section::Auth,
    usage: "[network]",
    summary: "Forget your stored IRC password.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for RemovePass {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let (net, _) = network(&self.0, &args)?;
        ctx.host
            .store()
            .delete_secret(&ctx.sender, &password_secret(&net.name))
            .await
            .map_err(failed)?;
        Ok(Reply::text(format!(
            "Removed your password for {}.",
            net.name
        )))
    }
}
