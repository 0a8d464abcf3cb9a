//! The IRC bridge's bot commands, one per file.

mod active;
mod certfp;
mod cmd;
mod feature;
mod join;
mod listrooms;
mod nick;
mod quit;
mod reconnect;
mod removepass;
mod storepass;
mod username;
mod whois;

use std::sync::Arc;

use ferrybridge_core::commands::{Command, CommandError};

use crate::bridge::IrcBridge;
use crate::net::IrcNetwork;

/// Every IRC command.
pub fn all(bridge: &Arc<IrcBridge>) -> Vec<Arc<dyn Command>> {
    let b = || bridge.clone();
    vec![
        Arc::new(join::Join(b())),
        Arc::new(nick::Nick(b())),
        Arc::new(cmd::Cmd(b())),
        Arc::new(quit::Quit(b())),
        Arc::new(reconnect::Reconnect(b())),
        Arc::new(storepass::StorePass(b())),
        Arc::new(removepass::RemovePass(b())),
        Arc::new(certfp::CertFp(b())),
        Arc::new(username::Username(b())),
        Arc::new(listrooms::ListRooms(b())),
        Arc::new(whois::Whois(b())),
        Arc::new(feature::Feature(b())),
        Arc::new(active::Active(b())),
    ]
}

/// The network named by the optional first argument, and the remaining arguments.
pub(crate) fn network<'a>(
    bridge: &IrcBridge,
    args: &'a [String],
) -> Result<(Arc<IrcNetwork>, &'a [String]), CommandError> {
    bridge.pick_network(args).map_err(CommandError::Usage)
}

/// A failure with a reason for the user.
pub(crate) fn failed(e: impl std::fmt::Display) -> CommandError {
    CommandError::Failed(e.to_string())
}
