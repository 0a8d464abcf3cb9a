//! How hard a commit holds. Only the commit that lets us acknowledge a homeserver transaction
//! must reach the disk before we answer (the homeserver forgets the events then). Bookkeeping
//! commits (message map, inbox finish) survive a crash of the bridge without waiting for the
//! disk; a power loss can at worst undo the last of them, and an undone inbox finish means the
//! event is delivered again, never lost. On a 2-core VM a disk flush costs ~3 ms, so this is
//! what lets one portal relay thousands of messages a second instead of a few hundred.

use sqlx::pool::PoolConnection;
use sqlx::{Any, Transaction};

use super::{Backend, Store, StoreError};

/// The durability a transaction's commit needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Flushed to disk before `commit` returns.
    Synchronous,
    /// Survives a process crash; may be lost on power loss.
    Relaxed,
}

impl Store {
    /// Begins a transaction on `conn` with the given durability.
    pub(crate) async fn begin_on<'c>(
        &self,
        conn: &'c mut PoolConnection<Any>,
        durability: Durability,
    ) -> Result<Transaction<'c, Any>, StoreError> {
        // SQLite connections are relaxed (NORMAL) unless a synchronous commit is running, and
        // `relax` puts them back after one: only the synchronous case needs a PRAGMA.
        if self.backend() == Backend::Sqlite && durability == Durability::Synchronous {
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut **conn)
                .await?;
        }
        let mut tx = sqlx::Connection::begin(&mut **conn).await?;
        if self.backend() == Backend::Postgres && durability == Durability::Relaxed {
            sqlx::query("SET LOCAL synchronous_commit TO OFF")
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    /// Puts a SQLite connection back to the pool's default (relaxed) after a synchronous commit.
    pub(crate) async fn relax(&self, conn: &mut PoolConnection<Any>) -> Result<(), StoreError> {
        if self.backend() == Backend::Sqlite {
            sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(&mut **conn)
                .await?;
        }
        Ok(())
    }
}
