//! Group commit for the per-event bookkeeping: finishing inbox and journal rows and recording
//! message-map rows. Every bridged event needs a few of these writes; one database commit for
//! each costs more than the rest of the event's handling. So they go to one writer task, which
//! takes everything queued while its previous commit ran and applies it in one transaction
//! (relaxed durability, see `durability`): the more events in flight, the bigger the batches,
//! and no write waits on a timer.
//!
//! A caller may await its writes ([`Committed`]) or go on at once. Going on is safe because
//! nothing here is needed for durability: an unfinished inbox or journal row is replayed after
//! a crash and the message map then stops a second delivery where it can. Reads of the message
//! map see rows not yet committed ([`Bookkeeper::pending_by_event`] and
//! [`Bookkeeper::pending_by_remote`]), so a reply to a message sent a moment ago finds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt as _;
use ruma::OwnedEventId;
use tokio::sync::{mpsc, oneshot};

use super::recent::{EarlyLookup, Recent};
use super::statistics::FirstAnalysis;
use super::{Durability, MessageRow, Store, StoreError};
use crate::ids::{PortalKey, RemoteMessageId};

/// One bookkeeping write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Record a bridged message (a duplicate is ignored).
    Message(MessageRow),
    /// Delete a handled inbox row (a Matrix event).
    FinishInbox(i64),
    /// Delete an applied remote journal row.
    FinishRemote(i64),
}

/// Without a write for this long, the writer forgets the keys it committed (see `recent`).
const IDLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Most writes applied in one database transaction.
const MAX_BATCH: usize = 512;

/// Rows per multi-row statement (8 bound values each: well under SQLite's variable limit).
const ROWS_PER_STATEMENT: usize = 100;

struct Request {
    writes: Vec<Write>,
    done: Option<oneshot::Sender<Result<(), StoreError>>>,
}

/// The writer's queue and the message-map rows not yet committed.
pub(crate) struct Bookkeeper {
    queue: mpsc::UnboundedSender<Request>,
    pending: Arc<Mutex<Pending>>,
}

/// Message-map rows queued but not committed, by event ID and by remote ID (with a count, as
/// the same row may be queued twice), and the keys committed lately (under the same lock, so a
/// row moving from one to the other is never in neither).
#[derive(Default)]
struct Pending {
    by_event: HashMap<OwnedEventId, (MessageRow, usize)>,
    by_remote: HashMap<(PortalKey, RemoteMessageId), OwnedEventId>,
    recent: Recent,
}

impl Pending {
    fn has_remote(&self, portal: &PortalKey, remote: &RemoteMessageId) -> bool {
        !self.by_remote.is_empty()
            && self
                .by_remote
                .contains_key(&(portal.clone(), remote.clone()))
    }

    fn add(&mut self, row: &MessageRow) {
        self.by_event
            .entry(row.event_id.clone())
            .or_insert_with(|| (row.clone(), 0))
            .1 += 1;
        self.by_remote
            .entry((row.portal.clone(), row.remote_id.clone()))
            .or_insert_with(|| row.event_id.clone());
    }

    fn remove(&mut self, row: &MessageRow) {
        if let Some((_, n)) = self.by_event.get_mut(&row.event_id) {
            *n -= 1;
            if *n == 0 {
                self.by_event.remove(&row.event_id);
                let key = (row.portal.clone(), row.remote_id.clone());
                if self.by_remote.get(&key) == Some(&row.event_id) {
                    self.by_remote.remove(&key);
                }
            }
        }
    }
}

/// Resolves once a batch of writes is committed (or failed). Dropping it does not cancel the
/// writes.
pub struct Committed(Option<oneshot::Receiver<Result<(), StoreError>>>);

impl std::future::IntoFuture for Committed {
    type Output = Result<(), StoreError>;
    type IntoFuture = futures::future::BoxFuture<'static, Result<(), StoreError>>;

    fn into_future(self) -> Self::IntoFuture {
        async move {
            match self.0 {
                Some(rx) => rx.await.unwrap_or(Err(StoreError::Closed)),
                None => Err(StoreError::Closed),
            }
        }
        .boxed()
    }
}

