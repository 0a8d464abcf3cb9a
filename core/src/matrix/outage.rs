//! Homeserver outages as the client sees them: a request that could not reach the homeserver
//! marks it down; the next answer marks it back and bumps a counter others can wait on. The
//! router's catch-up listens to it, because a homeserver that stopped may have dropped events
//! it had accepted but not yet pushed to us (Synapse queues appservice pushes in memory).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::MatrixClient;

/// Shared by every clone of a [`MatrixClient`].
#[derive(Clone)]
pub(crate) struct Outages {
    down: Arc<AtomicBool>,
    /// When the last outage began (milliseconds since the epoch), for the catch-up's reach.
    down_since_ms: Arc<AtomicU64>,
    recovered: Arc<watch::Sender<u64>>,
}

impl Default for Outages {
    fn default() -> Self {
        Self {
            down: Arc::default(),
            down_since_ms: Arc::default(),
            recovered: Arc::new(watch::channel(0).0),
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
}
