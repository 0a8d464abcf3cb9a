//! An object-safe view of a network, so that portals, commands and the router can hold it
//! without being generic over it. Every [`crate::bridge::Bridge`] implements it (the blanket
//! impl lives beside the trait, so this module stays below it in the module graph).

use std::sync::Arc;

use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId};

use crate::events::{Delivered, DeliveryError, MatrixEvent, RemoteEventKind};
use crate::ids::{LoginSlot, PortalKey, RemoteUserId};
use crate::login::LoginProcess;
use crate::seam::{
    BackfillRequest, BridgeError, Capabilities, LoginInfo, NetworkInfo, Portal, PortalSpec,
};

/// The network as the core holds it.
pub type Network = Arc<dyn NetworkHandle>;

/// The object-safe part of [`crate::bridge::Bridge`]; implemented for every `Bridge`.
#[async_trait]
#[allow(missing_docs)]
pub trait NetworkHandle: Send + Sync + 'static {
    fn info(&self) -> NetworkInfo;
    fn capabilities(&self) -> Capabilities;
    fn bot_joins_group_rooms(&self) -> bool;
    async fn handle_matrix_event(
        &self,
        portal: &Portal,
        event: MatrixEvent,
    ) -> Result<Delivered, DeliveryError>;
    async fn resolve_alias(
        &self,
        vars: &[(String, String)],
    ) -> Result<Option<PortalSpec>, BridgeError>;
    async fn describe_chat(&self, key: &PortalKey) -> Result<PortalSpec, BridgeError>;
    async fn backfill(
        &self,
        portal: &Portal,
        request: BackfillRequest,
    ) -> Result<Vec<RemoteEventKind>, BridgeError>;
    async fn open_dm(
        &self,
        user: &OwnedUserId,
        ghost: &RemoteUserId,
    ) -> Result<PortalKey, BridgeError>;
    async fn validate_plumb(
        &self,
        requester: &OwnedUserId,
        room: &OwnedRoomId,
        args: &[String],
    ) -> Result<PortalKey, BridgeError>;
    async fn portal_removed(&self, portal: &Portal);
    async fn start_login(
        &self,
        user: &OwnedUserId,
        args: &[String],
    ) -> Result<Box<dyn LoginProcess>, BridgeError>;
    async fn logout(&self, user: &OwnedUserId, login: LoginSlot) -> Result<(), BridgeError>;
    async fn whoami(&self, user: &OwnedUserId) -> Option<String>;
    async fn logins(&self, user: &OwnedUserId) -> Vec<LoginInfo>;
}
