//! The core's own commands, one file each; [`core_commands`] lists them for the registry.

mod cancel;
mod delete_portals;
mod help;
mod list_logins;
mod login;
mod logout;
mod ping;
mod plumb;
mod relay;
mod unlink;
mod use_login;
mod version;

use std::sync::Arc;

use super::Command;
use crate::seam::Capabilities;

/// The core commands a network with `caps` gets.
pub fn core_commands(caps: &Capabilities) -> Vec<Arc<dyn Command>> {
    let mut list: Vec<Arc<dyn Command>> = vec![
        Arc::new(help::Help),
        Arc::new(cancel::Cancel),
        Arc::new(version::Version),
        Arc::new(plumb::Plumb),
        Arc::new(unlink::Unlink),
        Arc::new(delete_portals::DeletePortal),
        Arc::new(delete_portals::DeleteAllPortals),
    ];
    if caps.login {
        list.push(Arc::new(login::Login));
        list.push(Arc::new(logout::Logout));
        list.push(Arc::new(list_logins::ListLogins));
        list.push(Arc::new(ping::Ping));
        list.push(Arc::new(relay::SetRelay));
        list.push(Arc::new(relay::UnsetRelay));
        if caps.multiple_logins {
            list.push(Arc::new(use_login::UseLogin));
        }
    }
    list
}

/// Parses a room ID argument, with a clear error.
fn room_arg(arg: Option<&String>) -> Result<ruma::OwnedRoomId, super::CommandError> {
    let arg = arg.ok_or_else(|| {
        super::CommandError::Usage("Name the room by its ID (!room:server).".into())
    })?;
    ruma::RoomId::parse(arg.as_str()).map_err(|_| {
        super::CommandError::Usage(format!(
            "{arg:?} is not a room ID; room IDs start with `!`."
        ))
    })
}

/// Power level that makes a room member a moderator.
const MODERATOR: i64 = 50;

/// Bridge admins pass; anyone else must moderate `room` (power level ≥ 50) to `what`.
async fn require_moderator(
    ctx: &super::CommandContext,
    room: &ruma::OwnedRoomId,
    what: &str,
) -> Result<(), super::CommandError> {
    if ctx.level >= crate::seam::PermissionLevel::Admin {
        return Ok(());
    }
    let level = ctx
        .host
        .matrix()
        .bot_intent()
        .power_level(room, &ctx.sender)
        .await
        .unwrap_or(0);
    if level < MODERATOR {
        return Err(super::CommandError::Forbidden(format!(
            "{what}: you need to be a moderator of that room (power level {MODERATOR}) or a bridge admin"
        )));
    }
    Ok(())
}
