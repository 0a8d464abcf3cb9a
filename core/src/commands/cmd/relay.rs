//! `set-relay !room:server` and `unset-relay !room:server`: relay mode for one group portal.
//! While set, members of the room who have no login of their own talk through the login of
//! the user who set it, their name in front of each message (`bridge.relay`).

use async_trait::async_trait;

use super::room_arg;
use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use crate::portal::Portal;

pub struct SetRelay;
pub struct UnsetRelay;

const SET: CommandSpec = CommandSpec {
    name: "set-relay",
    aliases: &[],
    section: Section::Admin,
    usage: "!room:server",
    summary: "Let members of a bridged group without a login talk through your login.",
    level: PermissionLevel::User,
    management_only: false,
};

const UNSET: CommandSpec = CommandSpec {
    name: "unset-relay",
    aliases: &[],
    section: Section::Admin,
    usage: "!room:server",
    summary: "Stop relaying in a bridged group (the relay, room moderators, bridge admins).",
    level: PermissionLevel::User,
    management_only: false,
};

/// The group portal of `room`.
async fn group_portal(
    ctx: &CommandContext,
    room: &ruma::OwnedRoomId,
) -> Result<Portal, CommandError> {
    let portal = ctx
        .host
        .portals()
        .by_room(room)
        .await
        .map_err(|e| CommandError::Failed(e.to_string()))?
        .ok_or_else(|| CommandError::Failed(format!("{room} is not bridged.")))?;
    if portal.key().receiver.is_some() {
        return Err(CommandError::Failed(format!(
            "{room} is a private chat: only group portals have relays."
        )));
    }
    Ok(portal)
}

#[async_trait]
impl Command for SetRelay {
    fn spec(&self) -> &CommandSpec {
        &SET
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let relays = ctx.host.relays();
        if !relays.enabled() {
            return Err(CommandError::Failed(
                "Relay mode is off on this bridge (bridge.relay.enabled in its config).".into(),
            ));
        }
        let room = room_arg(args.first())?;
        if relays.admin_only() && ctx.level < PermissionLevel::Admin {
            return Err(CommandError::Forbidden(
                "Only bridge admins may set relays on this bridge.".into(),
            ));
        }
        super::require_moderator(ctx, &room, &format!("set-relay {room}")).await?;
        let Some(login) = ctx.network.whoami(&ctx.sender).await else {
            return Err(CommandError::Failed(
                "Log in first: the relay sends through your login.".into(),
            ));
        };
        let portal = group_portal(ctx, &room).await?;
        relays
            .set(portal.key(), &ctx.sender)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        Ok(Reply::text(format!(
            "Members of {room} who are not logged in now talk through your login ({login})."
        )))
    }
}

#[async_trait]
impl Command for UnsetRelay {
    fn spec(&self) -> &CommandSpec {
        &UNSET
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let room = room_arg(args.first())?;
        let portal = group_portal(ctx, &room).await?;
        let relays = ctx.host.relays();
        let current = relays
            .get(portal.key())
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        let Some(relay) = current else {
            return Err(CommandError::Failed(format!("{room} has no relay.")));
        };
        if relay != ctx.sender {
            super::require_moderator(ctx, &room, &format!("unset-relay {room}")).await?;
        }
        relays
            .unset(portal.key())
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        Ok(Reply::text(format!(
            "{room} has no relay any more: members without a login are told to log in."
        )))
    }
}
