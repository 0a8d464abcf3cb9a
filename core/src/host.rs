//! [`BridgeHost`]: a network's handle on the core (queues, store, Matrix client, bot notices).

use std::sync::Arc;

use ruma::OwnedUserId;

use crate::events::RemoteEvent;
use crate::ghost::Ghosts;
use crate::matrix::MatrixClient;
use crate::portal::Portals;
use crate::store::Store;

/// What a network may use of the core. Cheap to clone.
#[derive(Clone)]
pub struct BridgeHost {
    pub(crate) inner: Arc<HostInner>,
}

pub(crate) struct HostInner {
    pub store: Store,
    pub matrix: MatrixClient,
    pub portals: Portals,
    pub ghosts: Ghosts,
    pub notices: crate::bot::Notices,
    pub domain: String,
    pub command_prefix: String,
    pub permissions: crate::commands::Permissions,
    pub network_name: &'static str,
    pub version: &'static str,
    pub network: crate::network::Network,
    pub capabilities: crate::bridge::Capabilities,
    pub registry: Arc<crate::commands::Registry>,
    pub pending: crate::login::driver::PendingInputs,
    pub media_links: crate::media_links::MediaLinks,
    pub limits: crate::config::LimitsConfig,
}

impl BridgeHost {
    /// Queues a remote event on its portal's ordered queue. Returns once queued.
    pub async fn send(&self, event: RemoteEvent) {
        self.inner.portals.queue_remote(event).await;
    }
    /// The store (for the network's key-value area, secrets and login state).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    /// The Matrix client.
    pub fn matrix(&self) -> &MatrixClient {
        &self.inner.matrix
    }
    /// Portals: lookups, creation, invites.
    pub fn portals(&self) -> &Portals {
        &self.inner.portals
    }
    /// Ghosts: MXIDs and profiles of remote users.
    pub fn ghosts(&self) -> &Ghosts {
        &self.inner.ghosts
    }
    /// The homeserver's server name.
    pub fn domain(&self) -> &str {
        &self.inner.domain
    }
    /// The command prefix outside management rooms.
    pub fn command_prefix(&self) -> &str {
        &self.inner.command_prefix
    }
    /// Permission resolution from the config.
    pub fn permissions(&self) -> &crate::commands::Permissions {
        &self.inner.permissions
    }
    /// The network's display name (`IRC`).
    pub fn network_name(&self) -> &'static str {
        self.inner.network_name
    }
    /// The bridge version.
    pub fn version(&self) -> &'static str {
        self.inner.version
    }
    /// The network, type-erased (for core commands such as `login`).
    pub fn network(&self) -> &crate::network::Network {
        &self.inner.network
    }
    /// A URL for Matrix media that people on the remote network can open.
    pub fn media_url(&self, mxc: &ruma::MxcUri, filename: Option<&str>) -> String {
        self.inner.media_links.url(mxc, filename)
    }
    /// The configured bounds (`limits:`): caps a network applies to its backlogs, caches and
    /// downloads.
    pub fn limits(&self) -> &crate::config::LimitsConfig {
        &self.inner.limits
    }
    /// Bot notices and management rooms.
    pub fn notices(&self) -> &crate::bot::Notices {
        &self.inner.notices
    }
    /// Sends `text` to `user` from the bot, in their management room (created if missing).
    pub async fn notify(&self, user: &OwnedUserId, text: &str) {
        self.inner.notices.notify(user, text, None).await;
    }
    /// As [`notify`](Self::notify), with an HTML body.
    pub async fn notify_html(&self, user: &OwnedUserId, text: &str, html: &str) {
        self.inner.notices.notify(user, text, Some(html)).await;
    }
}
