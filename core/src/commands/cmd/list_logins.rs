//! `list-logins`: the sender's logins by number, with their connection state.

use async_trait::async_trait;

use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use crate::connections::slot_label;
use crate::seam::LoginInfo;

pub struct ListLogins;

/// What the login commands answer a user without a login.
pub(super) const NOT_LOGGED_IN: &str = "You are not logged in. Send `login` to link your account.";

const SPEC: CommandSpec = CommandSpec {
    name: "list-logins",
    aliases: &["logins"],
    section: Section::Auth,
    usage: "",
    summary: "List the accounts you are logged in with, by number.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for ListLogins {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, _args: Vec<String>) -> Result<Reply, CommandError> {
        let logins = ctx.network.logins(&ctx.sender).await;
        if logins.is_empty() {
            return Ok(Reply::text(NOT_LOGGED_IN));
        }
        let states = ctx.host.connection_states().of_user(&ctx.sender);
        let network = ctx.host.network_name();
        let mut text = String::from("Your logins:");
        for login in &logins {
            let label = slot_label(network, login.slot);
            let state = states
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, s)| s.describe())
                .unwrap_or_else(|| "state unknown".into());
            text.push_str(&format!("\n{}. {} ({state})", login.slot, login.account));
        }
        if ctx.network.capabilities().multiple_logins {
            text.push_str(
                "\nCommands use login 1 unless given `--login N`; `logout N` ends one, `login` adds one.",
            );
        }
        Ok(Reply::text(text))
    }
}

/// "1. Alice (+44…)", one per line: how commands name a user's logins.
pub(super) fn numbered(logins: &[LoginInfo]) -> String {
    logins
        .iter()
        .map(|l| format!("{}. {}", l.slot, l.account))
        .collect::<Vec<_>>()
        .join("\n")
}
