//! The WhatsApp bridge's own bot commands, one per file.

use std::sync::Arc;

use ferrybridge_core::bridge::BridgeError;
use ferrybridge_core::commands::{Command, CommandError};

use crate::bridge::Inner;

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
