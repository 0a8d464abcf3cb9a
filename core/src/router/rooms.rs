//! Events in rooms that are not portals: commands (in the management room without a prefix,
//! elsewhere with it) and answers to a login in progress.

use super::dispatch::run_command_line;
use super::{RawEvent, Router};
use crate::commands::login_driver::LoginInput;
use crate::commands::parse_command;

impl Router {
    pub(super) async fn room_event(&self, event: RawEvent) {
        if event.kind == "m.room.member" {
            self.user_membership(&event).await;
            return;
        }
        if event.kind != "m.room.message" || event.is_edit() {
            return;
        }
        let Some(body) = event.body() else { return };
        let is_management = match self.host.store().get_user(&event.sender).await {
            Ok(user) => user.and_then(|u| u.management_room).as_ref() == Some(&event.room_id),
            Err(e) => {
                tracing::error!(error = %e, "user lookup failed");
                false
            }
        };
        if is_management {
            let pending = &self.core.logins;
            if pending.is_waiting(&event.sender, &event.room_id) {
                // While a login waits for an answer, only `cancel` is a command: a password
                // that happens to read `help` is still a password.
                let is_cancel = matches!(
                    parse_command(body, self.host.command_prefix(), true),
                    Some(Ok(ref c)) if c.name == "cancel"
                );
                let input = if is_cancel {
                    LoginInput::Cancel
                } else {
                    LoginInput::Text {
                        text: body.to_owned(),
                        event_id: event.event_id.clone(),
                    }
                };
                if pending.deliver(&event.sender, &event.room_id, input).await {
                    return;
                }
            }
        }
        run_command_line(
            &self.core,
            &event.sender,
            &event.room_id,
            &event.event_id,
            body,
            is_management,
        )
        .await;
    }

    /// A user left their management room: forget it, so the next notice opens a new one.
    async fn user_membership(&self, event: &RawEvent) {
        if event.state_user().as_ref() != Some(&event.sender) || event.membership() != Some("leave")
        {
            return;
        }
        if let Ok(Some(user)) = self.host.store().get_user(&event.sender).await {
            if user.management_room.as_ref() == Some(&event.room_id) {
                let _ = self
                    .host
                    .store()
                    .set_management_room(&event.sender, None)
                    .await;
                let _ = self
                    .host
                    .matrix()
                    .bot_intent()
                    .leave(&event.room_id, None)
                    .await;
            }
        }
    }
}