impl Bookkeeper {
    /// A bookkeeper writing to `store`; its writer runs until every sender is gone.
    pub(super) fn start(store: std::sync::Weak<super::Inner>) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(Mutex::new(Pending::default()));
        tokio::spawn(writer(store, rx, pending.clone()));
        Self { queue, pending }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        lock(&self.pending)
    }

    /// Queues `writes` for the next commit, in order after everything queued before.
    pub(super) fn submit(&self, writes: Vec<Write>) -> Committed {
        {
            let mut pending = self.pending();
            for w in &writes {
                if let Write::Message(row) = w {
                    pending.add(row);
                }
            }
        }
        let (done, rx) = oneshot::channel();
        let request = Request {
            writes,
            done: Some(done),
        };
        match self.queue.send(request) {
            Ok(()) => Committed(Some(rx)),
            Err(mpsc::error::SendError(request)) => {
                let mut pending = self.pending();
                for w in &request.writes {
                    if let Write::Message(row) = w {
                        pending.remove(row);
                    }
                }
                Committed(None)
            }
        }
    }

    /// A queued message-map row by its Matrix event ID.
    pub(super) fn pending_by_event(&self, event: &OwnedEventId) -> Option<MessageRow> {
        self.pending()
            .by_event
            .get(event)
            .map(|(row, _)| row.clone())
    }

    /// A queued message-map row by its portal and remote ID.
    pub(super) fn pending_by_remote(
        &self,
        portal: &PortalKey,
        remote: &RemoteMessageId,
    ) -> Option<MessageRow> {
        let pending = self.pending();
        if pending.by_remote.is_empty() {
            return None;
        }
        let event = pending.by_remote.get(&(portal.clone(), remote.clone()))?;
        pending.by_event.get(event).map(|(row, _)| row.clone())
    }

    /// The number of the last commit, taken before an early lookup reads the database.
    pub(super) fn mark(&self) -> u64 {
        self.pending().recent.mark()
    }

    /// Whether an early lookup of `portal`/`remote` still holds (`None`: ask the database).
    pub(super) fn settles(
        &self,
        lookup: EarlyLookup,
        portal: &PortalKey,
        remote: &RemoteMessageId,
    ) -> Option<bool> {
        let pending = self.pending();
        if pending.has_remote(portal, remote) {
            return Some(true);
        }
        pending.recent.settles(lookup, portal, remote)
    }

    /// Whether a message-map row for `portal`/`remote` is queued (no row copied).
    pub(super) fn is_pending(&self, portal: &PortalKey, remote: &RemoteMessageId) -> bool {
        self.pending().has_remote(portal, remote)
    }

    /// Notes a row written to the database outside the writer.
    pub(super) fn committed_elsewhere(&self, row: &MessageRow) {
        self.pending()
            .recent
            .committed([(&row.portal, &row.remote_id)]);
    }
}

fn lock(pending: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    pending.lock().unwrap_or_else(|p| p.into_inner())
}

