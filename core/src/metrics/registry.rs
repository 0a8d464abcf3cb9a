//! The metric families, registered once per process, and the text exposition.

use std::sync::LazyLock;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::labels::{
    ConnectionLabels, DbLabels, ErrorLabels, EventLabels, FailureLabels, HomeserverError,
    TransactionLabels, TransactionOutcome,
};

/// `Content-Type` of [`encode`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the bridge. One per process (see [`super`] for why that is enough).
pub(super) struct Metrics {
    registry: Registry,
    pub transactions: Family<TransactionLabels, Counter>,
    pub events: Family<EventLabels, Counter>,
    pub failures: Family<FailureLabels, Counter>,
    pub queue_depth: Gauge,
    pub connections: Family<ConnectionLabels, Gauge>,
    pub homeserver_latency: Histogram,
    pub homeserver_errors: Family<ErrorLabels, Counter>,
    pub db_latency: HistogramFamily<DbLabels>,
    pub undecryptable: Counter,
    pub backfilled: Counter,
}

/// 1 ms to ~33 s: a homeserver request is a LAN round trip or a slow media upload.
fn homeserver_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// 50 µs to ~1.6 s: a local SQLite read up to a slow synchronous commit on PostgreSQL.
fn db_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process-wide metrics.
pub(super) fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("ferrybridge");
        let m = Self {
            registry: Registry::default(),
            transactions: Family::default(),
            events: Family::default(),
            failures: Family::default(),
            queue_depth: Gauge::default(),
            connections: Family::default(),
            homeserver_latency: homeserver_buckets(),
            homeserver_errors: Family::default(),
            db_latency: Family::new_with_constructor(db_buckets),
            undecryptable: Counter::default(),
            backfilled: Counter::default(),
        };
        // Series with fixed label values exist from the start, so a scrape shows 0 rather than
        // nothing (a missing series breaks rate() and alerts).
        for outcome in TransactionOutcome::ALL {
            let _ = m.transactions.get_or_create(&TransactionLabels { outcome });
        }
        for kind in HomeserverError::ALL {
            let _ = m.homeserver_errors.get_or_create(&ErrorLabels { kind });
        }
        registry.register(
            "transactions",
            "Transactions pushed by the homeserver, by outcome",
            m.transactions.clone(),
        );
        registry.register(
            "events",
            "Events bridged, by network and direction",
            m.events.clone(),
        );
        registry.register(
            "delivery_failures",
            "Events that could not be bridged, by network and reason",
            m.failures.clone(),
        );
        registry.register(
            "backfilled_events",
            "History events posted to portals (on creation and catch-up)",
            m.backfilled.clone(),
        );
        registry.register(
            "portal_queue_depth",
            "Jobs waiting in the portal queues (both directions)",
            m.queue_depth.clone(),
        );
        registry.register(
            "remote_connections",
            "Remote connections (logins) by network and state",
            m.connections.clone(),
        );
        registry.register_with_unit(
            "homeserver_request_duration",
            "Duration of each HTTP exchange with the homeserver (retries count separately)",
            Unit::Seconds,
            m.homeserver_latency.clone(),
        );
        registry.register(
            "homeserver_request_errors",
            "Failed HTTP exchanges with the homeserver, by kind",
            m.homeserver_errors.clone(),
        );
        registry.register_with_unit(
            "db_query_duration",
            "Duration of each store call, by operation",
            Unit::Seconds,
            m.db_latency.clone(),
        );
        registry.register(
            "undecryptable_events",
            "Encrypted events the bridge could not decrypt (their senders got a notice)",
            m.undecryptable.clone(),
        );
        Self { registry, ..m }
    }
}

/// The current values of every metric in the Prometheus text format.
pub fn encode() -> String {
    let mut text = String::with_capacity(8 * 1024);
    // Writing into a String cannot fail, and every label value is a plain &str.
    if let Err(e) = prometheus_text::encode(&mut text, &get().registry) {
        tracing::error!(error = %e, "could not encode metrics");
    }
    text
}
