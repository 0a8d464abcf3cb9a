//! The HTTP API the homeserver calls (Matrix Application Service API): auth, transactions,
//! user and alias queries, ping; on `/_matrix/app/v1/...` and the legacy unprefixed paths.
//!
//! CONTRACT (skeleton by the integrator; the appservice owner fills in, keeping these names):
//! a transaction is acknowledged only after [`Store::record_transaction`] committed its events,
//! then each new event is handed to [`AppserviceHandler::dispatch`] in order.

use std::sync::Arc;

use async_trait::async_trait;
use ruma::{RoomAliasId, UserId};

use crate::store::{InboxEvent, Store};

/// What the core does with what the homeserver sends.
#[async_trait]
pub trait AppserviceHandler: Send + Sync + 'static {
    /// A durably recorded event; must only enqueue (the handler finishes the inbox row).
    async fn dispatch(&self, event: InboxEvent);
    /// Whether a user in our namespace exists (creating the ghost if it should).
    async fn query_user(&self, user: &UserId) -> bool;
    /// Whether an alias in our namespace exists (creating the portal if it should).
    async fn query_alias(&self, alias: &RoomAliasId) -> bool;
}

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppserviceState {
    pub hs_token: Arc<str>,
    pub store: Store,
    pub handler: Arc<dyn AppserviceHandler>,
}

/// The axum router for the appservice API.
pub fn router(state: AppserviceState) -> axum::Router {
    let _ = state;
    todo!()
}
