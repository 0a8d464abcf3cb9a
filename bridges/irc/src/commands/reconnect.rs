//! `reconnect [network]`: reconnects with the current settings (new nick, username, password).

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, network};
use crate::bridge::IrcBridge;

pub struct Reconnect(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "reconnect",
    aliases: &[],
    section: Section::Actions,
    usage: "[network]",
    summary: "Reconnect to IRC (applies a stored password or username).",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Reconnect {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let (net, _) = network(&self.0, &args)?;
        match net.puppet(&ctx.sender) {
            Some(conn) => {
                let config = net
                    .puppet_config(&ctx.host, &ctx.sender)
                    .await
                    .map_err(failed)?;
                conn.reconnect(Some(config));
            }
            None => {
                net.ensure_puppet(&ctx.sender).await.map_err(failed)?;
            }
        }
        Ok(Reply::text(format!("Reconnecting to {}…", net.name)))
    }
}
