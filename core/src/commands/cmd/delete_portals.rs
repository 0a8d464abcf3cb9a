//! `delete-portal` (in a portal room) and `delete-all-portals`: clean up rooms the bridge made.

use async_trait::async_trait;

use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

pub struct DeletePortal;
pub struct DeleteAllPortals;

const DELETE_ONE: CommandSpec = CommandSpec {
    name: "delete-portal",
    aliases: &[],
    section: Section::Chats,
    usage: "",
    summary: "Delete this portal room (your own private chats, or any portal for admins).",
    level: PermissionLevel::User,
    management_only: false,
};

const DELETE_ALL: CommandSpec = CommandSpec {
    name: "delete-all-portals",
    aliases: &[],
    section: Section::Chats,
    usage: "",
    summary: "Delete all your private chat portals.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for DeletePortal {
    fn spec(&self) -> &CommandSpec {
        &DELETE_ONE
    }
    async fn run(&self, ctx: &CommandContext, _args: Vec<String>) -> Result<Reply, CommandError> {
        let portals = ctx.host.portals();
        let portal = portals
            .by_room(&ctx.room_id)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?
            .ok_or_else(|| CommandError::Failed("This room is not a portal.".into()))?;
        let own = portal.key().receiver.as_ref() == Some(&ctx.sender);
        if !own && ctx.level < PermissionLevel::Admin {
            return Err(CommandError::Forbidden(
                "delete a portal that is not your own".into(),
            ));
        }
        portals
            .delete(&portal, &*ctx.network)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        Ok(Reply::Silent)
    }
}

#[async_trait]
impl Command for DeleteAllPortals {
    fn spec(&self) -> &CommandSpec {
        &DELETE_ALL
    }
    async fn run(&self, ctx: &CommandContext, _args: Vec<String>) -> Result<Reply, CommandError> {
        let host = &ctx.host;
        let rows = host
            .store()
            .portals_of_receiver(&ctx.sender)
            .await
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        let mut deleted = 0;
        for row in rows {
            let portal = crate::portal::Portal { row };
            match host.portals().delete(&portal, &*ctx.network).await {
                Ok(()) => deleted += 1,
                Err(e) => {
                    tracing::warn!(portal = %portal.key(), error = %e, "could not delete portal")
                }
            }
        }
        Ok(Reply::text(format!("Deleted {deleted} portal(s).")))
    }
}
