//! The remote journal: events a network handed to the core, written before they are queued and
//! deleted once applied to Matrix. What a crash leaves here is replayed at the next start, in
//! order, ahead of anything new; a replayed message already in the message map is skipped, so
//! a crash after posting but before the delete does not post it twice.
//!
//! Commits are relaxed (see `durability`): they survive a crash of the process, which is what
//! the journal is for; a power loss may undo the last ones, as it would for any remote chat
//! client.

use sqlx::Row;

use super::{Store, StoreError, decode};
use crate::events::RemoteEvent;

/// A journaled remote event and its row, to finish once applied.
#[derive(Clone, Debug)]
pub struct JournaledEvent {
    pub id: i64,
    pub event: RemoteEvent,
}

impl Store {
    /// Writes `event` to the journal; returns its row ID for [`Store::finish_remote`].
    pub async fn journal_remote(&self, event: &RemoteEvent) -> Result<i64, StoreError> {
        let _timer = crate::metrics::db_timer("journal_remote");
        let json = decode::to_json("remote event", event)?;
        let id: i64 =
            sqlx::query_scalar("INSERT INTO remote_journal (json) VALUES ($1) RETURNING id")
                .bind(json)
                .fetch_one(self.pool())
                .await?;
        Ok(id)
    }

    /// Journaled events not yet finished, oldest first. A row that no longer decodes (written
    /// by another version) is logged and deleted rather than blocking the start.
    pub async fn pending_remote(&self) -> Result<Vec<JournaledEvent>, StoreError> {
        let _timer = crate::metrics::db_timer("pending_remote");
        let rows = sqlx::query("SELECT id, json FROM remote_journal ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let json: String = row.try_get("json")?;
            match decode::json::<RemoteEvent>("remote journal row", &json) {
                Ok(event) => events.push(JournaledEvent { id, event }),
                Err(e) => {
                    tracing::error!(row = id, error = %e, "dropping unreadable remote journal row");
                    self.finish_remote(id).await?;
                }
            }
        }
        Ok(events)
    }

    /// Marks a journaled event applied (deletes it). Unknown IDs do nothing.
    pub fn finish_remote(&self, id: i64) -> super::Committed {
        self.bookkeep(vec![super::Write::FinishRemote(id)])
    }
}
