//! `listrooms [network]`: the channels the user's puppet is in, linked to their rooms.

use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use ferrybridge_core::ids::PortalKey;

use super::network;
use crate::bridge::IrcBridge;
use crate::format::escape_html;
use crate::ids::chat_id;

pub struct ListRooms(pub Arc<IrcBridge>);

const SPEC: CommandSpec = CommandSpec {
    name: "listrooms",
    aliases: &[],
    section: Section::Info,
    usage: "[network]",
    summary: "List the IRC channels you are in, with links to their rooms.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for ListRooms {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let (net, _) = network(&self.0, &args)?;
        let Some(conn) = net.puppet(&ctx.sender) else {
            return Ok(Reply::text(format!(
                "You are not connected to {}.",
                net.name
            )));
        };
        let channels: Vec<String> = conn
            .state()
            .channels
            .values()
            .filter(|c| c.joined)
            .map(|c| c.name.clone())
            .collect();
        if channels.is_empty() {
            return Ok(Reply::text(format!(
                "You are in no channels on {}.",
                net.name
            )));
        }
        let (mut text, mut html) = (
            format!("Your channels on {}:", net.name),
            format!("Your channels on {}:<ul>", escape_html(&net.name)),
        );
        for chan in channels {
            let key = PortalKey::shared(chat_id(&net.name, &chan));
            match ctx.host.portals().get(&key).await.ok().flatten() {
                Some(p) => {
                    let url = format!("https://matrix.to/#/{}", p.room_id());
                    text.push_str(&format!("\n- {chan}: {url}"));
                    html.push_str(&format!(
                        "<li><a href=\"{url}\">{}</a></li>",
                        escape_html(&chan)
                    ));
                }
                None => {
                    text.push_str(&format!("\n- {chan} (no room)"));
                    html.push_str(&format!("<li>{} (no room)</li>", escape_html(&chan)));
                }
            }
        }
        html.push_str("</ul>");
        Ok(Reply::html(text, html))
    }
}
