//! `search <name>`: contacts and chats whose name matches.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, session_of};
use crate::bridge::TelegramBridge;

pub struct Search(pub Arc<TelegramBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "search",
    aliases: &[],
    section: Section::Chats,
    usage: "<name> [--login N]",
    summary: "Search your Telegram contacts and chats by name.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Search {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(
        &self,
        ctx: &CommandContext,
        mut args: Vec<String>,
    ) -> Result<Reply, CommandError> {
        let session = session_of(&self.0, ctx, &mut args)?;
        if args.is_empty() {
            return Err(CommandError::Usage("Say what to search for.".into()));
        }
        let query = args.join(" ");
        let found = self
            .0
            .call(session.net.search(&query))
            .await
            .map_err(failed)?;
        if found.is_empty() {
            return Ok(Reply::text(format!(
                "Nothing on Telegram matches {query:?}."
            )));
        }
        let lines: Vec<String> = found
            .iter()
            .take(20)
            .map(|c| format!("- {} ({})", c.title, c.chat))
            .collect();
        Ok(Reply::text(format!(
            "Found:\n{}\nUse `open <id>` for a group or `pm` for a person.",
            lines.join("\n")
        )))
    }
}