/// The writer task: takes what is queued, commits it as one transaction, answers the callers.
async fn writer(
    store: std::sync::Weak<super::Inner>,
    mut rx: mpsc::UnboundedReceiver<Request>,
    pending: Arc<Mutex<Pending>>,
) {
    let mut batch: Vec<Request> = Vec::new();
    let mut first_analysis = FirstAnalysis::default();
    loop {
        let first = match tokio::time::timeout(IDLE, rx.recv()).await {
            Ok(Some(first)) => first,
            Ok(None) => return,
            Err(_) => {
                lock(&pending).recent.forget_all();
                continue;
            }
        };
        let mut writes = first.writes.len();
        batch.push(first);
        while writes < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => {
                    writes += next.writes.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let Some(inner) = store.upgrade() else {
            return;
        };
        let store = Store { inner };
        let all: Vec<&Write> = batch.iter().flat_map(|r| &r.writes).collect();
        let result = {
            let _timer = crate::metrics::db_timer("bookkeeping_batch");
            store.apply(&all).await
        };
        // One bad row must not fail the others: on error, each request on its own.
        let results: Vec<Result<(), StoreError>> = match result {
            Ok(()) => batch.iter().map(|_| Ok(())).collect(),
            Err(e) if batch.len() == 1 => vec![Err(e)],
            Err(e) => {
                tracing::warn!(error = %e, writes = all.len(), "bookkeeping batch failed; writing its requests one by one");
                let mut results = Vec::with_capacity(batch.len());
                for request in &batch {
                    let writes: Vec<&Write> = request.writes.iter().collect();
                    results.push(store.apply(&writes).await);
                }
                results
            }
        };
        drop(all);
        let recorded = {
            let mut pending = lock(&pending);
            let mut committed = Vec::new();
            for (request, result) in batch.iter().zip(&results) {
                for w in &request.writes {
                    if let Write::Message(row) = w {
                        pending.remove(row);
                        if result.is_ok() {
                            committed.push((&row.portal, &row.remote_id));
                        }
                    }
                }
            }
            let recorded = committed.len();
            pending.recent.committed(committed);
            recorded
        };
        first_analysis.committed(&store, recorded).await;
        for (mut request, result) in batch.drain(..).zip(results) {
            if let Err(e) = &result {
                tracing::error!(error = %e, writes = ?request.writes, "bookkeeping writes failed; their events may be delivered again after a restart");
            }
            if let Some(done) = request.done.take() {
                let _ = done.send(result);
            }
        }
    }
}

impl Store {
    /// Applies `writes` in one relaxed transaction, with as few statements as it can.
    async fn apply(&self, writes: &[&Write]) -> Result<(), StoreError> {
        let mut messages = Vec::new();
        let (mut inbox, mut journal) = (Vec::new(), Vec::new());
        for w in writes {
            match w {
                Write::Message(row) => messages.push(row),
                Write::FinishInbox(id) => inbox.push(*id),
                Write::FinishRemote(id) => journal.push(*id),
            }
        }
        let mut conn = self.pool().acquire().await?;
        let mut tx = self.begin_on(&mut conn, Durability::Relaxed).await?;
        for chunk in messages.chunks(ROWS_PER_STATEMENT) {
            // Padded with copies of the last row (ignored as duplicates), so only a few
            // statement shapes exist and the prepared-statement cache keeps them.
            let len = padded(chunk.len(), ROWS_PER_STATEMENT);
            let mut query = sqlx::query(sqlx::AssertSqlSafe(insert_messages_sql(len)));
            for i in 0..len {
                query = super::messages::bind_message(query, chunk[i.min(chunk.len() - 1)]);
            }
            query.execute(&mut *tx).await?;
        }
        let cap = ROWS_PER_STATEMENT * 8;
        for (table, ids) in [("inbox", &inbox), ("remote_journal", &journal)] {
            for chunk in ids.chunks(cap) {
                let len = padded(chunk.len(), cap);
                let list: Vec<String> = (1..=len).map(|i| format!("${i}")).collect();
                let sql = format!("DELETE FROM {table} WHERE id IN ({})", list.join(", "));
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for i in 0..len {
                    query = query.bind(chunk[i.min(chunk.len() - 1)]);
                }
                query.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// `len` rounded up to a power of two, at most `cap` (`len` ≤ `cap`).
pub(super) fn padded(len: usize, cap: usize) -> usize {
    len.next_power_of_two().min(cap)
}

/// A multi-row insert into the message map of `rows` rows.
fn insert_messages_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO messages (chat, receiver, remote_id, event_id, room_id, remote_sender, \
         sender, timestamp_ms) VALUES ",
    );
    for i in 0..rows {
        let b = i * 8;
        if i > 0 {
            sql.push_str(", ");
        }
        let slots: Vec<String> = (1..=8).map(|k| format!("${}", b + k)).collect();
        sql.push('(');
        sql.push_str(&slots.join(", "));
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT DO NOTHING");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_shapes_are_few() {
        assert_eq!(padded(1, 100), 1);
        assert_eq!(padded(3, 100), 4);
        assert_eq!(padded(65, 100), 100);
        assert_eq!(padded(100, 100), 100);
        let shapes: std::collections::HashSet<usize> = (1..=800).map(|n| padded(n, 800)).collect();
        assert_eq!(shapes.len(), 11);
        let sql = insert_messages_sql(2);
        assert!(sql.ends_with("($1, $2, $3, $4, $5, $6, $7, $8), ($9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT DO NOTHING"), "{sql}");
    }
}
