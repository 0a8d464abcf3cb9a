//! `quit`: disconnects the user from every IRC network.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use crate::bridge::IrcBridge;
use crate::net::lock;

pub struct Quit(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "quit",
    aliases: &[],
    section: Section::Actions,
    usage: "",
    summary: "Disconnect from IRC (you reconnect when you next talk or join).",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Quit {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, _args: Vec<String>) -> Result<Reply, CommandError> {
        let mut quit = Vec::new();
        for net in self.0.networks.values() {
            let conn = lock(&net.puppets).remove(&ctx.sender);
            if let Some(conn) = conn {
                conn.quit("Left via the bridge");
                quit.push(net.name.clone());
            }
            crate::restore::forget(net, &ctx.sender).await;
        }
        Ok(Reply::text(if quit.is_empty() {
            "You are not connected to IRC.".to_owned()
        } else {
            format!("Disconnected from {}.", quit.join(", "))
        }))
    }
}
