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

/// Inbox rows per insert statement (homeservers send at most 100 events per transaction, plus
/// ephemeral ones).
const INBOX_ROWS_PER_STATEMENT: usize = 200;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The key a transaction is remembered by: its ID plus a digest of its events' IDs.
///
/// The ID alone is not enough: Synapse numbers appservice transactions from the highest one
/// still pending, so after a homeserver restart it sends `1`, `2`, … again with new events.
/// A true retry carries the same events (its JSON may differ, e.g. `unsigned.age`), so the
/// event IDs decide; events without one (ephemeral) count by their JSON.
pub fn dedupe_key(txn_id: &str, events: &[String]) -> String {
    use sha2::{Digest, Sha256};
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        event_id: Option<&'a str>,
    }
    let mut hash = Sha256::new();
    for json in events {
        match serde_json::from_str::<Id<'_>>(json) {
            Ok(Id { event_id: Some(id) }) => hash.update(id.as_bytes()),
            _ => hash.update(json.as_bytes()),
        }
        hash.update([0u8]);
    }
    let digest = hash.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{txn_id}#{hex}")
}

impl Store {
    /// Atomically records the transaction as seen and appends `events` (raw JSON) to the inbox.
    ///
    /// One database transaction: either the transaction and all its events are stored, or
    /// nothing is. It is remembered by [`dedupe_key`] (ID and event IDs): concurrent calls for
    /// the same transaction record it once, the others get `Duplicate`; a homeserver that
    /// reuses an ID for new events (after its own restart) gets them recorded.
    pub async fn record_transaction(
        &self,
        txn_id: &str,
        events: &[String],
    ) -> Result<TxnOutcome, StoreError> {
        let _timer = crate::metrics::db_timer("record_transaction");
        let key = dedupe_key(txn_id, events);
        let txn_id = key.as_str();
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
        // One statement per chunk rather than per event. Rows get their IDs in the order of
        // the VALUES list, so the sorted IDs are the events' in order.
        let mut ids = Vec::with_capacity(events.len());
        for chunk in events.chunks(INBOX_ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("($1, ${})", i + 2))
                .collect();
            let sql = format!(
                "INSERT INTO inbox (txn_id, json) VALUES {} RETURNING id",
                values.join(", ")
            );
            // Shapes vary with the transaction's size: not worth a slot in the statement cache.
            let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                .persistent(false)
                .bind(txn_id);
            for json in chunk {
                query = query.bind(json.as_str());
            }
            let mut chunk_ids = query.fetch_all(&mut *tx).await?;
            chunk_ids.sort_unstable();
            ids.extend(chunk_ids);
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

    /// Marks an inbox event handled (deletes it, in the next group commit). Finishing an
    /// unknown ID does nothing.
    pub fn finish_inbox(&self, id: i64) -> super::Committed {
        self.finish_inbox_with(id, None)
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

#[cfg(test)]
mod key_tests {
    use super::dedupe_key;

    #[test]
    fn a_retry_matches_and_a_reused_id_with_new_events_does_not() {
        let first = [r#"{"event_id":"$a","unsigned":{"age":5}}"#.to_owned()];
        let retry = [r#"{"event_id":"$a","unsigned":{"age":900}}"#.to_owned()];
        let reused = [r#"{"event_id":"$b"}"#.to_owned()];
        assert_eq!(dedupe_key("1", &first), dedupe_key("1", &retry));
        assert_ne!(dedupe_key("1", &first), dedupe_key("1", &reused));
        assert_ne!(dedupe_key("1", &first), dedupe_key("2", &first));
        let typing = [r#"{"type":"m.typing","room_id":"!r"}"#.to_owned()];
        assert_eq!(dedupe_key("3", &typing), dedupe_key("3", &typing));
    }
}
