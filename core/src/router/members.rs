//! Membership events that concern the bot or a ghost: invites open management rooms and DMs,
//! invites of ghosts into group portals add people to the remote chat; kicks of ghosts in
//! portals go to the network.

use ruma::{OwnedRoomId, OwnedUserId};

use super::portal_events::Retry;
use super::{Handled, RawEvent, Router};
use crate::events::{Delivered, MatrixEvent, MatrixEventKind};
use crate::ids::PortalKind;
use crate::portal::Portal;
use crate::seam::PermissionLevel;

impl Router {
    /// Handles a membership change of the bot or a ghost; a kick or invite interrupted by
    /// shutdown is parked in the inbox like any event.
    pub(super) async fn ours_membership(
        &self,
        event: &RawEvent,
        target: &OwnedUserId,
        portal: Option<&Portal>,
    ) -> Handled {
        let membership = event.membership().unwrap_or_default();
        let is_bot = target.as_str() == self.host.matrix().bot().as_str();
        match (membership, is_bot, portal) {
            ("invite", true, _) => self.bot_invited(event).await,
            ("invite", false, None) => self.ghost_invited(event, target).await,
            ("invite", false, Some(portal)) if event.sender != *target => {
                return self.ghost_added(event, target, portal).await;
            }
            ("leave" | "ban", false, Some(portal)) if event.sender != *target => {
                // A kick of a ghost is not a message: nothing to record.
                return match self.portal_event(event.clone(), portal.clone()).await {
                    Handled::Parked => Handled::Parked,
                    _ => Handled::Done(None),
                };
            }
            _ => {}
        }
        Handled::Done(None)
    }

    /// A member invited a ghost into a portal: the network adds that person to the remote
    /// chat, where the sender may. The ghost joins once it is done and otherwise turns the
    /// invitation down, the sender told why: no invitation is left hanging.
    async fn ghost_added(
        &self,
        event: &RawEvent,
        ghost_id: &OwnedUserId,
        portal: &Portal,
    ) -> Handled {
        let Some(remote) = self.host.ghosts().remote_of(ghost_id) else {
            return Handled::Done(None);
        };
        let room = &event.room_id;
        let network = self.host.network_name();
        let outcome = if portal.row.kind == PortalKind::Dm {
            Err("a private chat cannot take more people".to_owned())
        } else if self.host.permissions().level_of(&event.sender) < PermissionLevel::User {
            Err("you are not allowed to use this bridge".to_owned())
        } else {
            let invite = MatrixEvent {
                event_id: event.event_id.clone(),
                sender: event.sender.clone(),
                kind: MatrixEventKind::GhostInvite {
                    ghost: remote.clone(),
                },
                sent_at: event.origin_server_ts,
                maybe_delivered: event.replayed,
                login: self.chosen_login(portal, &event.sender).await,
            };
            match self.handle_with_retry(portal, invite).await {
                Ok(Delivered::Ignored) => {
                    Err(format!("{network} people cannot be added from Matrix"))
                }
                Ok(_) => Ok(()),
                Err(Retry::Parked) => return Handled::Parked,
                Err(Retry::Failed(e)) => Err(e.reason),
            }
        };
        let ghost = self.host.matrix().as_user(ghost_id);
        match outcome {
            Ok(()) => {
                let joined = match self.host.ghosts().ensure(&remote).await {
                    Ok(_) => ghost.join(room).await.map(drop).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = joined {
                    tracing::warn!(%room, ghost = %ghost_id, error = %e, "added ghost could not join");
                }
            }
            Err(reason) => {
                let text = format!("⚠️ {ghost_id} was not added on {network}: {reason}");
                self.tell_sender(event, &text).await;
                let _ = ghost.leave(room, Some(&reason)).await;
            }
        }
        Handled::Done(None)
    }

    /// The bot was invited: a DM becomes the sender's management room; other rooms are joined
    /// for users allowed to use the bridge (so that `plumb` can work there).
    async fn bot_invited(&self, event: &RawEvent) {
        let room = &event.room_id;
        let level = self.host.permissions().level_of(&event.sender);
        let bot = self.host.matrix().bot_intent();
        let is_direct = event
            .content
            .get("is_direct")
            .and_then(|d| d.as_bool())
            .unwrap_or(false);
        if level < PermissionLevel::Relay || (!is_direct && level < PermissionLevel::User) {
            tracing::info!(sender = %event.sender, %room, "refusing invite from a user without permission");
            let _ = bot
                .leave(room, Some("you are not allowed to use this bridge"))
                .await;
            return;
        }
        if let Err(e) = bot.join(room).await {
            tracing::warn!(%room, error = %e, "could not join after invite");
            return;
        }
        if !is_direct {
            if !self.core.network.bot_joins_group_rooms() {
                let text = format!(
                    "I only take commands in a direct message: start a DM with me ({}). Leaving this room.",
                    bot.user_id()
                );
                let _ = self.host.notices().send(room, &text, None, None).await;
                let _ = bot
                    .leave(room, Some("commands only work in a direct message"))
                    .await;
            }
            return;
        }
        if let Err(e) = self
            .host
            .store()
            .set_management_room(&event.sender, Some(room))
            .await
        {
            tracing::error!(%room, error = %e, "could not record management room");
        }
        let name = self.host.network_name();
        let text = format!(
            "Hello, I'm the {name} bridge bot. Send `help` to see what I can do; in this room commands need no prefix."
        );
        let _ = self.host.notices().send(room, &text, None, None).await;
    }

    /// A ghost was invited to a room that is not a portal: a user wants a private chat with
    /// that remote user.
    async fn ghost_invited(&self, event: &RawEvent, ghost_id: &OwnedUserId) {
        let room = &event.room_id;
        let Some(remote) = self.host.ghosts().remote_of(ghost_id) else {
            return;
        };
        let ghost = self.host.matrix().as_user(ghost_id);
        let level = self.host.permissions().level_of(&event.sender);
        let opened = if level < PermissionLevel::User {
            Err("you are not allowed to start private chats through this bridge".to_owned())
        } else {
            match self.core.network.open_dm(&event.sender, &remote).await {
                Ok(key) => self.link_dm(&key, room, ghost_id).await,
                Err(e) => Err(e.to_string()),
            }
        };
        if let Err(reason) = opened {
            // Say why in the room, then leave: the user sees the reason, nothing is silent.
            let _ = self.host.ghosts().ensure(&remote).await;
            if ghost.join(room).await.is_ok() {
                let content = crate::events::MessageContent::notice(format!(
                    "Cannot open a private chat: {reason}"
                ));
                let _ = ghost.send_message(room, &content, None, None).await;
            }
            let _ = ghost.leave(room, Some(&reason)).await;
        }
    }

    async fn link_dm(
        &self,
        key: &crate::ids::PortalKey,
        room: &OwnedRoomId,
        ghost_id: &OwnedUserId,
    ) -> Result<(), String> {
        let ghost = self.host.matrix().as_user(ghost_id);
        ghost.ensure_registered().await.map_err(|e| e.to_string())?;
        // Linked before the ghost joins: once the user sees the ghost, their messages are routed
        // to the portal.
        self.host
            .portals()
            .link_room(key, room, PortalKind::Dm, false)
            .await
            .map_err(|e| e.to_string())?;
        ghost.join(room).await.map_err(|e| e.to_string())?;
        // The bot joins too, so delivery failures can be reported as notices.
        if ghost.invite(room, self.host.matrix().bot()).await.is_ok() {
            let _ = self.host.matrix().bot_intent().join(room).await;
        }
        Ok(())
    }
}
