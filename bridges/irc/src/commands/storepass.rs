//! `storepass [network] password`: stores the user's IRC password, encrypted at rest, used
//! (SASL, server password or NickServ, per network) from the next `reconnect`.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, network};
use crate::bridge::IrcBridge;
use crate::net::password_secret;

pub struct StorePass(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "storepass",
    aliases: &[],
    section: Section::Auth,
    usage: "[network] password",
    summary: "Store your IRC password (used when you next reconnect).",
    level: PermissionLevel::User,
    management_only: true,
};

#[async_trait]
impl Command for StorePass {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let (net, rest) = if args.len() >= 2 {
            network(&self.0, &args)?
        } else {
            network(&self.0, &[]).map(|(n, _)| (n, args.as_slice()))?
        };
        let Some(password) = rest.first().filter(|p| !p.is_empty()) else {
            return Err(CommandError::Usage("Which password?".into()));
        };
        ctx.host
            .store()
            .set_secret(
                &ctx.sender,
                &password_secret(&net.name),
                password.as_bytes(),
            )
            .await
            .map_err(failed)?;
        Ok(Reply::text(format!(
            "Stored your password for {}. Use reconnect to log in with it.",
            net.name
        )))
    }
}
