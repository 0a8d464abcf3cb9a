//! The real network: [`TelegramNetwork`] over grammers 0.11, with the session in our store.

mod admin;
mod client;
pub mod content;
pub mod convert;
pub mod entities;
pub mod errors;
mod history;
mod lookup;
mod media_cache;
mod polls;
pub mod store_session;
mod stream;

use std::net::SocketAddrV4;
use std::sync::Arc;

use async_trait::async_trait;
use ferrybridge_core::config::ConfigError;
use ferrybridge_core::ids::LoginSlot;
use ferrybridge_core::store::Store;
use ferrybridge_core::tasks::Tasks;
use ruma::OwnedUserId;

pub use client::GrammersClient;
pub use store_session::StoreSession;

use crate::config::TelegramConfig;
use crate::network::{NetworkFactory, TelegramNetwork, TgError};

/// Connects each user with grammers.
pub struct GrammersFactory {
    api_id: i32,
    api_hash: String,
    device_model: String,
    /// Connect here instead of Telegram's data centers (test servers, tests).
    server: Option<SocketAddrV4>,
    /// The bridge's tasks: each client's connection runner and update reader run in them.
    tasks: Tasks,
}

impl GrammersFactory {
    /// From the config; `api_id`/`api_hash` may be missing only if nobody logs in (config
    /// validation reports them).
    pub fn new(config: &TelegramConfig, tasks: Tasks) -> Result<Self, ConfigError> {
        let server = match config.server_address.as_deref() {
            None => None,
            Some(a) => Some(a.parse().map_err(|_| {
                ConfigError::new(
                    "network.server_address",
                    format!("expected ip:port, got {a:?}"),
                )
            })?),
        };
        Ok(Self {
            api_id: config.api_id.unwrap_or(0),
            api_hash: config.api_hash.clone().unwrap_or_default(),
            device_model: config.device_model.clone(),
            server,
            tasks,
        })
    }
}

#[async_trait]
impl NetworkFactory for GrammersFactory {
    async fn connect(
        &self,
        user: &OwnedUserId,
        slot: LoginSlot,
        store: &Store,
    ) -> Result<Arc<dyn TelegramNetwork>, TgError> {
        if self.api_id == 0 || self.api_hash.is_empty() {
            return Err(TgError::Other(
                "the bridge has no Telegram API ID/hash configured; ask its administrator".into(),
            ));
        }
        let session = StoreSession::load(store, user, slot)
            .await
            .map_err(|e| TgError::Other(e.to_string()))?;
        if let Some(addr) = self.server {
            session.override_address(addr).await;
        }
        Ok(Arc::new(GrammersClient::connect(
            Arc::new(session),
            self.api_id,
            self.api_hash.clone(),
            self.device_model.clone(),
            &self.tasks,
        )))
    }

    async fn forget(&self, user: &OwnedUserId, slot: LoginSlot, store: &Store) {
        if let Err(e) = StoreSession::forget(store, user, slot).await {
            tracing::warn!(%user, error = %e, "cannot delete the Telegram session");
        }
    }
}
