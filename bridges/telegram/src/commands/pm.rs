//! `pm +4412345678` / `pm @username`: opens the private chat with a Telegram user.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use super::{failed, session_of};
use crate::bridge::TelegramBridge;
use crate::network::{ChatRef, TgError};

pub struct Pm(pub Arc<TelegramBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "pm",
    aliases: &[],
    section: Section::Chats,
    usage: "<+phone number | @username> [--login N]",
    summary: "Open a private chat with a Telegram user (phone number in international format).",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Pm {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(
        &self,
        ctx: &CommandContext,
        mut args: Vec<String>,
    ) -> Result<Reply, CommandError> {
        let session = session_of(&self.0, ctx, &mut args)?;
        let [who] = args.as_slice() else {
            return Err(CommandError::Usage(
                "Name one phone number or @username.".into(),
            ));
        };
        let found = if let Some(name) = who.strip_prefix('@') {
            self.0.call(session.net.resolve_username(name)).await
        } else {
            let phone: String = who
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .collect();
            if !phone.starts_with('+')
                || !phone[1..].chars().all(|c| c.is_ascii_digit())
                || phone.len() < 6
            {
                return Err(CommandError::Usage(format!(
                    "{who:?} is neither a phone number in international format (+4412345678) nor an @username."
                )));
            }
            self.0.call(session.net.resolve_phone(&phone)).await
        };
        let user = match found {
            Ok(u) => u,
            Err(TgError::NotFound) => {
                return Err(CommandError::Failed(format!(
                    "{who} is not on Telegram (or hides their number)."
                )));
            }
            Err(e) => return Err(failed(e)),
        };
        session.ensure_profile(&ctx.host, &user).await;
        let portal = session
            .ensure_portal(&self.0, ChatRef::user(user.id))
            .await
            .map_err(failed)?;
        ctx.host
            .portals()
            .invite(&portal, &ctx.sender)
            .await
            .map_err(failed)?;
        Ok(Reply::text(format!(
            "Opened a chat with {} ({}); you are invited to {}.",
            user.display_name(),
            who,
            portal.room_id()
        )))
    }
}
