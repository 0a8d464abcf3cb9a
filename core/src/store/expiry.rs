//! Pending expiries of disappearing messages: which Matrix event to redact, and when. Kept in
//! the database so a restart redacts what expired while the bridge was down.

use ruma::{OwnedEventId, OwnedRoomId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::decode;
use super::{Store, StoreError};

/// A bridged message that is to be redacted on Matrix at `expires_at_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiryRow {
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    /// Milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

fn from_row(row: &AnyRow) -> Result<ExpiryRow, StoreError> {
    Ok(ExpiryRow {
        event_id: decode::id("expiries.event_id", row.try_get("event_id")?)?,
        room_id: decode::id("expiries.room_id", row.try_get("room_id")?)?,
        expires_at_ms: row.try_get("expires_at_ms")?,
    })
}

impl Store {
    /// Records (or moves) the expiry of an event: the last timer the network reported wins.
    pub async fn schedule_expiry(&self, row: &ExpiryRow) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("schedule_expiry");
        sqlx::query(
            "INSERT INTO expiries (event_id, room_id, expires_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (event_id) DO UPDATE SET expires_at_ms = excluded.expires_at_ms",
        )
        .bind(row.event_id.as_str())
        .bind(row.room_id.as_str())
        .bind(row.expires_at_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Up to `limit` expiries due at `now_ms`, soonest first.
    pub async fn due_expiries(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<ExpiryRow>, StoreError> {
        let _timer = crate::metrics::db_timer("due_expiries");
        let rows = sqlx::query(
            "SELECT event_id, room_id, expires_at_ms FROM expiries WHERE expires_at_ms <= $1 \
             ORDER BY expires_at_ms LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// When the soonest pending expiry is due, if there is one.
    pub async fn next_expiry(&self) -> Result<Option<i64>, StoreError> {
        let _timer = crate::metrics::db_timer("next_expiry");
        let row = sqlx::query("SELECT expires_at_ms FROM expiries ORDER BY expires_at_ms LIMIT 1")
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("expires_at_ms")).transpose()?)
    }

    /// Forgets an expiry (redacted, or given up on).
    pub async fn delete_expiry(&self, event: &OwnedEventId) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("delete_expiry");
        sqlx::query("DELETE FROM expiries WHERE event_id = $1")
            .bind(event.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
