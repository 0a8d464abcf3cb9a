//! `POST /_matrix/app/v1/ping`: the homeserver checks it can reach us (a client asked it to
//! via `/_matrix/client/v1/appservice/{id}/ping`); authenticated like every request.

use axum::{Json, body::Bytes, extract::rejection::BytesRejection};
use serde::Deserialize;

use super::errors::MatrixError;

#[derive(Deserialize)]
struct PingBody {
    /// Echo of the client's transaction ID, for correlating logs.
    #[serde(default)]
    transaction_id: Option<String>,
}

pub(crate) async fn ping(
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, MatrixError> {
    let body = body.map_err(super::errors::body_error)?;
    let transaction_id = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let parsed: PingBody = serde_json::from_slice(&body).map_err(|err| {
            let message = format!("ping body must be a JSON object: {err}");
            if err.is_syntax() || err.is_eof() {
                MatrixError::not_json(message)
            } else {
                MatrixError::bad_json(message)
            }
        })?;
        parsed.transaction_id
    };
    tracing::info!(
        transaction_id = transaction_id.as_deref().unwrap_or(""),
        "pinged by the homeserver"
    );
    Ok(Json(serde_json::json!({})))
}
