//! The one store API every bridge uses, over SQLite (embedded default) or PostgreSQL, chosen by
//! the database URI. Migrations are embedded and run at start-up.
//!
//! Backend choice: every query goes through sqlx's `Any` driver, so each query is written once
//! with `$1`-style placeholders (which SQLite accepts as well) and portable SQL (`ON CONFLICT`,
//! `RETURNING`). Only the schema differs per dialect (autoincrement and boolean spellings), so
//! there are two small migration directories, `migrations/sqlite` and `migrations/postgres`,
//! that must describe the same tables. Flags are bound as `bool` and read back with
//! `decode::flag`, since SQLite stores them as integers.
//!
//! Files: `pool` (connect and migrate), `txns` (transaction dedupe and inbox), `journal`
//! (remote events not yet applied to Matrix), `users`,
//! `ghosts`, `crypto` (sealed end-to-bridge encryption state), `portals`, `messages`, `expiry` (disappearing messages to redact), `kv`, `secrets` (key handling and encrypted rows),
//! `decode` (strings back to typed IDs).

use std::sync::Arc;

use sqlx::AnyPool;

mod bookkeeping;
mod crypto;
mod decode;
mod durability;
mod expiry;
mod ghosts;
mod journal;
mod kv;
mod messages;
mod pool;
mod portals;
mod recent;
pub mod secrets;
mod statistics;
mod txns;
mod users;

#[cfg(test)]
pub(crate) mod tests;

pub use bookkeeping::{Committed, Write};
pub use crypto::{CryptoRow, CryptoWrite};
pub(crate) use durability::Durability;
pub use expiry::ExpiryRow;
pub use ghosts::GhostRow;
pub use journal::JournaledEvent;
pub use messages::MessageRow;
pub use pool::Backend;
pub use portals::PortalRow;
pub use recent::EarlyLookup;
pub use secrets::{SecretKey, SecretKeyError};
pub use txns::{InboxEvent, TxnOutcome};
pub use users::BridgeUser;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URI {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUri(String),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot decrypt secret: wrong key or tampered data")]
    Decrypt,
    /// A value could not be turned into its stored form (JSON that serde refuses).
    #[error("cannot store value: {0}")]
    Encode(String),
    /// The store's writer is gone (the bridge is stopping).
    #[error("the store is closed")]
    Closed,
}

/// The handle on the database; cheap to clone and safe to share between tasks.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    key: SecretKey,
    bookkeeper: bookkeeping::Bookkeeper,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating a SQLite file if needed, in WAL mode) and migrates.
    ///
    /// `uri` is `sqlite://path` (relative or, with three slashes, absolute), `sqlite::memory:`
    /// (one connection, gone when the store is dropped), or `postgres://…`/`postgresql://…`.
    pub async fn connect(
        uri: &str,
        max_connections: u32,
        key: SecretKey,
    ) -> Result<Self, StoreError> {
        let (pool, backend) = pool::open(uri, max_connections).await?;
        Ok(Self {
            inner: Arc::new_cyclic(|store| Inner {
                pool,
                backend,
                key,
                bookkeeper: bookkeeping::Bookkeeper::start(store.clone()),
            }),
        })
    }

    /// Which database engine this store uses.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Closes every connection (graceful shutdown) once the bookkeeping queued so far is
    /// written; later calls on any clone fail.
    pub async fn close(&self) {
        let _ = self.flush().await;
        self.inner.pool.close().await;
    }

    /// Queues bookkeeping writes for the next group commit (see `bookkeeping`); await the
    /// result to know they are written, or drop it to go on at once.
    pub fn bookkeep(&self, writes: Vec<Write>) -> Committed {
        self.inner.bookkeeper.submit(writes)
    }

    /// Waits until every bookkeeping write queued before this call is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.bookkeep(Vec::new()).await
    }

    /// A trivial query: whether the database answers (readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("ping");
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    fn key(&self) -> &SecretKey {
        &self.inner.key
    }
}
