//! The HTTP API the homeserver calls (Matrix Application Service API): auth, transactions,
//! user and alias queries, ping; on `/_matrix/app/v1/...` and the legacy unprefixed paths.
//!
//! CONTRACT (skeleton by the integrator; the appservice owner fills in, keeping these names):
//! a transaction is acknowledged only after [`Store::record_transaction`] committed its events,
//! then each new event is handed to [`AppserviceHandler::dispatch`] in order.
//!
//! [`AppserviceState`] is generic over a [`TransactionLog`] (the one store call this layer
//! makes), defaulting to [`Store`], so the HTTP layer is tested with an in-memory log.
//!
//! Every response to a failure is Matrix-style JSON ([`errors::MatrixError`]): 401/403 for
//! auth, 400 for bad IDs or bodies, 413 over [`MAX_BODY_BYTES`], 404/405 `M_UNRECOGNIZED` for
//! unknown paths and methods, 500 when the store fails (the homeserver then retries).

use std::{future::Future, sync::Arc};

use async_trait::async_trait;
use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, post, put},
};
use ruma::{RoomAliasId, UserId};

use crate::store::{InboxEvent, Store, StoreError, TxnOutcome};

mod auth;
pub mod device_data;
pub mod errors;
mod ping;
mod queries;
mod sequence;
mod span;
#[cfg(test)]
mod tests;
mod transactions;

pub(crate) use auth::tokens_match;
pub use device_data::DeviceData;
pub use errors::MatrixError;
pub use span::REQUEST_ID_HEADER;

/// Largest request body accepted (Synapse batches at most 100 PDUs and 100 EDUs per
/// transaction; 16 MiB leaves room for large events while bounding memory).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What the core does with what the homeserver sends.
#[async_trait]
pub trait AppserviceHandler: Send + Sync + 'static {
    /// Whether the bridge has room for these events (raw JSON, before they are recorded).
    /// `Err` answers the transaction with 503 so the homeserver sends it again later.
    fn admit(&self, _events: &[String]) -> Result<(), Busy> {
        Ok(())
    }
    /// A durably recorded event; must only enqueue (the handler finishes the inbox row).
    async fn dispatch(&self, event: InboxEvent);
    /// A transaction arrived: the homeserver is up, whatever the bridge's own requests saw.
    fn heard_from_homeserver(&self) {}
    /// The transaction's encryption fields, before its events are recorded: room keys must be
    /// known before the events they decrypt. `Err` answers the transaction with 500, so the
    /// homeserver sends it again (the machine ignores a to-device message it already saw).
    async fn device_data(&self, _data: DeviceData) -> Result<(), String> {
        Ok(())
    }
    /// Whether a user in our namespace exists (creating the ghost if it should).
    async fn query_user(&self, user: &UserId) -> bool;
    /// Whether an alias in our namespace exists (creating the portal if it should).
    async fn query_alias(&self, alias: &RoomAliasId) -> bool;
}

/// The bridge's queues are full; the reason is logged and returned to the homeserver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Busy(pub String);

/// The one store operation the HTTP layer needs: durably record a transaction's events.
/// A seam so the API can be tested without a database.
#[async_trait]
pub trait TransactionLog: Send + Sync + 'static {
    /// See [`Store::record_transaction`].
    async fn record_transaction(
        &self,
        txn_id: &str,
        events: &[String],
    ) -> Result<TxnOutcome, StoreError>;
}

/// Lets a caller keep a handle on the log it hands to the router (tests do).
#[async_trait]
impl<T: TransactionLog + ?Sized> TransactionLog for Arc<T> {
    async fn record_transaction(
        &self,
        txn_id: &str,
        events: &[String],
    ) -> Result<TxnOutcome, StoreError> {
        T::record_transaction(self, txn_id, events).await
    }
}

#[async_trait]
impl TransactionLog for Store {
    async fn record_transaction(
        &self,
        txn_id: &str,
        events: &[String],
    ) -> Result<TxnOutcome, StoreError> {
        Store::record_transaction(self, txn_id, events).await
    }
}

/// Shared state of the HTTP handlers.
///
/// Generic over the transaction log so tests can use an in-memory one; production uses the
/// default, [`Store`], e.g. `AppserviceState { hs_token, store: store.clone(), handler }`.
#[derive(Clone)]
pub struct AppserviceState<L = Store> {
    /// The token the homeserver must present.
    pub hs_token: Arc<str>,
    /// Where transactions are recorded before they are acknowledged.
    pub store: L,
    pub handler: Arc<dyn AppserviceHandler>,
}

impl<L: TransactionLog> AppserviceState<L> {
    pub fn new(
        hs_token: impl Into<Arc<str>>,
        store: L,
        handler: Arc<dyn AppserviceHandler>,
    ) -> Self {
        Self {
            hs_token: hs_token.into(),
            store,
            handler,
        }
    }
}

/// Behaviour switches of the router beyond its state.
#[derive(Clone, Debug, Default)]
pub struct RouterOptions {
    /// Also record and dispatch ephemeral events (typing, receipts, presence; MSC2409, sent
    /// when the registration sets `receive_ephemeral`), after the transaction's timeline
    /// events, as their raw JSON (they have no `event_id`). Off by default: they are ignored.
    pub record_ephemeral: bool,
    /// Serve `/health` and `/ready` (no token needed) with these readiness checks; `/health`
    /// alone is served without them.
    pub ready: Option<crate::operations::Ready>,
}

/// What the handlers share, type-erased so they need no generics.
#[derive(Clone)]
pub(crate) struct ApiState {
    hs_token: Arc<str>,
    store: Arc<dyn TransactionLog>,
    handler: Arc<dyn AppserviceHandler>,
    record_ephemeral: bool,
    /// Notices transactions a homeserver left behind (see `sequence`).
    sequence: Arc<sequence::Sequence>,
}

/// The axum router for the appservice API, with default [`RouterOptions`].
pub fn router<L: TransactionLog>(state: AppserviceState<L>) -> Router {
    router_with(state, RouterOptions::default())
}

/// The axum router for the appservice API.
pub fn router_with<L: TransactionLog>(state: AppserviceState<L>, options: RouterOptions) -> Router {
    let state = ApiState {
        hs_token: state.hs_token,
        store: Arc::new(state.store),
        handler: state.handler,
        record_ephemeral: options.record_ephemeral,
        sequence: Default::default(),
    };
    Router::new()
        .route(
            "/_matrix/app/v1/transactions/{txn_id}",
            put(transactions::put_transaction),
        )
        .route("/_matrix/app/v1/users/{user_id}", get(queries::query_user))
        .route(
            "/_matrix/app/v1/rooms/{room_alias}",
            get(queries::query_alias),
        )
        .route("/_matrix/app/v1/ping", post(ping::ping))
        // Legacy unprefixed paths (pre-r0 homeservers).
        .route("/transactions/{txn_id}", put(transactions::put_transaction))
        .route("/users/{user_id}", get(queries::query_user))
        .route("/rooms/{room_alias}", get(queries::query_alias))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_hs_token,
        ))
        // Added after the token layer: probes carry no token.
        .merge(match options.ready {
            Some(ready) => crate::operations::probe_routes(ready),
            None => crate::operations::health_route(),
        })
        .fallback(errors::unrecognized_path)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(span::with_request_span))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish (so a transaction being recorded is either acknowledged or retried, never half-done).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
