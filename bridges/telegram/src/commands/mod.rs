//! The Telegram bridge's own bot commands, one file each.

mod list;
mod open;
mod pm;
mod search;
mod sync;

use std::sync::Arc;

use ferrybridge_core::commands::login_choice::take_login;
use ferrybridge_core::commands::{Command, CommandContext, CommandError};

use crate::bridge::TelegramBridge;
use crate::session::UserSession;

/// Every command of the Telegram bridge.
pub fn all(bridge: &Arc<TelegramBridge>) -> Vec<Arc<dyn Command>> {
    vec![
        Arc::new(pm::Pm(bridge.clone())),
        Arc::new(search::Search(bridge.clone())),
        Arc::new(list::List(bridge.clone())),
        Arc::new(open::Open(bridge.clone())),
        Arc::new(sync::Sync(bridge.clone())),
    ]
}

/// The session a command acts through: the login `--login N` names (taken out of `args`),
/// else the sender's first; or the "log in first" error.
fn session_of(
    bridge: &TelegramBridge,
    ctx: &CommandContext,
    args: &mut Vec<String>,
) -> Result<Arc<UserSession>, CommandError> {
    match take_login(args)? {
        Some(slot) => bridge.session_at(&ctx.sender, slot).ok_or_else(|| {
            CommandError::Failed(format!(
                "You have no Telegram login {slot}; `list-logins` shows yours."
            ))
        }),
        None => bridge.session(&ctx.sender).ok_or_else(|| {
            CommandError::Failed("You are not logged in to Telegram. Send `login` first.".into())
        }),
    }
}

fn failed(e: impl std::fmt::Display) -> CommandError {
    CommandError::Failed(e.to_string())
}
