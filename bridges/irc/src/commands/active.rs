//! `active`: whether the user's IRC connections are up.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use crate::bridge::IrcBridge;

pub struct Active(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "active",
    aliases: &[],
    section: Section::Info,
    usage: "",
    summary: "Show whether your IRC connections are active.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Active {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, _args: Vec<String>) -> Result<Reply, CommandError> {
        let lines: Vec<String> = self
            .0
            .networks
            .values()
            .map(|n| match n.puppet(&ctx.sender) {
                Some(c) if c.is_registered() => {
                    let chans = c.state().channels.values().filter(|x| x.joined).count();
                    format!("{}: active as {} in {chans} channel(s)", n.name, c.nick())
                }
                Some(_) => format!("{}: reconnecting", n.name),
                None => format!("{}: not connected", n.name),
            })
            .collect();
        Ok(Reply::text(lines.join("\n")))
    }
}
