//! Homeserver outages as the client sees them: a request that could not reach the homeserver
//! marks it down; the next answer marks it back and bumps a counter others can wait on. The
//! router's catch-up listens to it, because a homeserver that stopped may have dropped events
//! it had accepted but not yet pushed to us (Synapse queues appservice pushes in memory).
//!
//! From the first failed request until that catch-up is done, the outage is *unsettled*: the
//! router holds events freshly pushed by the homeserver (see [`MatrixClient::settled`]), so
//! events it lost and the catch-up brings back are queued before newer ones, in timeline order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::MatrixClient;

/// Shared by every clone of a [`MatrixClient`].
#[derive(Clone)]
pub(crate) struct Outages {
    down: Arc<AtomicBool>,
    /// When the last outage began (milliseconds since the epoch), for the catch-up's reach.
    down_since_ms: Arc<AtomicU64>,
    recovered: Arc<watch::Sender<u64>>,
    /// `false` from the start of an outage until the catch-up after it is done.
    settled: Arc<watch::Sender<bool>>,
}

impl Default for Outages {
    fn default() -> Self {
        Self {
            down: Arc::default(),
            down_since_ms: Arc::default(),
            recovered: Arc::new(watch::channel(0).0),
            settled: Arc::new(watch::channel(true).0),
        }
    }
}

impl Outages {
    /// A request did not reach the homeserver (refused, reset, timed out).
    pub fn unreachable(&self) {
        if !self.down.swap(true, Ordering::Relaxed) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            self.down_since_ms.store(now, Ordering::Relaxed);
            self.settled.send_replace(false);
        }
    }

    /// When the last outage began, in milliseconds since the epoch (0: none yet).
    pub fn last_down_since_ms(&self) -> u64 {
        self.down_since_ms.load(Ordering::Relaxed)
    }

    /// The homeserver answered (any status): if it was down, count a recovery.
    pub fn answered(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("the homeserver is reachable again");
            self.recovered.send_modify(|n| *n += 1);
        }
    }

    /// Whether an outage is over but not yet caught up (the catch-up's cue).
    pub fn owes_catch_up(&self) -> bool {
        !*self.settled.borrow() && !self.down.load(Ordering::Relaxed)
    }

    /// The catch-up after the last outage is done: pushed events flow again, unless the
    /// homeserver went down again meanwhile (its recovery brings another catch-up).
    pub fn settle(&self) {
        if !self.down.load(Ordering::Relaxed) {
            self.settled.send_replace(true);
        }
    }
}

impl MatrixClient {
    /// Changes each time the homeserver answers again after being unreachable.
    pub(crate) fn recoveries(&self) -> watch::Receiver<u64> {
        self.outages.recovered.subscribe()
    }

    pub(crate) fn outages(&self) -> &Outages {
        &self.outages
    }

    /// When the last homeserver outage began, in milliseconds since the epoch (0: none yet).
    pub(crate) fn last_outage_start_ms(&self) -> u64 {
        self.outages.last_down_since_ms()
    }

    /// The homeserver pushed us a transaction, so it is up: an outage the bridge's own requests
    /// have not seen end yet ends here, and its catch-up can start.
    pub(crate) fn heard_from(&self) {
        self.outages.answered();
    }

    /// Returns once no outage is waiting for its catch-up, or after `at_most` (logged: events
    /// must not wait on a catch-up that cannot finish).
    pub(crate) async fn settled(&self, at_most: Duration) {
        // The common case, on every pushed event: no outage, no receiver to make.
        if *self.outages.settled.borrow() {
            return;
        }
        let mut rx = self.outages.settled.subscribe();
        if tokio::time::timeout(at_most, rx.wait_for(|s| *s))
            .await
            .is_err()
        {
            tracing::warn!(
                waited = ?at_most,
                "the catch-up after the homeserver outage is taking long; routing new events anyway"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_is_counted_once_per_outage() {
        let o = Outages::default();
        let rx = o.recovered.subscribe();
        o.answered();
        assert_eq!(*rx.borrow(), 0, "no outage, no recovery");
        o.unreachable();
        let since = o.last_down_since_ms();
        assert!(since > 0);
        o.unreachable();
        assert_eq!(
            o.last_down_since_ms(),
            since,
            "the first failure starts the outage"
        );
        o.answered();
        o.answered();
        assert_eq!(*rx.borrow(), 1);
        o.unreachable();
        o.answered();
        assert_eq!(*rx.borrow(), 2);
    }

    #[test]
    fn an_outage_is_unsettled_until_its_catch_up() {
        let o = Outages::default();
        assert!(*o.settled.borrow() && !o.owes_catch_up());
        o.unreachable();
        assert!(!*o.settled.borrow());
        assert!(!o.owes_catch_up(), "still down: nothing to catch up yet");
        o.settle();
        assert!(
            !*o.settled.borrow(),
            "down again: not settled by an older catch-up"
        );
        o.answered();
        assert!(o.owes_catch_up());
        o.settle();
        assert!(*o.settled.borrow() && !o.owes_catch_up());
    }
}
