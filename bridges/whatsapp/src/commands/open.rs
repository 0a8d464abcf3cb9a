//! `open <group id>`: creates the portal of a WhatsApp group and invites you.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use crate::bridge::{Inner, to_bridge_error};
use crate::jid::ChatJid;

pub struct Open(pub Arc<Inner>);

const SPEC: CommandSpec = CommandSpec {
    name: "open",
    aliases: &[],
    section: Section::Chats,
    usage: "<group id> [--login N]",
    summary: "Open the room of a WhatsApp group (IDs from `list groups`).",
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
        let (login, session) = super::session_of(&self.0, ctx, &mut args)?;
        let [id] = args.as_slice() else {
            return Err(CommandError::Usage("Give one group ID.".into()));
        };
        let chat = ChatJid::parse(id).map_err(|e| CommandError::Usage(e.0))?;
        if !chat.is_group() {
            return Err(CommandError::Usage(
                "That is a phone number; use `pm` for private chats.".into(),
            ));
        }
        let info = session.net.group_info(&chat).await.map_err(|e| {
            CommandError::Failed(format!(
                "You are not in a WhatsApp group with ID {id} ({}).",
                to_bridge_error(e)
            ))
        })?;
        let portal = self
            .0
            .open_portal(&login, &chat)
            .await
            .map_err(super::failed)?;
        Ok(Reply::text(format!(
            "Invited you to {} ({}).",
            info.subject,
            portal.room_id()
        )))
    }
}
