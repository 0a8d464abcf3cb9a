//! The WhatsApp bridge's own bot commands, one per file.

use std::sync::Arc;

use ferrybridge_core::bridge::BridgeError;
use ferrybridge_core::commands::login_choice::take_login;
use ferrybridge_core::commands::{Command, CommandContext, CommandError};
use ferrybridge_core::ids::UserLogin;

use crate::bridge::Inner;
use crate::sessions::Session;

mod delete_session;
mod list;
mod open;
mod pm;
mod sync;

/// All of them, sharing the bridge state.
pub fn all(inner: &Arc<Inner>) -> Vec<Arc<dyn Command>> {
    vec![
        Arc::new(pm::Pm(inner.clone())),
        Arc::new(list::List(inner.clone())),
        Arc::new(open::Open(inner.clone())),
        Arc::new(delete_session::DeleteSession(inner.clone())),
        Arc::new(sync::Sync(inner.clone())),
    ]
}

/// A bridge error as a command failure, worded for the user.
pub fn failed(e: BridgeError) -> CommandError {
    match e {
        BridgeError::NotLoggedIn => {
            CommandError::Failed("You are not logged in to WhatsApp. Send `login` first.".into())
        }
        other => CommandError::Failed(other.to_string()),
    }
}

/// The linked account a command acts through: the one `--login N` names (taken out of
/// `args`), else the sender's first; or the "log in first" error.
pub fn session_of(
    inner: &Inner,
    ctx: &CommandContext,
    args: &mut Vec<String>,
) -> Result<(UserLogin, Session), CommandError> {
    match take_login(args)? {
        Some(slot) => {
            let login = UserLogin::new(ctx.sender.clone(), slot);
            let session = inner.sessions.get(&login).ok_or_else(|| {
                CommandError::Failed(format!(
                    "You have no WhatsApp login {slot}; `list-logins` shows yours."
                ))
            })?;
            Ok((login, session))
        }
        None => inner.session(&ctx.sender).map_err(failed),
    }
}

/// As [`session_of`] for commands that also work on a login whose connection is down (its
/// session file is still there): the login named, else the first connected one, else 1.
pub fn login_of(
    inner: &Inner,
    ctx: &CommandContext,
    args: &mut Vec<String>,
) -> Result<UserLogin, CommandError> {
    Ok(match take_login(args)? {
        Some(slot) => UserLogin::new(ctx.sender.clone(), slot),
        None => inner
            .sessions
            .first(&ctx.sender)
            .map(|(login, _)| login)
            .unwrap_or_else(|| UserLogin::first(ctx.sender.clone())),
    })
}
