//! The remote journal: events a network handed to the core, written (many to a commit, see
//! `portal::intake`) before they are queued and deleted once applied to Matrix. What a crash
//! leaves here is replayed at the next start, in order, ahead of anything new; a replayed message already in the message map is skipped, so
//! a crash after posting but before the delete does not post it twice.
//!
//! Commits are relaxed (see `durability`): they survive a crash of the process, which is what
//! the journal is for; a power loss may undo the last ones, as it would for any remote chat
//! client.

use sqlx::Row;

use super::{Backend, Durability, Store, StoreError, decode};

/// Most events in one multi-row insert.
const ROWS_PER_INSERT: usize = 64;
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
        let ids = self.journal_remote_many(&[event]).await?;
        ids.first().copied().ok_or(StoreError::Closed)
    }

    /// Writes `events` to the journal in one transaction; returns their row IDs, in order
    /// (replay follows the IDs).
    pub async fn journal_remote_many(
        &self,
        events: &[&RemoteEvent],
    ) -> Result<Vec<i64>, StoreError> {
        let _timer = crate::metrics::db_timer("journal_remote");
        let json: Vec<String> = events
            .iter()
            .map(|e| decode::to_json("remote event", e))
            .collect::<Result<_, _>>()?;
        // One statement is atomic by itself, and SQLite's default commit is relaxed already:
        // a transaction would only add round trips to its worker thread.
        if json.len() <= ROWS_PER_INSERT && self.backend() == Backend::Sqlite {
            return insert(self.pool(), &json).await;
        }
        let mut ids = Vec::with_capacity(json.len());
        let mut conn = self.pool().acquire().await?;
        let mut tx = self.begin_on(&mut conn, Durability::Relaxed).await?;
        for chunk in json.chunks(ROWS_PER_INSERT) {
            ids.append(&mut insert(&mut *tx, chunk).await?);
        }
        tx.commit().await?;
        Ok(ids)
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

/// One multi-row insert of journal rows; their IDs in the order of `json`.
async fn insert<'e, E>(exec: E, json: &[String]) -> Result<Vec<i64>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let values: Vec<String> = (1..=json.len()).map(|i| format!("(${i})")).collect();
    let sql = format!(
        "INSERT INTO remote_journal (json) VALUES {} RETURNING id",
        values.join(", ")
    );
    let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
    for j in json {
        query = query.bind(j.as_str());
    }
    // Rows get their IDs in the order of VALUES; RETURNING may list them in any.
    let mut ids = query.fetch_all(exec).await?;
    ids.sort_unstable();
    Ok(ids)
}
