//! Backfill: a portal's history from the network, posted in order with the original timestamps.
//!
//! Two moments, both on the portal's ordered queue (so history is never posted after a newer
//! live event of the same portal):
//! * **created**: a new portal gets the chat's last `initial_messages` messages, while its
//!   creation lock is held;
//! * **catch-up**: once per run, before a portal's first remote event (or from the sweep after
//!   start, whichever comes first), the network is asked for what came after the newest message
//!   the portal holds (`catch_up_messages` at most).
//!
//! Whatever the network returns goes through the same path as live events: a message the
//! message map already holds is skipped, so history that overlaps what was bridged live (or a
//! catch-up that overlaps the network's own replay) posts nothing twice. Ghosts post it, and the
//! appservice never hands a ghost's event back to the network, so nothing is re-bridged.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;

use super::{Portal, PortalError, Portals, QueueKey};
use crate::config::BackfillConfig;
use crate::events::{RemoteEvent, RemoteEventKind};
use crate::network::{Network, NetworkHandle};
use crate::seam::{BackfillAnchor, BackfillReason, BackfillRequest};

/// How long a network may take to answer one history request (a slow archive must not hold a
/// portal's queue for ever; what it did not return is simply not backfilled).
const NETWORK_TIMEOUT: Duration = Duration::from_secs(60);

/// Backfill settings and which portals were caught up in this run.
pub(crate) struct Backfill {
    config: BackfillConfig,
    /// Off when the config says so or the network has no history.
    enabled: bool,
    /// Portals created or caught up in this run: each is caught up once.
    done: Mutex<HashSet<crate::ids::PortalKey>>,
}

impl Backfill {
    pub(crate) fn new(config: BackfillConfig, network_has_history: bool) -> Self {
        Self {
            enabled: config.enabled && network_has_history,
            config,
            done: Mutex::new(HashSet::new()),
        }
    }

    /// Marks `portal` handled in this run; `true` the first time. (A lookup before the
    /// insert: this runs for every remote event, and most portals were handled long ago.)
    pub(super) fn first_time(&self, portal: &crate::ids::PortalKey) -> bool {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        !done.contains(portal) && done.insert(portal.clone())
    }
}

impl Portals {
    /// After `user`'s connection came back (`None`: the bridge's own, serving every portal),
    /// their portals catch up again: before their next event, and from a sweep.
    pub(crate) async fn after_reconnects(
        self,
        mut reconnects: tokio::sync::mpsc::UnboundedReceiver<Option<ruma::OwnedUserId>>,
        network: Network,
    ) {
        while let Some(user) = reconnects.recv().await {
            if !self.inner.backfill.enabled {
                continue;
            }
            {
                let mut done = self
                    .inner
                    .backfill
                    .done
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                match &user {
                    None => done.clear(),
                    Some(user) => done.retain(|key| key.receiver.as_ref() != Some(user)),
                }
            }
            tracing::info!(
                ?user,
                "connection back: portals catch up on what they missed"
            );
            self.clone().catch_up_all(network.clone()).await;
        }
    }

    /// A new portal's history. The caller holds the portal's creation lock, so no live event
    /// of the portal is posted before it.
    pub(super) async fn backfill_created(&self, portal: &Portal, network: &dyn NetworkHandle) {
        let backfill = &self.inner.backfill;
        if !backfill.enabled || !backfill.first_time(portal.key()) || portal.row.plumbed {
            return;
        }
        let limit = backfill.config.initial_messages;
        self.backfill(portal, BackfillReason::Created, None, limit, network)
            .await;
    }

    /// What `portal` missed while the bridge was away, once per run; runs on the portal's queue
    /// before its first remote event.
    pub(super) async fn catch_up(&self, portal: &Portal, network: &dyn NetworkHandle) {
        let backfill = &self.inner.backfill;
        if !backfill.enabled || !backfill.first_time(portal.key()) {
            return;
        }
        let anchor = match self.newest(portal).await {
            Ok(anchor) => anchor,
            Err(e) => {
                tracing::warn!(portal = %portal.key(), error = %e, "cannot read the newest message; no catch-up");
                return;
            }
        };
        // A portal without a single bridged message has nothing to continue from: it gets what
        // a new one would.
        let (reason, limit) = match &anchor {
            Some(_) => (BackfillReason::CatchUp, backfill.config.catch_up_messages),
            None if portal.row.plumbed => return,
            None => (BackfillReason::Created, backfill.config.initial_messages),
        };
        self.backfill(portal, reason, anchor, limit, network).await;
    }

