//! `GET /users/{userId}` and `GET /rooms/{roomAlias}`: the homeserver asks whether an ID in
//! our namespace exists, giving the bridge the chance to create the ghost or portal first.
//!
//! Path parameters arrive percent-encoded (`%23_irc_%23test%3Alocalhost`); axum decodes them
//! and ruma validates them, so handlers only ever see well-formed IDs.

use axum::{
    Json,
    extract::{Path, State, rejection::PathRejection},
};
use ruma::{RoomAliasId, UserId};

use super::{ApiState, errors::MatrixError};

pub(crate) async fn query_user(
    State(state): State<ApiState>,
    user_id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, MatrixError> {
    let raw = decoded(user_id, "user ID")?;
    let user = UserId::parse(&raw)
        .map_err(|err| MatrixError::invalid_param(format!("invalid user ID {raw:?}: {err}")))?;
    if state.handler.query_user(&user).await {
        tracing::info!(%user, "user query: exists");
        Ok(Json(serde_json::json!({})))
    } else {
        tracing::info!(%user, "user query: not found");
        Err(MatrixError::not_found(format!("no such user: {user}")))
    }
}

pub(crate) async fn query_alias(
    State(state): State<ApiState>,
    alias: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, MatrixError> {
    let raw = decoded(alias, "room alias")?;
    let alias = RoomAliasId::parse(&raw)
        .map_err(|err| MatrixError::invalid_param(format!("invalid room alias {raw:?}: {err}")))?;
    if state.handler.query_alias(&alias).await {
        tracing::info!(%alias, "alias query: exists");
        Ok(Json(serde_json::json!({})))
    } else {
        tracing::info!(%alias, "alias query: not found");
        Err(MatrixError::not_found(format!(
            "no such room alias: {alias}"
        )))
    }
}

fn decoded(param: Result<Path<String>, PathRejection>, what: &str) -> Result<String, MatrixError> {
    let result = param
        .map(|Path(raw)| raw)
        .map_err(|err| MatrixError::invalid_param(format!("invalid {what} in path: {err}")));
    if let Err(err) = &result {
        tracing::warn!("query rejected: {}", err.message);
    }
    result
}
