//! `list groups`: your Telegram groups and channels with their IDs, for `open`.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, session_of};
use crate::bridge::TelegramBridge;
use crate::network::ChatKind;

pub struct List(pub Arc<TelegramBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "list",
    aliases: &[],
    section: Section::Chats,
    usage: "groups [--login N]",
    summary: "List your Telegram groups and their IDs.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for List {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(
        &self,
        ctx: &CommandContext,
        mut args: Vec<String>,
    ) -> Result<Reply, CommandError> {
        let session = session_of(&self.0, ctx, &mut args)?;
        match args.first().map(|a| a.to_lowercase()).as_deref() {
            Some("groups") | Some("group") | Some("chats") => {}
            _ => {
                return Err(CommandError::Usage(
                    "Only `list groups` is supported.".into(),
                ));
            }
        }
        let chats = self
            .0
            .call(session.net.dialogs(200))
            .await
            .map_err(failed)?;
        let groups: Vec<String> = chats
            .iter()
            .filter(|c| c.chat.kind != ChatKind::User)
            .map(|c| format!("- {} — `open {}`", c.title, c.chat))
            .collect();
        if groups.is_empty() {
            return Ok(Reply::text("You are in no Telegram groups."));
        }
        Ok(Reply::text(format!("Your groups:\n{}", groups.join("\n"))))
    }
}