    /// After start: every portal's catch-up, each on its own queue, a few at a time. A portal
    /// that got an event first was caught up then, and is skipped here.
    pub(crate) async fn catch_up_all(self, network: Network) {
        if !self.inner.backfill.enabled || self.inner.backfill.config.catch_up_messages == 0 {
            return;
        }
        let rows = match self.inner.store.all_portals().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list portals; no catch-up sweep");
                return;
            }
        };
        let parallel = self.inner.backfill.config.parallel_catch_ups.max(1);
        futures::stream::iter(rows)
            .for_each_concurrent(parallel, |row| {
                let this = self.clone();
                let network = network.clone();
                async move {
                    let portal = this.cached(row);
                    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
                    let key = QueueKey::Portal(portal.key().clone());
                    let job_self = this.clone();
                    this.queue(key, async move {
                        job_self.catch_up(&portal, &*network).await;
                        let _ = done_tx.send(());
                    });
                    // Dropped unsent only when the queue's task was cancelled at shutdown.
                    let _ = done_rx.await;
                }
            })
            .await;
    }

    /// The newest message `portal` holds (remote or from Matrix), after what is queued for the
    /// database was written.
    async fn newest(&self, portal: &Portal) -> Result<Option<BackfillAnchor>, PortalError> {
        self.inner.store.flush().await?;
        Ok(self
            .inner
            .store
            .newest_message(portal.key())
            .await?
            .map(|row| BackfillAnchor {
                id: row.remote_id,
                at: ruma::MilliSecondsSinceUnixEpoch(
                    ruma::UInt::try_from(row.timestamp_ms.max(0)).unwrap_or_default(),
                ),
            }))
    }

    /// Asks the network and posts what it returns, in its order.
    async fn backfill(
        &self,
        portal: &Portal,
        reason: BackfillReason,
        after: Option<BackfillAnchor>,
        limit: usize,
        network: &dyn NetworkHandle,
    ) {
        if limit == 0 {
            return;
        }
        let key = portal.key();
        let request = BackfillRequest {
            reason,
            after,
            limit,
        };
        let events = match tokio::time::timeout(NETWORK_TIMEOUT, network.backfill(portal, request))
            .await
        {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => {
                tracing::warn!(portal = %key, ?reason, error = %e, "the network gave no history");
                return;
            }
            Err(_) => {
                tracing::warn!(portal = %key, ?reason, "the network's history did not come in time");
                return;
            }
        };
        let mut posted = 0usize;
        let mut skipped = 0usize;
        for kind in events.into_iter().take(limit) {
            if !is_history(&kind) {
                skipped += 1;
                continue;
            }
            let event = RemoteEvent {
                portal: key.clone(),
                kind,
            };
            match self.apply_to(portal, event, None).await {
                Ok(()) => posted += 1,
                Err(e) => {
                    tracing::warn!(portal = %key, error = %e, "a backfilled event could not be posted")
                }
            }
        }
        crate::metrics::backfilled(posted);
        tracing::info!(portal = %key, ?reason, posted, skipped, "backfilled");
    }
}

/// What history may hold: messages and what happened to them. Typing, receipts, membership and
/// chat info are about the present, which live events carry.
fn is_history(kind: &RemoteEventKind) -> bool {
    matches!(
        kind,
        RemoteEventKind::Message { .. }
            | RemoteEventKind::Edit { .. }
            | RemoteEventKind::Reaction { .. }
            | RemoteEventKind::PollVote { .. }
            | RemoteEventKind::Redaction { .. }
            | RemoteEventKind::Expire { .. }
    )
}
