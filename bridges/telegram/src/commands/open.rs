//! `open <chat id>`: bridges a group that was not set up automatically and invites you.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, session_of};
use crate::bridge::TelegramBridge;
use crate::network::{ChatRef, TgError};

pub struct Open(pub Arc<TelegramBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "open",
    aliases: &[],
    section: Section::Chats,
    usage: "<chat id> [--login N]",
    summary: "Open the room for a Telegram group (IDs from `list groups`).",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Open {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(
        &self,
        ctx: &CommandContext,
        mut args: Vec<String>,
    ) -> Result<Reply, CommandError> {
        let session = session_of(&self.0, ctx, &mut args)?;
        let [id] = args.as_slice() else {
            return Err(CommandError::Usage("Name one chat ID.".into()));
        };
        let chat: ChatRef = id
            .parse()
            .map_err(|e| CommandError::Usage(format!("{e}")))?;
        match self.0.call(session.net.chat(chat)).await {
            Ok(_) => {}
            Err(TgError::NotFound) => {
                return Err(CommandError::Failed(format!(
                    "You have no Telegram chat {id}."
                )));
            }
            Err(e) => return Err(failed(e)),
        }
        let portal = session.ensure_portal(&self.0, chat).await.map_err(failed)?;
        ctx.host
            .portals()
            .invite(&portal, &ctx.sender)
            .await
            .map_err(failed)?;
        Ok(Reply::text(format!("Invited you to {}.", portal.room_id())))
    }
}
