//! One tracing span per request, carrying a generated request ID (also returned in the
//! `X-Request-Id` header) and, for transactions, the transaction ID, so every log line about a
//! request can be found together.

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

/// The response header with the request ID, for matching a homeserver's log with ours.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Middleware: runs the rest of the stack inside the request's span.
pub(crate) async fn with_request_span(request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    // Only the path: the query may hold the legacy `access_token`.
    let span = tracing::info_span!(
        "appservice_request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
        txn_id = tracing::field::Empty,
    );
    async move {
        let mut response = next.run(request).await;
        tracing::debug!(status = response.status().as_u16(), "responded");
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    }
    .instrument(span)
    .await
}
