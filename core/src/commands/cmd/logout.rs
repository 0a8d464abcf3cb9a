//! `logout [N]`: signs one of the sender's logins out of the network and forgets its session.

use async_trait::async_trait;

use crate::commands::{
    Command, CommandContext, CommandError, CommandSpec, PermissionLevel, Reply, Section,
};
use crate::ids::LoginSlot;

pub struct Logout;

const SPEC: CommandSpec = CommandSpec {
    name: "logout",
    aliases: &[],
    section: Section::Auth,
    usage: "[login number]",
    summary: "Unlink your account (one of them: `logout 2`) from the bridge.",
    level: PermissionLevel::User,
    management_only: false,
};

#[async_trait]
impl Command for Logout {
    fn spec(&self) -> &CommandSpec {
        &SPEC
    }
    async fn run(&self, ctx: &CommandContext, args: Vec<String>) -> Result<Reply, CommandError> {
        let network = &ctx.network;
        let logins = network.logins(&ctx.sender).await;
        if logins.is_empty() {
            return Err(CommandError::Failed("You are not logged in.".into()));
        }
        let slot: LoginSlot = match args.as_slice() {
            [] if logins.len() == 1 => logins[0].slot,
            [] => {
                return Err(CommandError::Usage(format!(
                    "You have {} logins; say which to end (`logout 2`):\n{}",
                    logins.len(),
                    super::list_logins::numbered(&logins)
                )));
            }
            [n] => n
                .parse()
                .map_err(|e: crate::ids::BadLoginSlot| CommandError::Usage(e.to_string()))?,
            _ => return Err(CommandError::Usage("Name one login.".into())),
        };
        let Some(login) = logins.iter().find(|l| l.slot == slot) else {
            return Err(CommandError::Failed(format!(
                "You have no login {slot}; yours:\n{}",
                super::list_logins::numbered(&logins)
            )));
        };
        network
            .logout(&ctx.sender, slot)
            .await
            .map_err(|e| CommandError::Failed(format!("Logout failed: {e}")))?;
        if logins.len() == 1 {
            // Whatever the network linked as theirs speaks as a ghost again.
            ctx.host.ghosts().double_puppets().unlink(&ctx.sender);
            return Ok(Reply::text("Logged out."));
        }
        Ok(Reply::text(format!(
            "Logged out of login {slot} ({}).",
            login.account
        )))
    }
}
