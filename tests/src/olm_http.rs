//! An OlmMachine's requests over HTTP, for the harness's encrypting clients (test users, and
//! the benchmark's client against the stand-in homeserver): the machine speaks ruma 0.16, so its
//! requests are serialized with that ruma and sent with reqwest.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::LazyLock;

use anyhow::{Context, Result, anyhow};
use matrix_sdk_crypto::OlmMachine;
use matrix_sdk_crypto::types::requests::{AnyOutgoingRequest, ToDeviceRequest};
use ruma16::api::{
    IncomingResponse, MatrixVersion, Metadata, OutgoingRequest, SupportedVersions,
    auth_scheme::{AuthScheme, SendAccessToken},
    client::{keys::get_keys, to_device::send_event_to_device},
    path_builder::VersionHistory,
};

static VERSIONS: LazyLock<SupportedVersions> = LazyLock::new(|| SupportedVersions {
    versions: BTreeSet::from([MatrixVersion::V1_11]),
    features: BTreeSet::new(),
});

/// Where and as whom the requests go.
#[derive(Clone)]
pub struct Endpoint {
    pub http: reqwest::Client,
    /// Homeserver base URL without a trailing `/`.
    pub base: String,
    pub token: String,
    /// Extra query parameters on every request (appservice `user_id`/`device_id`).
    pub query: Vec<(String, String)>,
}

/// Sends one request and parses its answer.
pub async fn send<R>(to: &Endpoint, request: R) -> Result<R::IncomingResponse>
where
    R: OutgoingRequest + Metadata<PathBuilder = VersionHistory>,
    for<'b> R::Authentication: AuthScheme<Input<'b> = SendAccessToken<'b>>,
{
    let http_req = request
        .try_into_http_request::<Vec<u8>>(
            &to.base,
            SendAccessToken::Always(&to.token),
            Cow::Borrowed(&*VERSIONS),
        )
        .map_err(|e| anyhow!("building request: {e}"))?;
    let (parts, body) = http_req.into_parts();
    let what = format!("{} {}", parts.method, parts.uri.path());
    let mut url = url::Url::parse(&parts.uri.to_string())?;
    for (k, v) in &to.query {
        url.query_pairs_mut().append_pair(k, v);
    }
    let resp = to
        .http
        .request(parts.method, url)
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .with_context(|| what.clone())?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    if !status.is_success() {
        anyhow::bail!("{what}: HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    }
    let http_resp = http::Response::builder()
        .status(status)
        .body(bytes.to_vec())?;
    R::IncomingResponse::try_from_http_response(http_resp)
        .map_err(|e| anyhow!("{what}: unexpected response: {e}"))
}

/// Sends a to-device request and marks it sent.
pub async fn to_device(
    machine: &OlmMachine,
    to: &Endpoint,
    id: &ruma16::TransactionId,
    r: &ToDeviceRequest,
) -> Result<()> {
    let req = send_event_to_device::v3::Request::new_raw(
        r.event_type.clone(),
        r.txn_id.clone(),
        r.messages.clone(),
    );
    let resp = send(to, req).await?;
    machine.mark_request_as_sent(id, &resp).await?;
    Ok(())
}

/// Sends what the machine asks for until it asks for nothing.
pub async fn pump(machine: &OlmMachine, to: &Endpoint) -> Result<()> {
    for _ in 0..8 {
        let requests = machine.outgoing_requests().await?;
        if requests.is_empty() {
            break;
        }
        for r in requests {
            let id = r.request_id();
            match r.request() {
                AnyOutgoingRequest::KeysUpload(req) => {
                    let resp = send(to, req.clone()).await?;
                    machine.mark_request_as_sent(id, &resp).await?;
                }
                AnyOutgoingRequest::KeysQuery(req) => {
                    let mut q = get_keys::v3::Request::new();
                    q.device_keys = req.device_keys.clone();
                    let resp = send(to, q).await?;
                    machine.mark_request_as_sent(id, &resp).await?;
                }
                AnyOutgoingRequest::KeysClaim(req) => {
                    let resp = send(to, req.clone()).await?;
                    machine.mark_request_as_sent(id, &resp).await?;
                }
                AnyOutgoingRequest::ToDeviceRequest(req) => to_device(machine, to, id, req).await?,
                AnyOutgoingRequest::SignatureUpload(req) => {
                    let resp = send(to, req.clone()).await?;
                    machine.mark_request_as_sent(id, &resp).await?;
                }
                AnyOutgoingRequest::RoomMessage(_) => {}
            }
        }
    }
    Ok(())
}
