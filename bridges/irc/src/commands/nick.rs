//! `nick [network] [nick]`: shows the user's nicks, or changes one (kept across reconnects).

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, network};
use crate::bridge::IrcBridge;
use crate::net::{CONNECT_WAIT, KV_NICK, REQUEST_WAIT, user_key};
use crate::nick::{DEFAULT_NICKLEN, clean_nick};

pub struct Nick(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "nick",
    aliases: &[],
    section: Section::Actions,
    usage: "[network] [nick]",
    summary: "Show your IRC nick, or change it.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Nick {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let only_network = args.len() == 1 && self.0.config.find_server(&args[0]).is_some();
        if args.is_empty() || only_network {
            let lines: Vec<String> = self
                .0
                .networks
                .values()
                .filter(|n| !only_network || n.name.eq_ignore_ascii_case(&args[0]))
                .map(|n| match n.puppet(&ctx.sender) {
                    Some(c) if c.is_registered() => format!("{}: {}", n.name, c.nick()),
                    Some(_) => format!("{}: connecting", n.name),
                    None => format!("{}: not connected", n.name),
                })
                .collect();
            return Ok(Reply::text(lines.join("\n")));
        }
        let (net, rest) = network(&self.0, &args)?;
        let Some(wanted) = rest.first() else {
            return Err(CommandError::Usage("Which nick?".into()));
        };
        let cleaned = clean_nick(wanted, DEFAULT_NICKLEN).map_err(failed)?;
        if &cleaned != wanted {
            return Err(failed(format!(
                "{wanted:?} is not a valid IRC nick (did you mean {cleaned}?)"
            )));
        }
        let conn = net.ensure_puppet(&ctx.sender).await.map_err(failed)?;
        conn.wait_registered(CONNECT_WAIT).await.map_err(failed)?;
        let nick = conn
            .change_nick(wanted, REQUEST_WAIT)
            .await
            .map_err(failed)?;
        let _ = ctx
            .host
            .store()
            .kv_set(KV_NICK, &user_key(&net.name, &ctx.sender), &nick)
            .await;
        Ok(Reply::text(format!(
            "Your nick on {} is now {nick}.",
            net.name
        )))
    }
}
