//! `join <room@conference.server>`: the portal of a MUC (created if needed), and an invite to
//! it; an alternative to joining `#_xmpp_<room>_<server>:<domain>`.

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use ferrybridge_core::ids::PortalKey;

use crate::naming::parse_room;

pub struct Join;

const SPEC: CommandSpec = CommandSpec {
    name: "join",
    aliases: &[],
    section: Section::Chats,
    usage: "<room@conference.example.com>",
    summary: "Join an XMPP group chat (MUC): you get an invite to its portal room.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Join {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let [room] = args.as_slice() else {
            return Err(CommandError::Usage("Name one room.".into()));
        };
        let room = parse_room(room).map_err(CommandError::Usage)?;
        let portals = ctx.host.portals();
        let portal = portals
            .get_or_create(&PortalKey::shared(room.as_str()), &*ctx.network)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        portals
            .invite(&portal, &ctx.sender)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        Ok(Reply::text(format!(
            "Invited you to {} ({room}). Your messages there appear in the XMPP room once you join.",
            portal.room_id()
        )))
    }
}
