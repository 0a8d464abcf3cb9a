//! Encrypting what the bridge sends into encrypted rooms. Before each event the room key is
//! shared with every device of every member that lacks it (a no-op in steady state: the machine
//! remembers who has it); members come from the homeserver once and are then kept current by
//! the room's member events (see `rooms`).

use async_trait::async_trait;
use matrix_sdk_crypto::{CollectStrategy, EncryptionSettings};
use ruma::RoomId;

use super::{Crypto, CryptoError, convert};
use crate::matrix::{MatrixError, RoomEncryption};

impl Crypto {
    /// Whether `room` is encrypted: remembered, else asked of the homeserver (as the bot).
    pub(crate) async fn is_encrypted(&self, room: &RoomId) -> bool {
        if let Some(known) = self.inner.rooms.encrypted(room) {
            return known;
        }
        if let Ok(room16) = convert::room_id(room) {
            if let Ok(Some(_)) = self.inner.machine.room_settings(&room16).await {
                self.inner.rooms.set_encrypted(room, true);
                return true;
            }
        }
        let bot = self.inner.client.bot_intent();
        match bot
            .get_state(&room.to_owned(), "m.room.encryption", "")
            .await
        {
            Ok(Some(_)) => {
                self.mark_encrypted(room);
                true
            }
            Ok(None) => {
                self.inner.rooms.set_encrypted(room, false);
                false
            }
            Err(e) => {
                // Not remembered: asked again at the next send.
                tracing::warn!(%room, error = %e, "cannot tell whether the room is encrypted; sending in plaintext");
                false
            }
        }
    }

    /// The room turned encryption on (an `m.room.encryption` event). Encryption cannot be
    /// turned off again, so this is final.
    pub(crate) fn mark_encrypted(&self, room: &RoomId) {
        self.inner.rooms.set_encrypted(room, true);
    }

    /// Someone joined or left `room`: the next send asks for its members again.
    pub(crate) fn members_changed(&self, room: &RoomId) {
        self.inner.rooms.forget_members(room);
    }

    async fn members(
        &self,
        room: &RoomId,
    ) -> Result<std::sync::Arc<Vec<ruma16::OwnedUserId>>, CryptoError> {
        if let Some(members) = self.inner.rooms.members(room) {
            return Ok(members);
        }
        let joined = self
            .inner
            .client
            .bot_intent()
            .joined_members(&room.to_owned())
            .await?
            .into_iter()
            .filter(|u| !(self.inner.excluded)(u))
            .map(|u| convert::user_id(&u))
            .collect::<Result<Vec<_>, _>>()?;
        self.inner.rooms.set_members(room, joined);
        Ok(self.inner.rooms.members(room).unwrap_or_default())
    }

    /// Makes sure every member's devices have the room's current key.
    async fn share_key(&self, room: &RoomId) -> Result<(), CryptoError> {
        let room16 = convert::room_id(room)?;
        let members = self.members(room).await?;
        let machine = &self.inner.machine;
        let users: Vec<&ruma16::UserId> = members.iter().map(|u| &**u).collect();
        track(machine, &users).await?;
        // Device keys of new members.
        self.flush().await?;
        if let Some((id, request)) = machine.get_missing_sessions(users.iter().copied()).await? {
            let resp = self.sender().send(request).await?;
            machine.mark_request_as_sent(&id, &resp).await?;
        }
        let settings = EncryptionSettings {
            sharing_strategy: if self.inner.config.share_with_unverified {
                CollectStrategy::AllDevices
            } else {
                CollectStrategy::OnlyTrustedDevices
            },
            ..Default::default()
        };
        for request in machine
            .share_room_key(&room16, users.iter().copied(), settings)
            .await?
        {
            self.sender()
                .to_device(machine, &request.txn_id, &request)
                .await?;
        }
        Ok(())
    }

    async fn encrypt_for(
        &self,
        room: &RoomId,
        event_type: &str,
        content: &serde_json::Value,
    ) -> Result<serde_json::Value, CryptoError> {
        let lock = self.inner.rooms.lock(room);
        let _one = lock.lock().await;
        self.share_key(room).await?;
        let room16 = convert::room_id(room)?;
        let mut content = content.clone();
        self.attach_keys(&mut content);
        let raw = convert::raw(&content)?;
        let result = self
            .inner
            .machine
            .encrypt_room_event_raw(&room16, event_type, &raw)
            .await?;
        convert::json(&result.content)
    }
}

/// `update_tracked_users`, boxed: called directly, its future is not `Send` for every lifetime
/// the trait object below needs (a higher-ranked lifetime inside the library).
fn track<'a>(
    machine: &'a super::Machine,
    users: &'a [&'a ruma16::UserId],
) -> futures::future::BoxFuture<'a, Result<(), matrix_sdk_crypto::CryptoStoreError>> {
    Box::pin(machine.update_tracked_users(users.iter().copied()))
}

#[async_trait]
impl RoomEncryption for Crypto {
    async fn encrypt(
        &self,
        room: &RoomId,
        event_type: &str,
        content: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, MatrixError> {
        if !self.is_encrypted(room).await {
            return Ok(None);
        }
        match self.encrypt_for(room, event_type, content).await {
            Ok(encrypted) => Ok(Some(encrypted)),
            // The homeserver's own failure keeps its kind (a retry may help).
            Err(CryptoError::Matrix(e)) => Err(e),
            Err(e) => Err(MatrixError::Encryption(e.to_string())),
        }
    }

    async fn upload(
        &self,
        room: &RoomId,
        data: &bytes::Bytes,
        filename: Option<&str>,
    ) -> Result<Option<ruma::OwnedMxcUri>, MatrixError> {
        match self.upload_for(room, data, filename).await {
            Ok(mxc) => Ok(mxc),
            Err(CryptoError::Matrix(e)) => Err(e),
            Err(e) => Err(MatrixError::Encryption(e.to_string())),
        }
    }
}
