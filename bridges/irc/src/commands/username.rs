//! `username [network] name`: the account name for SASL/NickServ and the ident, from the next
//! `reconnect`.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, network};
use crate::bridge::IrcBridge;
use crate::net::{KV_USERNAME, user_key};

pub struct Username(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "username",
    aliases: &[],
    section: Section::Auth,
    usage: "[network] name",
    summary: "Set your IRC account name (used when you next reconnect).",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Username {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let (net, rest) = if args.len() >= 2 {
            network(&self.0, &args)?
        } else {
            network(&self.0, &[]).map(|(n, _)| (n, args.as_slice()))?
        };
        let Some(name) = rest.first() else {
            return Err(CommandError::Usage("Which username?".into()));
        };
        if name.is_empty()
            || name.len() > 64
            || name.contains(|c: char| c.is_whitespace() || c.is_control())
        {
            return Err(failed(format!("{name:?} is not a usable IRC username")));
        }
        ctx.host
            .store()
            .kv_set(KV_USERNAME, &user_key(&net.name, &ctx.sender), name)
            .await
            .map_err(failed)?;
        Ok(Reply::text(format!(
            "Your username on {} is now {name}. Use reconnect to apply it.",
            net.name
        )))
    }
}
