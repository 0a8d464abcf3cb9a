//! An object-safe view of a [`Bridge`], so that portals, commands and the router can hold the
//! network without being generic over it.

use std::sync::Arc;

use async_trait::async_trait;
use ruma::{OwnedRoomId, OwnedUserId};

use crate::bridge::{Bridge, BridgeError, Capabilities, NetworkInfo, PortalSpec};
use crate::events::{Delivered, DeliveryError, MatrixEvent};
use crate::ghost::GhostNaming;
use crate::ids::{PortalKey, RemoteUserId};
use crate::login::LoginProcess;
use crate::portal::Portal;

/// The network as the core holds it.
pub type Network = Arc<dyn NetworkHandle>;

/// The object-safe part of [`Bridge`]; implemented for every `Bridge`.
#[async_trait]
#[allow(missing_docs)]
pub trait NetworkHandle: Send + Sync + 'static {
    fn info(&self) -> NetworkInfo;
    fn capabilities(&self) -> Capabilities;
    fn ghost_naming(&self) -> Arc<dyn GhostNaming>;
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
    async fn logout(&self, user: &OwnedUserId) -> Result<(), BridgeError>;
    async fn whoami(&self, user: &OwnedUserId) -> Option<String>;
    fn bot_joins_group_rooms(&self) -> bool;
}

#[async_trait]
impl<B: Bridge> NetworkHandle for B {
    fn info(&self) -> NetworkInfo {
        B::info()
    }
    fn capabilities(&self) -> Capabilities {
        Bridge::capabilities(self)
    }
    fn ghost_naming(&self) -> Arc<dyn GhostNaming> {
        Bridge::ghost_naming(self)
    }
    async fn handle_matrix_event(
        &self,
        portal: &Portal,
        event: MatrixEvent,
    ) -> Result<Delivered, DeliveryError> {
        Bridge::handle_matrix_event(self, portal, event).await
    }
    async fn resolve_alias(
        &self,
        vars: &[(String, String)],
    ) -> Result<Option<PortalSpec>, BridgeError> {
        Bridge::resolve_alias(self, vars).await
    }
    async fn describe_chat(&self, key: &PortalKey) -> Result<PortalSpec, BridgeError> {
        Bridge::describe_chat(self, key).await
    }
    async fn open_dm(
        &self,
        user: &OwnedUserId,
        ghost: &RemoteUserId,
    ) -> Result<PortalKey, BridgeError> {
        Bridge::open_dm(self, user, ghost).await
    }
    async fn validate_plumb(
        &self,
        requester: &OwnedUserId,
        room: &OwnedRoomId,
        args: &[String],
    ) -> Result<PortalKey, BridgeError> {
        Bridge::validate_plumb(self, requester, room, args).await
    }
    async fn portal_removed(&self, portal: &Portal) {
        Bridge::portal_removed(self, portal).await
    }
    async fn start_login(
        &self,
        user: &OwnedUserId,
        args: &[String],
    ) -> Result<Box<dyn LoginProcess>, BridgeError> {
        Bridge::start_login(self, user, args).await
    }
    async fn logout(&self, user: &OwnedUserId) -> Result<(), BridgeError> {
        Bridge::logout(self, user).await
    }
    async fn whoami(&self, user: &OwnedUserId) -> Option<String> {
        Bridge::whoami(self, user).await
    }
    fn bot_joins_group_rooms(&self) -> bool {
        Bridge::bot_joins_group_rooms(self)
    }
}
