//! `unlink !room:server <network arguments>`: removes a bridge between a room and a remote chat.
//! Bridge admins, or moderators (power level ≥ 50) of that room.

use async_trait::async_trait;

use super::room_arg;
use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

pub struct Unlink;

const SPEC: CommandSpec = CommandSpec {
    name: "unlink",
    aliases: &[],
    section: Section::Admin,
    usage: "!room:server <network> <chat>",
    summary: "Unbridge a room from a remote chat (room moderators and bridge admins).",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Unlink {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let room = room_arg(args.first())?;
        let host = &ctx.host;
        super::require_moderator(ctx, &room, &format!("unlink {room}")).await?;
        let portal = host
            .portals()
            .by_room(&room)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?
            .ok_or_else(|| CommandError::Failed(format!("{room} is not bridged.")))?;
        let key = ctx
            .network
            .validate_plumb(&ctx.sender, &room, &args[1..])
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        if key != *portal.key() {
            return Err(CommandError::Failed(format!(
                "{room} is bridged to {}, not to {key}.",
                portal.key()
            )));
        }
        host.portals()
            .unlink(&portal, &*ctx.network)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        Ok(Reply::text(format!("Unlinked {room} from {key}.")))
    }
}
