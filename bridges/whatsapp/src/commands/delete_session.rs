//! `delete-session`: forgets the WhatsApp session on this side without telling WhatsApp.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};

use crate::bridge::Inner;
use crate::sessions;

pub struct DeleteSession(pub Arc<Inner>);

const SPEC: CommandSpec = CommandSpec {
    name: "delete-session",
    aliases: &[],
    section: Section::Auth,
    usage: "[--login N]",
    summary: "Delete the WhatsApp session here without logging out on WhatsApp.",
    level: PermissionLevel::User,
    management_only: true,
};

#[async_trait]
impl Command for DeleteSession {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(
        &self,
        ctx: &CommandContext,
        mut args: Vec<String>,
    ) -> Result<Reply, CommandError> {
        let login = super::login_of(&self.0, ctx, &mut args)?;
        let session = self.0.sessions.remove(&login);
        sessions::forget_login(&ctx.host, &login, session.as_ref().map(|s| &s.account)).await;
        let net = match session {
            Some(s) => s.net,
            None => self
                .0
                .open_device(&login)
                .await
                .map_err(|e| CommandError::Failed(e.to_string()))?,
        };
        net.disconnect().await;
        net.delete_session()
            .await
            .map_err(|e| CommandError::Failed(format!("Could not delete the session: {e}")))?;
        Ok(Reply::text(
            "Session deleted. WhatsApp still lists the device until you remove it on your phone.",
        ))
    }
}
