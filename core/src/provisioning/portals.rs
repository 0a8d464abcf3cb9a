//! A user's portals, and plumbing or unlinking a room: the bot's own `plumb` and `unlink`
//! commands run for the caller, so the permission rules are the bot's, checked in one place.

use ruma::{OwnedRoomId, OwnedUserId};
use serde::{Deserialize, Serialize};

use super::{ProvisioningState, auth::Caller};
use crate::appservice::MatrixError;
use crate::commands::{CommandContext, CommandError, Reply};

/// One portal as the API lists it.
#[derive(Debug, Serialize)]
pub struct PortalEntry {
    pub room_id: OwnedRoomId,
    /// The remote chat's ID on the network (opaque).
    pub chat: String,
    /// Whether only this user's login reaches the chat (a private chat), or it is shared.
    pub private: bool,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub plumbed: bool,
}

/// The body of `/plumb` and `/unlink`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomRequest {
    pub room_id: OwnedRoomId,
    /// What the network needs to name the remote chat, as the bot command takes it
    /// (e.g. `["localhost", "#chan"]` on IRC).
    #[serde(default)]
    pub args: Vec<String>,
}

impl ProvisioningState {
    /// The caller's private portals, then the shared portals gathered in their personal space.
    pub(super) async fn portals_of(
        &self,
        user: &OwnedUserId,
    ) -> Result<Vec<PortalEntry>, MatrixError> {
        let store = self.core.host.store();
        let failed = |e: crate::store::StoreError| {
            tracing::error!(error = %e, "cannot list portals");
            MatrixError::unknown("cannot read the portals now; try again")
        };
        let mut rows = store.portals_of_receiver(user).await.map_err(failed)?;
        for room in self.core.host.portals().space_rooms_of(user).await {
            if let Some(portal) = store.portal_by_room(&room).await.map_err(failed)? {
                if portal.key.receiver.is_none() {
                    rows.push(portal);
                }
            }
        }
        Ok(rows
            .into_iter()
            .map(|row| PortalEntry {
                room_id: row.room_id,
                chat: row.key.chat.as_str().to_owned(),
                private: row.key.receiver.is_some(),
                name: row.name,
                topic: row.topic,
                plumbed: row.plumbed,
            })
            .collect())
    }

    /// Runs the bot command `name` with `room` and `args` for the caller and returns its
    /// answer; a refusal or failure becomes the error the bot would have shown.
    pub(super) async fn run_room_command(
        &self,
        caller: &Caller,
        name: &str,
        request: RoomRequest,
    ) -> Result<String, MatrixError> {
        let core = &self.core;
        let command = core
            .registry
            .get(name)
            .ok_or_else(|| MatrixError::not_found(format!("this bridge has no `{name}`")))?;
        if let Some(refusal) = command.spec().refusal(caller.level, false) {
            return Err(MatrixError::forbidden(refusal));
        }
        let event_id = ruma::OwnedEventId::try_from("$provisioning")
            .map_err(|e| MatrixError::unknown(e.to_string()))?;
        let ctx = CommandContext {
            host: core.host.clone(),
            network: core.network.clone(),
            logins: core.logins.clone(),
            sender: caller.user.clone(),
            room_id: request.room_id.clone(),
            event_id,
            is_management: false,
            level: caller.level,
            registry: core.registry.clone(),
        };
        let mut args = vec![request.room_id.to_string()];
        args.extend(request.args);
        tracing::info!(command = name, user = %caller.user, "provisioning runs a command");
        match command.run(&ctx, args).await {
            Ok(Reply::Notice { text, .. }) => Ok(text),
            Ok(Reply::Silent) => Ok(String::new()),
            Err(CommandError::Usage(msg)) => Err(MatrixError::invalid_param(format!(
                "{msg} (the command takes: {})",
                command.spec().usage
            ))),
            Err(CommandError::Forbidden(msg)) => Err(MatrixError::forbidden(format!(
                "you do not have permission to {msg}"
            ))),
            Err(CommandError::Failed(msg)) => Err(MatrixError::new(
                axum::http::StatusCode::CONFLICT,
                "M_UNKNOWN",
                msg,
            )),
        }
    }
}
