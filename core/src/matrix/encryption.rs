//! The seam through which sends into encrypted rooms get encrypted. The crypto layer sits above
//! `matrix` (it uses this client to talk to the homeserver), so it plugs itself in here once at
//! start-up instead of `matrix` importing it: every room event the bridge sends (messages,
//! reactions, notices, as the bot or any ghost) passes [`RoomEncryption::encrypt`].

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use ruma::RoomId;

use super::MatrixError;

/// Encrypts room events for rooms that are encrypted.
#[async_trait]
pub trait RoomEncryption: Send + Sync + 'static {
    /// The `m.room.encrypted` content to send instead of (`event_type`, `content`) in `room`,
    /// or `None` when the room is not encrypted and the event goes out as it is.
    async fn encrypt(
        &self,
        room: &RoomId,
        event_type: &str,
        content: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, MatrixError>;

    /// Uploads a file for `room` encrypted, when the room is encrypted (`None`: it is not;
    /// upload it as it is). The message naming the returned URI gets the file's keys when
    /// [`RoomEncryption::encrypt`] encrypts it.
    async fn upload(
        &self,
        room: &RoomId,
        data: &bytes::Bytes,
        filename: Option<&str>,
    ) -> Result<Option<ruma::OwnedMxcUri>, MatrixError>;
}

/// Where the crypto layer plugs in; empty while encryption is off.
#[derive(Clone, Default)]
pub(crate) struct EncryptionSlot(Arc<OnceLock<Arc<dyn RoomEncryption>>>);

impl EncryptionSlot {
    pub(crate) fn get(&self) -> Option<&Arc<dyn RoomEncryption>> {
        self.0.get()
    }

    /// Plugs `layer` in; a second call is ignored (one crypto layer per bridge).
    pub(crate) fn set(&self, layer: Arc<dyn RoomEncryption>) {
        if self.0.set(layer).is_err() {
            tracing::warn!("an encryption layer was already set; keeping the first");
        }
    }
}
