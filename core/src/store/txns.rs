//! Appservice transaction dedupe and the durable inbox: the HTTP layer acknowledges a
//! transaction only after [`Store::record_transaction`] committed, so a crash after the ack
//! loses nothing (the events are replayed from [`Store::pending_inbox`] at start-up) and a
//! homeserver retry after a crash before the ack is recorded once.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Row;

use super::{Durability, Store, StoreError};

/// Whether a transaction was new or a replay.
#[derive(Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// First time: its events are in the inbox under these IDs, in order.
    New(Vec<i64>),
    /// Seen before: acknowledge, do nothing.
    Duplicate,
}

/// An event recorded durably before the transaction is acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxEvent {
    pub id: i64,
    pub txn_id: String,
    /// The raw event JSON as the homeserver sent it.
    pub json: String,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Atomically records `txn_id` as seen and appends `events` (raw JSON) to the inbox.
    ///
    /// One database transaction: either the ID and all its events are stored, or nothing is.
    /// Concurrent calls with the same ID record it once; the others get `Duplicate`.
    pub async fn record_transaction(
        &self,
        txn_id: &str,
        events: &[String],
    ) -> Result<TxnOutcome, StoreError> {
        let _timer = crate::metrics::db_timer("record_transaction");
        // The homeserver forgets a transaction once we acknowledge it: this commit must be on
        // disk, not just handed to the OS.
        let mut conn = self.pool().acquire().await?;
        let mut tx = self.begin_on(&mut conn, Durability::Synchronous).await?;
        let inserted = sqlx::query(
            "INSERT INTO processed_txns (txn_id, recorded_at_ms) VALUES ($1, $2) \
             ON CONFLICT (txn_id) DO NOTHING",
        )
        .bind(txn_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            self.relax(&mut conn).await?;
            return Ok(TxnOutcome::Duplicate);
        }
        let mut ids = Vec::with_capacity(events.len());
        for json in events {
            let id: i64 =
                sqlx::query_scalar("INSERT INTO inbox (txn_id, json) VALUES ($1, $2) RETURNING id")
                    .bind(txn_id)
                    .bind(json.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
            ids.push(id);
        }
        tx.commit().await?;
        self.relax(&mut conn).await?;
        Ok(TxnOutcome::New(ids))
    }

    /// Inbox events not yet marked done, oldest first (replayed at start-up).
    pub async fn pending_inbox(&self) -> Result<Vec<InboxEvent>, StoreError> {
        let _timer = crate::metrics::db_timer("pending_inbox");
        let rows = sqlx::query("SELECT id, txn_id, json FROM inbox ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(InboxEvent {
                    id: row.try_get("id")?,
                    txn_id: row.try_get("txn_id")?,
                    json: row.try_get("json")?,
                })
            })
            .collect()
    }

    /// Marks an inbox event handled (deletes it). Finishing an unknown ID does nothing.
    pub async fn finish_inbox(&self, id: i64) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("finish_inbox");
        sqlx::query("DELETE FROM inbox WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forgets transaction IDs recorded before `before_ms` (Unix milliseconds) whose events are
    /// all handled, so the dedupe table does not grow forever. Homeservers only retry a
    /// transaction until it is acknowledged, so anything older than a day is safe to drop.
    /// Returns how many were removed.
    pub async fn prune_transactions(&self, before_ms: i64) -> Result<u64, StoreError> {
        let _timer = crate::metrics::db_timer("prune_transactions");
        let done = sqlx::query(
            "DELETE FROM processed_txns WHERE recorded_at_ms < $1 \
             AND NOT EXISTS (SELECT 1 FROM inbox WHERE inbox.txn_id = processed_txns.txn_id)",
        )
        .bind(before_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
