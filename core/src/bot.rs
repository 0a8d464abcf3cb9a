//! The bridge bot: its management rooms (a DM per user) and the notices it sends there.

use std::sync::Arc;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};

use crate::events::MessageContent;
use crate::matrix::{CreateRoom, MatrixClient};
use crate::store::Store;

/// Sends bot notices to users' management rooms, creating the room when a user has none.
#[derive(Clone)]
pub struct Notices {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    matrix: MatrixClient,
    /// Name of a management room the bot creates itself, e.g. "IRC Bridge status".
    room_name: String,
    /// Serialises management-room creation so one user never gets two.
    creating: tokio::sync::Mutex<()>,
}

impl Notices {
    /// Notices sent by `matrix`'s bot; new management rooms are called `room_name`.
    pub fn new(store: Store, matrix: MatrixClient, room_name: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                matrix,
                room_name,
                creating: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Sends a notice to `user`'s management room (created if missing). Failures are logged:
    /// a notice that can't be sent has nowhere better to go.
    pub async fn notify(&self, user: &OwnedUserId, text: &str, html: Option<&str>) {
        let room = match self.management_room(user).await {
            Ok(room) => room,
            Err(e) => {
                tracing::error!(%user, error = %e, "no management room for notice: {text}");
                return;
            }
        };
        if let Err(e) = self.send(&room, text, html, None).await {
            tracing::error!(%user, room = %room, error = %e, "could not send notice: {text}");
        }
    }

    /// Sends a notice into `room`, optionally as a reply.
    pub async fn send(
        &self,
        room: &OwnedRoomId,
        text: &str,
        html: Option<&str>,
        reply_to: Option<&OwnedEventId>,
    ) -> Result<OwnedEventId, crate::matrix::MatrixError> {
        let mut content = MessageContent::notice(text);
        content.html = html.map(str::to_owned);
        self.inner
            .matrix
            .bot_intent()
            .send_message(room, &content, reply_to, None)
            .await
    }

    /// The user's management room, creating a DM with them if they have none.
    pub async fn management_room(&self, user: &OwnedUserId) -> Result<OwnedRoomId, anyhow::Error> {
        if let Some(room) = self.existing(user).await? {
            return Ok(room);
        }
        let _guard = self.inner.creating.lock().await;
        if let Some(room) = self.existing(user).await? {
            return Ok(room);
        }
        let req = CreateRoom {
            name: Some(self.inner.room_name.clone()),
            invite: vec![user.clone()],
            is_direct: true,
            ..CreateRoom::default()
        };
        let room = self.inner.matrix.bot_intent().create_room(&req).await?;
        self.inner
            .store
            .set_management_room(user, Some(&room))
            .await?;
        Ok(room)
    }

    async fn existing(&self, user: &OwnedUserId) -> Result<Option<OwnedRoomId>, anyhow::Error> {
        Ok(self
            .inner
            .store
            .get_user(user)
            .await?
            .and_then(|u| u.management_room))
    }
}
