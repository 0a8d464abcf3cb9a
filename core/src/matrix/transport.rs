//! The single path every request takes to the homeserver: authentication, the retry policy,
//! and turning error bodies into [`MatrixError::Api`].

use std::{borrow::Cow, collections::BTreeSet, sync::LazyLock, time::Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use ruma::{
    DeviceId, UserId,
    api::{
        IncomingResponse, MatrixVersion, Metadata, OutgoingRequest, OutgoingRequestAppserviceExt,
        SupportedVersions,
        auth_scheme::{AuthScheme, SendAccessToken},
        path_builder::VersionHistory,
    },
};

use super::{
    MatrixClient, MatrixError, RetryPolicy,
    retry::{Decision, Outcome, classify, retry_after},
};
use crate::metrics::{HomeserverError, homeserver_request};

/// Time a streamed response (media) may take, body included.
const STREAMING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Longest error text kept from a non-JSON error body.
const MAX_ERROR_TEXT: usize = 300;

/// The Matrix versions we build paths for: the spec this client follows (v1.11+ gives the
/// authenticated media endpoints; everything else is on `/v3`).
static VERSIONS: LazyLock<SupportedVersions> = LazyLock::new(|| SupportedVersions {
    versions: BTreeSet::from([MatrixVersion::V1_11]),
    features: BTreeSet::new(),
});

/// A request ready to send, kept whole so that retries resend exactly the same bytes (and the
/// same transaction ID, which makes `PUT .../send/...` retries idempotent on the server).
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub method: Method,
    pub url: url::Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Outgoing {
    /// A request with no body.
    pub fn new(method: Method, url: url::Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// A request with a JSON body.
    pub fn json(method: Method, url: url::Url, body: &serde_json::Value) -> Self {
        let mut out = Self::new(method, url);
        out.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        out.body = Bytes::from(body.to_string());
        out
    }

    /// Adds the appservice identity assertion (`?user_id=`).
    pub fn asserting(mut self, user: Option<&UserId>) -> Self {
        if let Some(user) = user {
            self.url
                .query_pairs_mut()
                .append_pair("user_id", user.as_str());
        }
        self
    }
}

/// A successful response.
#[derive(Debug)]
pub(crate) struct Response {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, MatrixError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| MatrixError::Format(format!("response is not JSON: {e}")))
    }
}

/// A successful response, read whole or left for the caller to stream.
enum Reply {
    Buffered(Response),
    Streaming(reqwest::Response),
}

/// Builds a [`MatrixError::Api`] from an error response; non-JSON bodies become `M_UNKNOWN`
/// with the (truncated) text, so a proxy's HTML error page is still readable in logs.
pub(crate) fn api_error(status: u16, body: &[u8]) -> MatrixError {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        errcode: Option<String>,
        error: Option<String>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            errcode: Some(errcode),
            error,
        }) => MatrixError::Api {
            status,
            errcode,
            error: error.unwrap_or_default(),
        },
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let cut = text
                .char_indices()
                .nth(MAX_ERROR_TEXT)
                .map_or(text.len(), |(i, _)| i);
            MatrixError::Api {
                status,
                errcode: "M_UNKNOWN".to_owned(),
                error: text[..cut].to_owned(),
            }
        }
    }
}

impl MatrixClient {
    /// Sends a request with the appservice token, applying the one retry policy.
    pub(crate) async fn send(&self, req: Outgoing) -> Result<Response, MatrixError> {
        match self.send_with(req, false).await? {
            Reply::Buffered(resp) => Ok(resp),
            Reply::Streaming(resp) => {
                let headers = resp.headers().clone();
                let body = resp
                    .bytes()
                    .await
                    .map_err(|e| MatrixError::Transport(e.to_string()))?;
                Ok(Response { headers, body })
            }
        }
    }

    /// As [`send`](Self::send), but a successful response is handed back before its body is
    /// read, for the caller to stream (media). Error responses are read and retried as usual;
    /// a body that breaks off mid-stream is the caller's to report (it cannot be retried).
    pub(crate) async fn send_streaming(
        &self,
        req: Outgoing,
    ) -> Result<reqwest::Response, MatrixError> {
        match self.send_with(req, true).await? {
            Reply::Streaming(resp) => Ok(resp),
            Reply::Buffered(_) => Err(MatrixError::Format(
                "a streamed response was read whole".into(),
            )),
        }
    }

