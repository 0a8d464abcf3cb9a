//! `pm +4412345678`: opens a direct chat with a WhatsApp number, if it is on WhatsApp.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use crate::bridge::{Inner, to_bridge_error};
use crate::jid::{ChatJid, Phone};

pub struct Pm(pub Arc<Inner>);

const SPEC: CommandSpec = CommandSpec {
    name: "pm",
    aliases: &[],
    section: Section::Chats,
    usage: "<+phone number> [--login N]",
    summary: "Open a private chat with a WhatsApp number, e.g. `pm +4412345678`.",
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
        let (login, session) = super::session_of(&self.0, ctx, &mut args)?;
        if args.is_empty() {
            return Err(CommandError::Usage("Give a phone number.".into()));
        }
        let phone = Phone::parse(&args.join("")).map_err(|e| CommandError::Usage(e.0))?;
        let found = session
            .net
            .is_on_whatsapp(std::slice::from_ref(&phone))
            .await
            .map_err(|e| super::failed(to_bridge_error(e)))?;
        if !found.iter().any(|(p, on)| *p == phone && *on) {
            return Err(CommandError::Failed(format!("{phone} is not on WhatsApp.")));
        }
        let portal = self
            .0
            .open_portal(&login, &ChatJid::Direct(phone.clone()))
            .await
            .map_err(super::failed)?;
        Ok(Reply::text(format!(
            "Invited you to the chat with {phone} ({}).",
            portal.room_id()
        )))
    }
}
