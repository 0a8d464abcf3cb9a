//! Prometheus metrics: what the core counts and times. A leaf (the store and the Matrix client
//! record into it); the endpoints that serve it, with `/health` and `/ready`, live in
//! [`crate::operations`].
//!
//! Files: `labels` (the closed label sets), `registry` (the families and the text exposition),
//! `record` (what the core calls to count and time).
//!
//! The metrics are one process-wide set (a `LazyLock`), because one process runs one bridge;
//! recording needs no handle passed around. In-process tests that run several bridges share it,
//! so they must assert on differences or on labels of their own, not on absolute values.
//!
//! Hooks for the connection lifecycle (filled in by whoever tracks per-login connection
//! state): [`set_connections`] / [`connection_changed`] feed `ferrybridge_remote_connections`,
//! and `operations::Ready::set_network` plugs a `Readiness` into `/ready`'s network check.

mod labels;
mod record;
mod registry;
#[cfg(test)]
mod tests;

pub use labels::{ConnectionLabel, Direction, FailureReason, HomeserverError, TransactionOutcome};
pub use record::{
    DbTimer, backfilled, connection_changed, db_timer, delivery_failed, event_bridged,
    homeserver_request, portal_queue_depth, set_connections, transaction, undecryptable,
};
pub use registry::{CONTENT_TYPE, encode};
