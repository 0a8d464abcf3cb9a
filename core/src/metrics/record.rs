//! What the rest of the core calls to record: one function per fact, each an atomic update of
//! a series found by a fixed-size label set (no allocation).

use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;

use super::labels::{
    ConnectionLabel, ConnectionLabels, DbLabels, Direction, ErrorLabels, EventLabels,
    FailureLabels, FailureReason, HomeserverError, TransactionLabels, TransactionOutcome,
};
use super::registry::get;

/// Counts a transaction the homeserver pushed.
pub fn transaction(outcome: TransactionOutcome) {
    get()
        .transactions
        .get_or_create(&TransactionLabels { outcome })
        .inc();
}

/// Counts an event bridged for `network` (its [`crate::NetworkInfo::id`]).
pub fn event_bridged(network: &'static str, direction: Direction) {
    get()
        .events
        .get_or_create(&EventLabels { network, direction })
        .inc();
}

/// Counts an event that could not be bridged.
pub fn delivery_failed(network: &'static str, reason: FailureReason) {
    get()
        .failures
        .get_or_create(&FailureLabels { network, reason })
        .inc();
}

/// Counts history events posted by a backfill.
pub fn backfilled(count: usize) {
    get().backfilled.inc_by(count as u64);
}

/// Counts an encrypted event that could not be decrypted.
pub fn undecryptable() {
    get().undecryptable.inc();
}

/// The gauge of jobs waiting in portal queues; the queues keep it current themselves.
pub fn portal_queue_depth() -> Gauge {
    get().queue_depth.clone()
}

/// Records one HTTP exchange with the homeserver: its duration, and how it failed if it did.
pub fn homeserver_request(elapsed: Duration, error: Option<HomeserverError>) {
    let m = get();
    m.homeserver_latency.observe(elapsed.as_secs_f64());
    if let Some(kind) = error {
        m.homeserver_errors
            .get_or_create(&ErrorLabels { kind })
            .inc();
    }
}

/// Times one store call: the duration is recorded under `op` when the guard drops, so it
/// covers the whole call, early returns and errors included.
pub fn db_timer(op: &'static str) -> DbTimer {
    DbTimer {
        op,
        started: Instant::now(),
    }
}

/// See [`db_timer`].
#[must_use = "the call is timed until the guard drops"]
pub struct DbTimer {
    op: &'static str,
    started: Instant,
}

impl Drop for DbTimer {
    fn drop(&mut self) {
        get()
            .db_latency
            .get_or_create(&DbLabels { op: self.op })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// Remote connections by state, for `ferrybridge_remote_connections{network,state}`.
///
/// HOOK for the per-login connection state: whoever tracks the state of each login calls
/// [`set_connections`] with the current counts per state label (e.g. straight from a map of
/// label → count after each change), or [`connection_changed`] on every transition of one
/// connection. States missing from `counts` are set to 0; unknown labels are ignored.
pub fn set_connections<'a>(
    network: &'static str,
    counts: impl IntoIterator<Item = (&'a str, usize)>,
) {
    let mut values = [0i64; ConnectionLabel::ALL.len()];
    for (label, count) in counts {
        match ConnectionLabel::ALL
            .iter()
            .position(|s| s.as_str() == label)
        {
            Some(i) => values[i] += i64::try_from(count).unwrap_or(i64::MAX),
            None => tracing::debug!(label, "unknown connection state label"),
        }
    }
    let family = &get().connections;
    for (state, value) in ConnectionLabel::ALL.into_iter().zip(values) {
        family
            .get_or_create(&ConnectionLabels { network, state })
            .set(value);
    }
}

/// One connection of `network` moved from `from` to `to` (`None`: it did not exist before, or
/// is gone now, e.g. a new login or a deleted one). A repeated state is no change.
pub fn connection_changed(
    network: &'static str,
    from: Option<ConnectionLabel>,
    to: Option<ConnectionLabel>,
) {
    if from == to {
        return;
    }
    let family = &get().connections;
    // Every state of the network is exported once it reports anything.
    for state in ConnectionLabel::ALL {
        let _ = family.get_or_create(&ConnectionLabels { network, state });
    }
    if let Some(state) = from {
        family
            .get_or_create(&ConnectionLabels { network, state })
            .dec();
    }
    if let Some(state) = to {
        family
            .get_or_create(&ConnectionLabels { network, state })
            .inc();
    }
}
