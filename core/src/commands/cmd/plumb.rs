//! `plumb !room:server <network arguments>`: bridges an existing Matrix room to a remote chat.
//! Bridge admins only; the bot must already be in the room; the network validates the remote
//! side (e.g. `irc.example.net #channel`).

use async_trait::async_trait;

use super::room_arg;
use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use crate::ids::PortalKind;

pub struct Plumb;

const SPEC: CommandSpec = CommandSpec {
    name: "plumb",
    aliases: &[],
    section: Section::Admin,
    usage: "!room:server <network> <chat>",
    summary: "Bridge an existing room to a remote chat (invite the bot to the room first).",
    level: PermissionLevel::Admin,
    management_only: false,
};

#[async_trait]
impl Command for Plumb {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let room = room_arg(args.first())?;
        let host = &ctx.host;
        let bot = host.matrix().bot_intent();
        let joined = bot.joined_members(&room).await.unwrap_or_default();
        if !joined.iter().any(|m| m.as_str() == bot.user_id().as_str()) {
            return Err(CommandError::Failed(format!(
                "I am not in {room}. Invite me to the room first, then plumb it."
            )));
        }
        if let Ok(Some(existing)) = host.portals().by_room(&room).await {
            return Err(CommandError::Failed(format!(
                "{room} is already bridged to {}.",
                existing.key()
            )));
        }
        let key = ctx
            .network
            .validate_plumb(&ctx.sender, &room, &args[1..])
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        let kind = match ctx.network.describe_chat(&key).await {
            Ok(spec) => spec.kind,
            Err(_) => PortalKind::Channel,
        };
        let portal = host
            .portals()
            .link_room(&key, &room, kind, true)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        Ok(Reply::text(format!(
            "Bridged {} to {}.",
            portal.room_id(),
            portal.key()
        )))
    }
}