    async fn send_with(&self, req: Outgoing, streaming: bool) -> Result<Reply, MatrixError> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let sent = Instant::now();
            let mut builder = self
                .http
                .request(req.method.clone(), req.url.clone())
                .headers(req.headers.clone())
                .bearer_auth(&*self.as_token)
                .body(req.body.clone());
            if streaming {
                // The body is read as fast as the consumer takes it (a proxied download).
                builder = builder.timeout(STREAMING_TIMEOUT);
            }
            let result = builder.send().await;
            let (outcome, failure) = match result {
                Ok(resp) if streaming && resp.status().is_success() => {
                    self.outages().answered();
                    return Ok(Reply::Streaming(resp));
                }
                Ok(resp) => {
                    self.outages().answered();
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(body) => {
                            if (200..300).contains(&status) {
                                homeserver_request(sent.elapsed(), None);
                                return Ok(Reply::Buffered(Response { headers, body }));
                            }
                            let kind = HomeserverError::from_status(status);
                            homeserver_request(sent.elapsed(), Some(kind));
                            let wait = if status == 429 {
                                retry_after(&headers, &body)
                            } else {
                                None
                            };
                            (classify(status, wait), api_error(status, &body))
                        }
                        Err(e) => (Outcome::Transport, MatrixError::Transport(e.to_string())),
                    }
                }
                Err(e) => (Outcome::Transport, MatrixError::Transport(e.to_string())),
            };
            if outcome == Outcome::Transport {
                self.outages().unreachable();
                homeserver_request(sent.elapsed(), Some(HomeserverError::Transport));
            }
            let jitter: f64 = rand::random();
            match self
                .policy
                .decide(attempt, started.elapsed(), &outcome, jitter)
            {
                Decision::Retry(wait) => {
                    tracing::debug!(
                        method = %req.method, path = req.url.path(), attempt, ?outcome, ?wait,
                        "retrying homeserver request"
                    );
                    tokio::time::sleep(wait).await;
                }
                Decision::GiveUp => {
                    tracing::error!(
                        method = %req.method, path = req.url.path(), attempt,
                        elapsed = ?started.elapsed(), error = %failure,
                        "giving up on homeserver request"
                    );
                    return Err(failure);
                }
                Decision::Done => return Err(failure),
            }
        }
    }

    /// One `GET /_matrix/client/versions`, never retried: whether the homeserver answers now
    /// (readiness checks must report the present, not wait out the retry budget).
    pub async fn probe(&self) -> Result<(), MatrixError> {
        let url = self.url(&["_matrix", "client", "versions"])?;
        self.clone()
            .with_retry_policy(RetryPolicy::no_retry())
            .send(Outgoing::new(Method::GET, url))
            .await
            .map(|_| ())
    }

    /// Sends a ruma request (as `user`, when given) and parses its response.
    pub(crate) async fn send_ruma<R>(
        &self,
        request: R,
        user: Option<&UserId>,
    ) -> Result<R::IncomingResponse, MatrixError>
    where
        R: OutgoingRequest + Metadata<PathBuilder = VersionHistory>,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        self.send_ruma_device(request, user, None).await
    }

    /// As [`MatrixClient::send_ruma`], also naming the user's `device` (appservice device
    /// masquerading; see `devices`).
    pub(crate) async fn send_ruma_device<R>(
        &self,
        request: R,
        user: Option<&UserId>,
        device: Option<&DeviceId>,
    ) -> Result<R::IncomingResponse, MatrixError>
    where
        R: OutgoingRequest + Metadata<PathBuilder = VersionHistory>,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        let mut identity = ruma::api::AppserviceUserIdentity::default();
        identity.user_id = user;
        identity.device_id = device;
        let http_req = request
            .try_into_http_request_with_identity::<Vec<u8>>(
                self.homeserver.as_str(),
                SendAccessToken::Appservice(&self.as_token),
                identity,
                Cow::Borrowed(&*VERSIONS),
            )
            .map_err(|e| MatrixError::Format(e.to_string()))?;
        let (parts, body) = self.send_http(http_req).await?.into_parts();
        let http_resp = http::Response::from_parts(parts, body.as_ref());
        R::IncomingResponse::try_from_http_response_inner(http_resp)
            .map_err(|e| MatrixError::Format(format!("unexpected response: {e}")))
    }

    /// Sends a request some library built (ruma of another version, the crypto machine's),
    /// through the one retry policy; the appservice token replaces any it carries. Only
    /// successful responses come back: errors are [`MatrixError::Api`].
    pub(crate) async fn send_http(
        &self,
        http_req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Bytes>, MatrixError> {
        let (parts, body) = http_req.into_parts();
        let url = url::Url::parse(&parts.uri.to_string())
            .map_err(|e| MatrixError::Format(format!("bad request URL: {e}")))?;
        let mut headers = parts.headers;
        // `send` adds the token itself.
        headers.remove(header::AUTHORIZATION);
        let resp = self
            .send(Outgoing {
                method: parts.method,
                url,
                headers,
                body: Bytes::from(body),
            })
            .await?;
        let mut builder = http::Response::builder().status(200);
        if let Some(h) = builder.headers_mut() {
            *h = resp.headers;
        }
        builder
            .body(resp.body)
            .map_err(|e| MatrixError::Format(e.to_string()))
    }

    /// `{homeserver}/{segments...}` with each segment percent-encoded as one path segment.
    pub(crate) fn url(&self, segments: &[&str]) -> Result<url::Url, MatrixError> {
        join_segments(&self.homeserver, segments)
    }
}

/// `base` with `segments` appended, each percent-encoded as one path segment.
pub(crate) fn join_segments(base: &url::Url, segments: &[&str]) -> Result<url::Url, MatrixError> {
    let mut url = base.clone();
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| MatrixError::Format(format!("URL cannot be a base: {base}")))?;
        path.pop_if_empty();
        path.extend(segments);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_parses_matrix_json() {
        let e = api_error(403, br#"{"errcode":"M_FORBIDDEN","error":"nope"}"#);
        assert!(
            matches!(e, MatrixError::Api { status: 403, ref errcode, ref error }
            if errcode == "M_FORBIDDEN" && error == "nope")
        );
    }

    #[test]
    fn api_error_non_json_is_m_unknown_truncated() {
        let body = "<html>".repeat(200);
        let e = api_error(502, body.as_bytes());
        let MatrixError::Api {
            status,
            errcode,
            error,
        } = e
        else {
            panic!("expected Api");
        };
        assert_eq!((status, errcode.as_str()), (502, "M_UNKNOWN"));
        assert_eq!(error.chars().count(), MAX_ERROR_TEXT);
    }

    #[test]
    fn api_error_json_without_errcode_is_m_unknown() {
        let e = api_error(500, br#"{"oops":1}"#);
        assert_eq!(e.errcode(), Some("M_UNKNOWN"));
    }
}
