//! `sync`: refreshes recent chats (portals, invites) and contact names.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, session_of};
use crate::bridge::TelegramBridge;

pub struct Sync(pub Arc<TelegramBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "sync",
    aliases: &[],
    section: Section::Chats,
    usage: "[--login N]",
    summary: "Refresh your recent Telegram chats and contacts.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Sync {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(
        &self,
        ctx: &CommandContext,
        mut args: Vec<String>,
    ) -> Result<Reply, CommandError> {
        let session = session_of(&self.0, ctx, &mut args)?;
        let n = session.open_recent(&self.0).await.map_err(failed)?;
        Ok(Reply::text(format!("Synced {n} recent chats.")))
    }
}
