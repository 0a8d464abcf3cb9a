//! The HTTP side: `/health` and `/ready` (also merged into the appservice listener) and
//! `/metrics`, served with them on `metrics.listen` when `metrics.enabled`.

use std::net::SocketAddr;

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::task::JoinHandle;

use super::ready::Ready;
use crate::config::MetricsConfig;
use crate::metrics::{CONTENT_TYPE, encode};

/// `/health` alone, for an appservice listener without readiness checks.
pub fn health_route<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/health", get(health))
}

/// `/health` and `/ready`, for the appservice listener. They need no token: orchestrators'
/// probes have none, and they reveal nothing but "ok" and which check failed.
pub fn probe_routes<S: Clone + Send + Sync + 'static>(ready: Ready) -> Router<S> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready_handler))
        .with_state(ready)
}

/// `/metrics`, `/health` and `/ready`, for the metrics listener.
pub fn metrics_routes(ready: Ready) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .merge(probe_routes(ready))
}

/// Liveness: the process runs and its HTTP server answers.
async fn health() -> &'static str {
    "ok"
}

/// Readiness: 200 when every check passes, else 503; the JSON body names each check's result.
async fn ready_handler(State(ready): State<Ready>) -> Response {
    let report = ready.report().await;
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

async fn metrics() -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], encode()).into_response()
}

/// Why the metrics listener could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {source}")]
pub struct ServeError {
    pub addr: String,
    #[source]
    pub source: std::io::Error,
}

/// The running metrics listener; stopped when dropped (or by [`MetricsServer::stop`]).
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Where it listens (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// The serving task.
    pub fn handle(&self) -> &JoinHandle<()> {
        &self.task
    }
    /// Stops serving.
    pub fn stop(self) {}
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the metrics listener on `config.listen` when `config.enabled`; `Ok(None)` when
/// disabled. Keep the returned value for as long as it should serve.
pub async fn serve(
    config: &MetricsConfig,
    ready: Ready,
) -> Result<Option<MetricsServer>, ServeError> {
    if !config.enabled {
        return Ok(None);
    }
    let error = |source| ServeError {
        addr: config.listen.clone(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(error)?;
    let addr = listener.local_addr().map_err(error)?;
    let app = metrics_routes(ready);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    });
    tracing::info!(address = %addr, "metrics listening");
    Ok(Some(MetricsServer { addr, task }))
}
