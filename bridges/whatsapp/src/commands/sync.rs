//! `sync`: refreshes contacts and group rooms (and reconnects if the connection dropped).

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::bridge::BridgeError;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use ferrybridge_core::events::{RemoteEvent, RemoteEventKind};

use crate::bridge::{Inner, group_chat_info, reconnect, to_bridge_error};

pub struct Sync(pub Arc<Inner>);

const SPEC: CommandSpec = CommandSpec {
    name: "sync",
    aliases: &[],
    section: Section::Chats,
    usage: "[--login N]",
    summary: "Refresh group names, topics and pictures from WhatsApp (and reconnect).",
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
        let login = super::login_of(&self.0, ctx, &mut args)?;
        let session = match self.0.sessions.get(&login) {
            Some(s) => s,
            None => {
                reconnect(&self.0, &login).await.map_err(super::failed)?;
                self.0
                    .sessions
                    .get(&login)
                    .ok_or(BridgeError::NotLoggedIn)
                    .map_err(super::failed)?
            }
        };
        let groups = session
            .net
            .groups()
            .await
            .map_err(|e| super::failed(to_bridge_error(e)))?;
        let mut updated = 0;
        for group in &groups {
            let key = Inner::portal_key(&group.jid, &login);
            if let Ok(Some(_)) = ctx.host.portals().get(&key).await {
                ctx.host
                    .send(RemoteEvent {
                        portal: key,
                        kind: RemoteEventKind::ChatInfo(group_chat_info(group)),
                    })
                    .await;
                updated += 1;
            }
        }
        Ok(Reply::text(format!(
            "Synced: {} groups on WhatsApp, {updated} rooms updated.",
            groups.len()
        )))
    }
}
