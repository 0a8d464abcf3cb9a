//! Operations: Prometheus metrics, liveness (`/health`) and readiness (`/ready`).
//!
//! Files: `labels` (the closed label sets), `registry` (the families and the text exposition),
//! `record` (what the core calls to count and time), `ready` (readiness checks and the
//! network's hook), `http` (the endpoints and the metrics listener).
//!
//! The metrics are one process-wide set (a `LazyLock`), because one process runs one bridge;
//! recording needs no handle passed around. In-process tests that run several bridges share it,
//! so they must assert on differences or on labels of their own, not on absolute values.
//!
//! Hooks for the connection lifecycle (filled in by whoever tracks per-login connection
//! state): [`set_connections`] / [`connection_changed`] feed `ferrybridge_remote_connections`,
//! and [`Ready::set_network`] plugs a [`Readiness`] into `/ready`'s network check.

mod http;
mod labels;
mod ready;
mod record;
mod registry;
#[cfg(test)]
mod tests;

pub use http::{MetricsServer, ServeError, health_route, metrics_routes, probe_routes, serve};
pub use labels::{ConnectionLabel, Direction, FailureReason, HomeserverError, TransactionOutcome};
pub use ready::{AlwaysReady, CACHE_TTL, Check, Checks, Readiness, Ready, Report};
pub use record::{
    DbTimer, connection_changed, db_timer, delivery_failed, event_bridged, homeserver_request,
    portal_queue_depth, set_connections, transaction,
};
pub use registry::{CONTENT_TYPE, encode};
