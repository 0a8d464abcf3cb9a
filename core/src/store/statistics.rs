//! First statistics for the message map on PostgreSQL. PostgreSQL plans from table statistics,
//! which autovacuum first gathers a minute or more after a table fills. Until then it guesses
//! one row for a portal's chat and receiver alone, so a lookup by remote ID looks no cheaper
//! with the remote ID in the index condition than without: it probes the primary key (or
//! `messages_by_time`, for an equality) by chat and receiver only and filters the portal's
//! whole history on every lookup, ~10 ms per query at 20,000 rows. That held a new
//! deployment's network → Matrix relay to ~500 msg/s. So once the message map has grown by
//! [`ROWS`] since start, the store analyses it itself if PostgreSQL never has.

use super::{Backend, Store, StoreError};

/// Message-map rows written since start after which a never-analysed table is analysed.
const ROWS: usize = 1_000;

/// Counts the message-map rows the writer commits, until the one check is due.
#[derive(Default)]
pub(super) struct FirstAnalysis {
    rows: usize,
    done: bool,
}

impl FirstAnalysis {
    /// Notes `rows` committed message-map rows; analyses the table once when due. A failure is
    /// logged, not returned: without statistics the bridge is slower, not wrong.
    pub(super) async fn committed(&mut self, store: &Store, rows: usize) {
        if self.done {
            return;
        }
        self.rows += rows;
        if self.rows < ROWS {
            return;
        }
        self.done = true;
        if store.backend() != Backend::Postgres {
            return;
        }
        if let Err(e) = store.analyse_messages_if_never_analysed().await {
            tracing::warn!(error = %e, "could not gather the message map's first statistics; lookups stay slow until autovacuum does");
        }
    }
}

impl Store {
    /// `ANALYZE messages` if PostgreSQL has no statistics for it (`reltuples` is -1 until the
    /// first analysis). Once per process at most, so it never competes with autovacuum.
    async fn analyse_messages_if_never_analysed(&self) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("analyse_messages");
        let never: bool = sqlx::query_scalar(
            "SELECT COALESCE((SELECT reltuples < 0 FROM pg_class \
             WHERE oid = to_regclass('messages')), false)",
        )
        .fetch_one(self.pool())
        .await?;
        if never {
            sqlx::query("ANALYZE messages").execute(self.pool()).await?;
            tracing::info!("gathered the message map's first statistics");
        }
        Ok(())
    }
}
