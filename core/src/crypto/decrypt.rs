//! Decrypting `m.room.encrypted` events before the router looks at them. A key that has not
//! arrived yet (to-device messages and room events travel separately) is waited for, up to
//! `encryption.key_wait_seconds`; then the event is reported undecryptable, and the router
//! tells its sender.

use std::time::Duration;

use matrix_sdk_crypto::types::events::room::encrypted::EncryptedEvent;
use matrix_sdk_crypto::vodozemac::megolm::DecryptionError;
use matrix_sdk_crypto::{DecryptionSettings, MegolmError, TrustRequirement};
use ruma::RoomId;

use super::{Crypto, convert};

/// Why an encrypted event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Undecryptable {
    /// The room key did not arrive in time (or was withheld).
    #[error("the key to decrypt it did not arrive")]
    NoKey,
    /// Not a valid encrypted event, an unknown algorithm, tampered ciphertext.
    #[error("{0}")]
    Invalid(String),
}

impl Crypto {
    /// The decrypted form of `event` (full event JSON: type, content, sender, event ID, ...),
    /// sent in `room`.
    pub(crate) async fn decrypt(
        &self,
        room: &RoomId,
        event: &str,
    ) -> Result<serde_json::Value, Undecryptable> {
        self.decrypt_within(room, event, self.key_wait()).await
    }

    async fn decrypt_within(
        &self,
        room: &RoomId,
        event: &str,
        wait: Duration,
    ) -> Result<serde_json::Value, Undecryptable> {
        let invalid = |e: super::CryptoError| Undecryptable::Invalid(e.to_string());
        let room16 = convert::room_id(room).map_err(invalid)?;
        let raw = convert::raw_text::<EncryptedEvent>(event).map_err(invalid)?;
        let settings = DecryptionSettings {
            sender_device_trust_requirement: TrustRequirement::Untrusted,
        };
        let mut keys = self.inner.keys.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            keys.borrow_and_update();
            match self
                .inner
                .machine
                .decrypt_room_event(&raw, &room16, &settings)
                .await
            {
                Ok(decrypted) => return convert::json(&decrypted.event).map_err(invalid),
                Err(e) if key_missing(&e) => {
                    // Wait for the next batch of room keys, then try again.
                    match tokio::time::timeout_at(deadline, keys.changed()).await {
                        Ok(Ok(())) => continue,
                        _ => return Err(Undecryptable::NoKey),
                    }
                }
                Err(e) => return Err(Undecryptable::Invalid(e.to_string())),
            }
        }
    }
}

/// Whether decryption failed only for want of a key (which may still come).
fn key_missing(e: &MegolmError) -> bool {
    matches!(
        e,
        MegolmError::MissingRoomKey(_)
            | MegolmError::Decryption(DecryptionError::UnknownMessageIndex(..))
    )
}
