//! Operations endpoints: Prometheus `/metrics` (from [`crate::metrics`]), liveness
//! (`/health`) and readiness (`/ready`: homeserver, database, the network's own connection),
//! on their own listener and on the appservice listener.
//!
//! Files: `ready` (the checks and the network's hook), `http` (the endpoints and the listener).

mod http;
mod ready;

pub use http::{MetricsServer, ServeError, health_route, metrics_routes, probe_routes, serve};
pub use ready::{AlwaysReady, CACHE_TTL, Check, Checks, Readiness, Ready, Report};
