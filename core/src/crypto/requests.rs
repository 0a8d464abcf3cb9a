//! Sending what the OlmMachine asks for (key uploads and queries, one-time key claims, to-device
//! messages) as the bot's bridge device, and handing the answers back. The machine speaks
//! ruma 0.16: its requests become HTTP here with that ruma's own serializers and go out
//! through the one transport (and retry policy) of the core.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::LazyLock;

use matrix_sdk_crypto::types::requests::{AnyOutgoingRequest, OutgoingRequest, ToDeviceRequest};
use ruma16::api::{
    AppserviceUserIdentity, IncomingResponse, MatrixVersion, Metadata,
    OutgoingRequestAppserviceExt, SupportedVersions,
    auth_scheme::{AuthScheme, SendAccessToken},
    client::{keys::get_keys, to_device::send_event_to_device},
    path_builder::VersionHistory,
};
use ruma16::{DeviceId, TransactionId, UserId};

use super::{CryptoError, Machine};
use crate::matrix::MatrixClient;

static VERSIONS: LazyLock<SupportedVersions> = LazyLock::new(|| SupportedVersions {
    versions: BTreeSet::from([MatrixVersion::V1_11]),
    features: BTreeSet::new(),
});

/// Who the requests go out as: the bot and its bridge device.
pub(super) struct Sender<'a> {
    pub client: &'a MatrixClient,
    pub user: &'a UserId,
    pub device: &'a DeviceId,
}

impl Sender<'_> {
    /// Sends one ruma 0.16 request as the bot's device and parses the answer. (Boxed: the
    /// higher-ranked bound on the token type otherwise makes callers' futures lose `Send`.)
    pub(super) fn send<R>(
        &self,
        request: R,
    ) -> futures::future::BoxFuture<'_, Result<R::IncomingResponse, CryptoError>>
    where
        R: ruma16::api::OutgoingRequest + Metadata<PathBuilder = VersionHistory> + Send + 'static,
        for<'b> R::Authentication: AuthScheme<Input<'b> = SendAccessToken<'b>>,
    {
        let mut identity = AppserviceUserIdentity::default();
        identity.user_id = Some(self.user);
        identity.device_id = Some(self.device);
        let http_req = request
            .try_into_http_request_with_identity::<Vec<u8>>(
                self.client.homeserver().as_str(),
                SendAccessToken::Appservice(self.client.as_token()),
                identity,
                Cow::Borrowed(&*VERSIONS),
            )
            .map_err(|e| CryptoError::Request(format!("cannot build request: {e}")));
        Box::pin(async move {
            let resp = self.client.send_http(http_req?).await?;
            R::IncomingResponse::try_from_http_response(resp)
                .map_err(|e| CryptoError::Request(format!("unexpected response: {e}")))
        })
    }

    /// Sends one of the machine's requests and tells it the answer.
    pub(super) async fn fulfil(
        &self,
        machine: &Machine,
        request: &OutgoingRequest,
    ) -> Result<(), CryptoError> {
        let id = request.request_id();
        match request.request() {
            AnyOutgoingRequest::KeysUpload(r) => {
                let resp = self.send(r.clone()).await?;
                machine.mark_request_as_sent(id, &resp).await?;
            }
            AnyOutgoingRequest::KeysQuery(r) => {
                let mut req = get_keys::v3::Request::new();
                req.device_keys = r.device_keys.clone();
                req.timeout = r.timeout;
                let resp = self.send(req).await?;
                machine.mark_request_as_sent(id, &resp).await?;
            }
            AnyOutgoingRequest::KeysClaim(r) => {
                let resp = self.send(r.clone()).await?;
                machine.mark_request_as_sent(id, &resp).await?;
            }
            AnyOutgoingRequest::ToDeviceRequest(r) => {
                self.to_device(machine, id, r).await?;
            }
            AnyOutgoingRequest::SignatureUpload(r) => {
                let resp = self.send(r.clone()).await?;
                machine.mark_request_as_sent(id, &resp).await?;
            }
            // In-room verification: the bridge does not verify, nothing asks for this.
            AnyOutgoingRequest::RoomMessage(r) => {
                tracing::debug!(room = %r.room_id, "ignoring an in-room verification request");
            }
        }
        Ok(())
    }

    /// Sends one to-device request (room keys, key forwards) and marks it sent.
    pub(super) async fn to_device(
        &self,
        machine: &Machine,
        id: &TransactionId,
        r: &ToDeviceRequest,
    ) -> Result<(), CryptoError> {
        let req = send_event_to_device::v3::Request::new_raw(
            r.event_type.clone(),
            r.txn_id.clone(),
            r.messages.clone(),
        );
        let resp = self.send(req).await?;
        machine.mark_request_as_sent(id, &resp).await?;
        Ok(())
    }
}
