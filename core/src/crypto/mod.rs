//! End-to-bridge encryption: the bot's device holds an Olm account (matrix-sdk-crypto's
//! OlmMachine, the one Element X uses) and does all the crypto of the bridge.
//!
//! - In: a transaction's to-device events, device lists and key counts go to the machine
//!   before its events are recorded (`incoming`); encrypted room events are decrypted in the
//!   router's queue, so everything past it sees plaintext (`decrypt`).
//! - Out: every room event sent into an encrypted room, by the bot or a ghost, is encrypted
//!   with the room's Megolm session, shared first with every device of every member
//!   (`encrypt`, plugged into `matrix` through [`crate::matrix::RoomEncryption`]).
//! - The machine's state is kept in the bridge's database (`store`, `persist`); its requests
//!   go out as the bot's bridge device (`requests`).
//!
//! Ghosts do not get keys of their own: one device per ghost would cost a key upload and key
//! queries by every member's client per ghost. As in mautrix bridges, clients show ghosts'
//! messages as "encrypted by a device of another user" (the bot's), which is the truth.

mod attachments;
mod convert;
mod decrypt;
mod encrypt;
mod incoming;
mod persist;
mod requests;
mod rooms;
mod store;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use matrix_sdk_crypto::OlmMachine;
use ruma::UserId;

pub(crate) use decrypt::Undecryptable;

use crate::config::EncryptionConfig;
use crate::matrix::{MatrixClient, MatrixError};
use crate::store::{Store, StoreError};

type Machine = OlmMachine;

/// Crypto failures.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Stored crypto state that cannot be read or written.
    #[error("crypto state: {0}")]
    State(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    /// A request to the homeserver that could not be built or whose answer did not parse.
    #[error("crypto request: {0}")]
    Request(String),
    #[error("olm: {0}")]
    Olm(#[from] matrix_sdk_crypto::OlmError),
    #[error("megolm: {0}")]
    Megolm(#[from] matrix_sdk_crypto::MegolmError),
    #[error("crypto store: {0}")]
    CryptoStore(#[from] matrix_sdk_crypto::CryptoStoreError),
    /// The homeserver lacks what encryption needs; the text says what.
    #[error("{0}")]
    Unsupported(String),
}

/// The bridge's crypto; cheap to clone.
#[derive(Clone)]
pub struct Crypto {
    inner: Arc<Inner>,
}

struct Inner {
    machine: Machine,
    client: MatrixClient,
    bot: ruma16::OwnedUserId,
    device: ruma16::OwnedDeviceId,
    config: EncryptionConfig,
    rooms: rooms::Rooms,
    /// One batch of the machine's requests at a time (it hands out the same ones until told).
    requests: tokio::sync::Mutex<()>,
    /// Bumped whenever room keys arrive, so waiting decryptions try again.
    keys: tokio::sync::watch::Sender<u64>,
    /// Users whose devices never get room keys (ghosts: they have none).
    excluded: Box<dyn Fn(&UserId) -> bool + Send + Sync>,
    /// Wakes [`Crypto::run_requests`].
    wake: tokio::sync::Notify,
    /// Keys of files uploaded encrypted (see `attachments`).
    uploads: attachments::Uploads,
    /// Largest file downloaded to decrypt (`limits.media_max_bytes`).
    media_max_bytes: u64,
}

impl Crypto {
    /// Opens the bot's crypto: makes its bridge device (MSC4190), loads or creates its Olm
    /// account and uploads its keys. `excluded` names users never given room keys (ghosts).
    pub async fn open(
        store: Store,
        client: MatrixClient,
        config: EncryptionConfig,
        media_max_bytes: u64,
        excluded: impl Fn(&UserId) -> bool + Send + Sync + 'static,
    ) -> Result<Self, CryptoError> {
        let device = client.device_for(client.bot()).await.ok_or_else(|| {
            CryptoError::Unsupported(
                "the homeserver made no device for the bridge bot: encryption needs appservice \
                 devices (MSC4190: `io.element.msc4190: true` in the registration)"
                    .into(),
            )
        })?;
        let bot = convert::user_id(client.bot())?;
        let device = convert::device_id(device)?;
        let crypto_store = store::BridgeCryptoStore::open(store).await?;
        let machine = OlmMachine::with_store(&bot, &device, crypto_store, None).await?;
        let crypto = Self {
            inner: Arc::new(Inner {
                machine,
                client,
                bot,
                device,
                config,
                rooms: rooms::Rooms::default(),
                requests: tokio::sync::Mutex::new(()),
                keys: tokio::sync::watch::channel(0).0,
                excluded: Box::new(excluded),
                wake: tokio::sync::Notify::new(),
                uploads: Default::default(),
                media_max_bytes,
            }),
        };
        crypto.flush().await?;
        tracing::info!(
            device = %crypto.inner.device,
            ed25519 = %crypto.inner.machine.identity_keys().ed25519,
            "end-to-bridge encryption ready"
        );
        Ok(crypto)
    }

    /// The bridge's encryption settings.
    pub fn config(&self) -> &EncryptionConfig {
        &self.inner.config
    }

    /// How long an undecryptable event waits for its key.
    fn key_wait(&self) -> Duration {
        Duration::from_secs(self.inner.config.key_wait_seconds)
    }

    fn sender(&self) -> requests::Sender<'_> {
        requests::Sender {
            client: &self.inner.client,
            user: &self.inner.bot,
            device: &self.inner.device,
        }
    }

    /// Sends everything the machine wants sent (key uploads, key queries, key forwards) until
    /// it wants nothing more.
    pub async fn flush(&self) -> Result<(), CryptoError> {
        let _one = self.inner.requests.lock().await;
        // The machine asks again for what is not marked sent; a few rounds settle it (an
        // upload of many one-time keys goes in batches).
        for _ in 0..8 {
            let requests = self.inner.machine.outgoing_requests().await?;
            if requests.is_empty() {
                return Ok(());
            }
            for request in &requests {
                self.sender().fulfil(&self.inner.machine, request).await?;
            }
        }
        Ok(())
    }

    /// Runs [`Crypto::flush`] whenever woken, until the bridge stops (the flush after a
    /// transaction happens here, so the homeserver gets its answer without waiting for it).
    pub(crate) async fn run_requests(self) {
        loop {
            self.inner.wake.notified().await;
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "crypto requests failed; retrying at the next wake");
            }
        }
    }
}
