//! `join [network] #channel [key]`: creates or finds the channel's portal, invites the user and
//! joins the channel with their puppet.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use ferrybridge_core::ids::PortalKey;

use super::{failed, network};
use crate::bridge::IrcBridge;
use crate::ids::chat_id;
use crate::net::{CONNECT_WAIT, REQUEST_WAIT};

pub struct Join(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "join",
    aliases: &[],
    section: Section::Chats,
    usage: "[network] #channel [key]",
    summary: "Join an IRC channel (and get invited to its room).",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Join {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let (net, rest) = network(&self.0, &args)?;
        let Some(channel) = rest.first() else {
            return Err(CommandError::Usage(
                "Which channel? e.g. join #channel".into(),
            ));
        };
        let key = rest.get(1).map(String::as_str);
        if ctx.level < net.config.join_permission {
            return Err(CommandError::Forbidden(format!(
                "join channels on {}",
                net.name
            )));
        }
        self.0.check_channel(&net, channel).map_err(failed)?;
        let portal_key = PortalKey::shared(chat_id(&net.name, channel));
        let existing = ctx.host.portals().get(&portal_key).await.map_err(failed)?;
        if existing.is_none() && !net.config.dynamic_channels {
            return Err(failed(format!(
                "{channel} is not bridged, and this bridge only bridges channels set up by its administrator."
            )));
        }
        // Connect and join first: a key or ban problem is reported before a room appears.
        let conn = net.ensure_puppet(&ctx.sender).await.map_err(failed)?;
        conn.wait_registered(CONNECT_WAIT).await.map_err(failed)?;
        conn.join(channel, key, REQUEST_WAIT)
            .await
            .map_err(failed)?;
        // Rejoined after a bridge restart (see `restore`).
        crate::restore::remember(&net, &ctx.sender, channel, true).await;
        let portal = ctx
            .host
            .portals()
            .get_or_create(&portal_key, &*ctx.network)
            .await
            .map_err(failed)?;
        net.bot_join_with_key(channel, key).await;
        ctx.host
            .portals()
            .invite(&portal, &ctx.sender)
            .await
            .map_err(failed)?;
        Ok(Reply::text(format!(
            "Joined {channel} on {} as {}; you are invited to its room.",
            net.name,
            conn.nick()
        )))
    }
}
