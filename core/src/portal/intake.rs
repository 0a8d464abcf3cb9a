//! The intake: moves remote events from the network's bounded channel onto their portal
//! queues, in order. It takes whatever has arrived at once, journals it in one commit (see
//! `store::journal`) and looks the messages among it up in the message map with one query per
//! portal (`store::recent` says why that may happen before their turn), so a fast network
//! costs no database round trip per message.

use tokio::sync::mpsc;

use super::Portals;
use crate::events::{RemoteEvent, RemoteEventKind};
use crate::ids::{PortalKey, RemoteMessageId};
use crate::network::Network;
use crate::store::{EarlyLookup, JournaledEvent};
use crate::tasks::Tasks;

/// Most events taken from the channel at once.
const BATCH: usize = 256;

/// A remote event on its way to its portal queue, with its journal row if it has one.
struct Incoming {
    event: RemoteEvent,
    journal: Option<i64>,
}

/// Moves remote events onto their portal queues in order, waiting while a portal's queue is
/// full (`depth` jobs): first what an earlier run journaled but did not apply, then the
/// network's channel, journaling each batch taken from it in one commit first. Runs until
/// `tasks` are cancelled (the last step of shutdown), then journals what is still in the
/// channel for the next start.
pub(crate) async fn intake(
    journaled: Vec<JournaledEvent>,
    mut events: mpsc::Receiver<RemoteEvent>,
    portals: Portals,
    network: Network,
    depth: usize,
    tasks: Tasks,
) {
    let mut replay = journaled
        .into_iter()
        .map(|JournaledEvent { id, event }| Incoming {
            event,
            journal: Some(id),
        })
        .peekable();
    let mut taken: Vec<RemoteEvent> = Vec::with_capacity(BATCH);
    'run: loop {
        let batch = if replay.peek().is_some() {
            replay.by_ref().take(BATCH).collect()
        } else {
            let first = tokio::select! {
                first = events.recv() => first,
                () = tasks.cancelled() => break 'run,
            };
            let Some(first) = first else { return };
            taken.push(first);
            while taken.len() < BATCH {
                match events.try_recv() {
                    Ok(next) => taken.push(next),
                    Err(_) => break,
                }
            }
            portals.journal(&mut taken).await
        };
        let early = portals.look_up_early(&batch).await;
        for (Incoming { event, journal }, early) in batch.into_iter().zip(early) {
            let queued = portals.queue_remote(event, journal, early, network.clone(), depth);
            tokio::select! {
                () = queued => {}
                // What is not queued now is journaled: replayed at the next start.
                () = tasks.cancelled() => break 'run,
            }
        }
    }
    while let Ok(event) = events.try_recv() {
        taken.push(event);
    }
    if !taken.is_empty() {
        tracing::info!(
            count = taken.len(),
            "journaling remote events that arrived during shutdown"
        );
        drop(portals.journal(&mut taken).await);
    }
}

/// Typing and read receipts are not worth a database write: stale after a restart anyway.
fn is_ephemeral(event: &RemoteEvent) -> bool {
    matches!(
        event.kind,
        RemoteEventKind::Typing { .. } | RemoteEventKind::ReadReceipt { .. }
    )
}

impl Portals {
    /// Journals `taken` (emptying it) in one commit, and hands the events back with their rows.
    /// If the journal cannot be written they go on from memory (only a crash before they are
    /// posted loses them).
    async fn journal(&self, taken: &mut Vec<RemoteEvent>) -> Vec<Incoming> {
        let durable: Vec<&RemoteEvent> = taken.iter().filter(|e| !is_ephemeral(e)).collect();
        let ids = if durable.is_empty() {
            Vec::new()
        } else {
            match self.inner.store.journal_remote_many(&durable).await {
                Ok(ids) if ids.len() == durable.len() => ids,
                Ok(ids) => {
                    tracing::error!(
                        expected = durable.len(),
                        got = ids.len(),
                        "the journal returned the wrong number of rows; going on unjournaled"
                    );
                    Vec::new()
                }
                Err(e) => {
                    tracing::error!(error = %e, events = durable.len(), "could not journal remote events; going on unjournaled");
                    Vec::new()
                }
            }
        };
        let mut ids = ids.into_iter();
        drop(durable);
        taken
            .drain(..)
            .map(|event| {
                let journal = if is_ephemeral(&event) {
                    None
                } else {
                    ids.next()
                };
                Incoming { event, journal }
            })
            .collect()
    }

    /// Early message map lookups for the messages among `batch` (`None` for other events, and
    /// for all if the lookup failed: each message is then looked up at its turn).
    async fn look_up_early(&self, batch: &[Incoming]) -> Vec<Option<EarlyLookup>> {
        let keys: Vec<(&PortalKey, &RemoteMessageId)> = batch
            .iter()
            .filter_map(|i| match &i.event.kind {
                RemoteEventKind::Message { id, .. } => Some((&i.event.portal, id)),
                _ => None,
            })
            .collect();
        let mut found = match self.inner.store.look_up_early(&keys).await {
            Ok(found) => found.into_iter(),
            Err(e) => {
                tracing::warn!(error = %e, "message map lookup failed; each message is looked up when posted");
                Vec::new().into_iter()
            }
        };
        batch
            .iter()
            .map(|i| match i.event.kind {
                RemoteEventKind::Message { .. } => found.next(),
                _ => None,
            })
            .collect()
    }

    /// Queues a remote event on its portal's queue, waiting while that queue already holds
    /// `depth` jobs (so one flooding chat cannot fill memory; others go on). Its journal row,
    /// if any, is finished once it was applied (or failed for good).
    async fn queue_remote(
        &self,
        event: RemoteEvent,
        journal: Option<i64>,
        early: Option<EarlyLookup>,
        network: Network,
        depth: usize,
    ) {
        let this = self.clone();
        let key = super::QueueKey::Portal(event.portal.clone());
        self.inner.queues.wait_below(&key, depth).await;
        self.inner.queues.push(key, async move {
            this.apply_remote(event, early, &*network).await;
            if let Some(id) = journal {
                // In the next group commit; the store's writer logs a failure (the event is
                // then replayed, and skipped if the message map has it).
                drop(this.inner.store.finish_remote(id));
            }
        });
    }
}
