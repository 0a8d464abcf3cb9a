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
mod selftest;
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

/// Where the store keeps the bot's encryption device ID, when it is not the bridge device.
const KV: &str = "crypto";
const DEVICE_KEY: &str = "device_id";

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
    excluded: Arc<dyn Fn(&UserId) -> bool + Send + Sync>,
    /// Wakes [`Crypto::run_requests`].
    wake: tokio::sync::Notify,
    /// Keys of files uploaded encrypted (see `attachments`).
    uploads: attachments::Uploads,
    /// Largest file downloaded to decrypt (`limits.media_max_bytes`).
    media_max_bytes: u64,
    /// What the homeserver delivered so far (see `selftest`).
    seen: selftest::Seen,
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
        // The bridge device, unless an earlier reset moved the keys to a new one.
        let device_name = store
            .kv_get::<String>(KV, DEVICE_KEY)
            .await?
            .unwrap_or_else(|| device.as_str().to_owned());
        if device_name != device.as_str() {
            client.make_named_device(client.bot(), &device_name).await?;
        }
        let excluded: Arc<dyn Fn(&UserId) -> bool + Send + Sync> = Arc::new(excluded);
        let load = |device: ruma16::OwnedDeviceId| {
            Self::load(
                &store,
                &client,
                &bot,
                device,
                &config,
                media_max_bytes,
                &excluded,
            )
        };
        let mut crypto = load(ruma16::OwnedDeviceId::from(device_name.as_str())).await?;
        if crypto.homeserver_has_other_keys().await? {
            // The homeserver has other keys for our device than this account (a database
            // restored from an old backup, or lost). Clients never accept new keys for a
            // device they know, so the keys move to a new device; the old one is deleted.
            let fresh = format!(
                "FB{}",
                uuid::Uuid::new_v4().simple().to_string()[..10].to_uppercase()
            );
            tracing::warn!(old = %device_name, new = %fresh, "encryption: the homeserver has other keys for this device; making a new device and keys");
            drop(crypto);
            client.delete_device(client.bot(), &device_name).await?;
            client.make_named_device(client.bot(), &fresh).await?;
            store.crypto_reset().await?;
            store.kv_set(KV, DEVICE_KEY, &fresh).await?;
            crypto = load(ruma16::OwnedDeviceId::from(fresh.as_str())).await?;
        }
        crypto.flush().await?;
        tracing::info!(
            device = %crypto.inner.device,
            ed25519 = %crypto.inner.machine.identity_keys().ed25519,
            "end-to-bridge encryption ready"
        );
        Ok(crypto)
    }

    async fn load(
        store: &Store,
        client: &MatrixClient,
        bot: &ruma16::UserId,
        device: ruma16::OwnedDeviceId,
        config: &EncryptionConfig,
        media_max_bytes: u64,
        excluded: &Arc<dyn Fn(&UserId) -> bool + Send + Sync>,
    ) -> Result<Self, CryptoError> {
        let crypto_store = store::BridgeCryptoStore::open(store.clone()).await?;
        let machine = OlmMachine::with_store(bot, &device, crypto_store, None).await?;
        let crypto = Self {
            inner: Arc::new(Inner {
                machine,
                client: client.clone(),
                bot: bot.to_owned(),
                device,
                config: config.clone(),
                rooms: rooms::Rooms::default(),
                requests: tokio::sync::Mutex::new(()),
                keys: tokio::sync::watch::channel(0).0,
                excluded: excluded.clone(),
                wake: tokio::sync::Notify::new(),
                uploads: Default::default(),
                media_max_bytes,
                seen: Default::default(),
            }),
        };
        Ok(crypto)
    }

    /// Whether the homeserver publishes another identity key for this device than ours (none
    /// published is fine: ours are uploaded next).
    async fn homeserver_has_other_keys(&self) -> Result<bool, CryptoError> {
        let mut query = ruma16::api::client::keys::get_keys::v3::Request::new();
        query
            .device_keys
            .insert(self.inner.bot.clone(), vec![self.inner.device.clone()]);
        let resp = self.sender().send(query).await?;
        let published = resp
            .device_keys
            .get(&self.inner.bot)
            .and_then(|devices| devices.get(&self.inner.device))
            .and_then(|raw| convert::json(raw).ok())
            .and_then(|keys| {
                keys["keys"][format!("ed25519:{}", self.inner.device)]
                    .as_str()
                    .map(str::to_owned)
            });
        let ours = self.inner.machine.identity_keys().ed25519.to_base64();
        Ok(published.is_some_and(|key| key != ours))
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
