//! Readiness: may this bridge take traffic now? Three checks: the homeserver answers, the
//! database answers, the network side is connected. The first two cost a request each, so their
//! result is cached for [`CACHE_TTL`]; the network check is asked every time (it reads memory).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::matrix::MatrixClient;
use crate::store::Store;

/// How long a homeserver/database check result is reused: probes hitting `/ready` every second
/// cost the homeserver one request per this period.
pub const CACHE_TTL: Duration = Duration::from_secs(3);

/// Longest a single check may take before it counts as failed (a probe must answer promptly).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// HOOK for the network side of readiness. The core asks it on every `/ready`; it must answer
/// from memory (no I/O). `Err` carries a short reason shown in the `/ready` body, e.g. "2 of 3
/// logins disconnected". Set it with [`Ready::set_network`]; until then the network counts as
/// ready ([`AlwaysReady`]).
pub trait Readiness: Send + Sync + 'static {
    /// Whether the network is connected enough to bridge.
    fn network_ready(&self) -> Result<(), String>;
}

/// The default network readiness: always ready.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysReady;

impl Readiness for AlwaysReady {
    fn network_ready(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A closure is a readiness source too.
impl<F: Fn() -> Result<(), String> + Send + Sync + 'static> Readiness for F {
    fn network_ready(&self) -> Result<(), String> {
        self()
    }
}

/// One readiness check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Homeserver,
    Database,
    Network,
}

/// The answer to `/ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub ready: bool,
    /// The checks that failed, in the order homeserver, database, network.
    pub failed: Vec<Check>,
    /// Each check's result: `"ok"` or why it failed.
    pub checks: Checks,
}

/// Each check's result text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checks {
    pub homeserver: String,
    pub database: String,
    pub network: String,
}

/// The readiness checks of one bridge; cheap to clone.
#[derive(Clone)]
pub struct Ready {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("homeserver", &self.inner.matrix.homeserver().as_str())
            .finish_non_exhaustive()
    }
}

struct Inner {
    matrix: MatrixClient,
    store: Store,
    network: RwLock<Arc<dyn Readiness>>,
    /// The last homeserver and database results; the async lock makes concurrent probes share
    /// one round of checks instead of each sending its own.
    cached: tokio::sync::Mutex<Option<(Instant, Cached)>>,
}

#[derive(Clone)]
struct Cached {
    homeserver: Result<(), String>,
    database: Result<(), String>,
}

impl Ready {
    /// Checks over `matrix` and `store`; the network counts as ready until [`Ready::set_network`].
    pub fn new(matrix: MatrixClient, store: Store) -> Self {
        Self {
            inner: Arc::new(Inner {
                matrix,
                store,
                network: RwLock::new(Arc::new(AlwaysReady)),
                cached: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Plugs in the network's readiness (see [`Readiness`]); replaces the previous one.
    pub fn set_network(&self, network: Arc<dyn Readiness>) {
        *self
            .inner
            .network
            .write()
            .unwrap_or_else(|p| p.into_inner()) = network;
    }

    /// Runs (or reuses) the checks.
    pub async fn report(&self) -> Report {
        let cached = self.cached_checks().await;
        let network = self
            .inner
            .network
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .network_ready();
        let mut failed = Vec::new();
        let mut text = |check: Check, result: Result<(), String>| match result {
            Ok(()) => "ok".to_owned(),
            Err(e) => {
                failed.push(check);
                e
            }
        };
        let checks = Checks {
            homeserver: text(Check::Homeserver, cached.homeserver),
            database: text(Check::Database, cached.database),
            network: text(Check::Network, network),
        };
        Report {
            ready: failed.is_empty(),
            failed,
            checks,
        }
    }

    async fn cached_checks(&self) -> Cached {
        let mut slot = self.inner.cached.lock().await;
        if let Some((at, cached)) = slot.as_ref()
            && at.elapsed() < CACHE_TTL
        {
            return cached.clone();
        }
        let (homeserver, database) = tokio::join!(self.homeserver(), self.database());
        let fresh = Cached {
            homeserver,
            database,
        };
        *slot = Some((Instant::now(), fresh.clone()));
        fresh
    }

    async fn homeserver(&self) -> Result<(), String> {
        match tokio::time::timeout(CHECK_TIMEOUT, self.inner.matrix.probe()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "homeserver did not answer within {CHECK_TIMEOUT:?}"
            )),
        }
    }

    async fn database(&self) -> Result<(), String> {
        match tokio::time::timeout(CHECK_TIMEOUT, self.inner.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("database did not answer within {CHECK_TIMEOUT:?}")),
        }
    }
}
/// `/ready` asks whether the bridge's own connections (IRC bot, XMPP component) are up.
impl Readiness for crate::connections::ConnectionStates {
    fn network_ready(&self) -> Result<(), String> {
        let problems = self.own_problems();
        if problems.is_empty() {
            return Ok(());
        }
        Err(problems
            .iter()
            .map(|(login, state)| {
                let which = if login.is_empty() { "network" } else { login };
                format!("{which}: {}", state.describe())
            })
            .collect::<Vec<_>>()
            .join("; "))
    }
}
