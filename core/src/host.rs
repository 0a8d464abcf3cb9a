//! [`BridgeHost`]: a network's handle on the core (remote events in, store, Matrix client, bot
//! notices, connection states, tasks). It holds nothing of the network itself: the network gets
//! it in [`crate::bridge::Bridge::init`], and the core keeps its own view of the network in the
//! crate-private [`crate::context::Core`], so the two never reference each other in a cycle.

use std::sync::Arc;

use ruma::OwnedUserId;
use tokio::sync::mpsc;

use crate::connections::{Announcement, ConnectionStates, LoginKey};
use crate::events::RemoteEvent;
use crate::ghost::Ghosts;
use crate::matrix::MatrixClient;
use crate::portal::Portals;
use crate::seam::ConnectionState;
use crate::store::Store;
use crate::tasks::Tasks;

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
    pub permissions: crate::permissions::Permissions,
    pub network_name: &'static str,
    /// `NetworkInfo::id`, the metrics' network label.
    pub network_id: &'static str,
    pub version: &'static str,
    pub media_links: crate::media_links::MediaLinks,
    pub limits: crate::config::LimitsConfig,
    /// Remote events on their way to the portal queues (bounded: `limits.remote_queue_depth`).
    pub remote: mpsc::Sender<RemoteEvent>,
    pub tasks: Tasks,
    pub states: ConnectionStates,
    pub relays: crate::relay::Relays,
    /// Logins connected again after an interruption (`None`: the bridge's own connection):
    /// their portals catch up on what they missed (see `portal::backfill`).
    pub reconnects: tokio::sync::mpsc::UnboundedSender<Option<OwnedUserId>>,
}

impl BridgeHost {
    /// Hands a remote event to the core, which journals it (typing and read receipts excepted)
    /// and queues it on its portal's ordered queue. The journal takes everything handed over
    /// while its previous commit ran in one commit (`portal::intake`), so a network that hands
    /// over events one by one pays no database round trip each; a crash of the bridge loses
    /// what was handed over but not yet committed (the last milliseconds, like the bytes still
    /// in a socket), and replays everything journaled at the next start. Waits while the core
    /// is `limits.remote_queue_depth` events behind (backpressure into the remote connection:
    /// it reads no more until the core caught up). Events of one caller keep their order.
    pub async fn send(&self, event: RemoteEvent) {
        if self.inner.remote.send(event).await.is_err() {
            // Only after shutdown, when nothing is delivered any more.
            tracing::warn!("remote event arrived after shutdown; not delivered");
        }
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
    /// Portal relays (relay mode).
    pub fn relays(&self) -> &crate::relay::Relays {
        &self.inner.relays
    }

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
    pub fn permissions(&self) -> &crate::permissions::Permissions {
        &self.inner.permissions
    }
    /// The network's display name (`IRC`).
    pub fn network_name(&self) -> &'static str {
        self.inner.network_name
    }
    /// The network's short ID (`irc`), as in metrics and the example config.
    pub fn network_id(&self) -> &'static str {
        self.inner.network_id
    }
    /// The bridge version.
    pub fn version(&self) -> &'static str {
        self.inner.version
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
    /// The bridge's tasks: spawn through this so shutdown can stop them in order.
    pub fn tasks(&self) -> &Tasks {
        &self.inner.tasks
    }
    /// The bytes of a Matrix file a network is about to send on (and the homeserver's
    /// Content-Type), held to the cap: refused before downloading when the event announces a
    /// larger size, and cut off while reading otherwise. Over the cap is a permanent
    /// [`crate::events::DeliveryError`] the sender sees as a notice; a homeserver failure is a transient one.
    pub async fn download_media(
        &self,
        media: &crate::events::Media,
    ) -> Result<(bytes::Bytes, Option<String>), crate::events::DeliveryError> {
        use crate::events::DeliveryError;
        use crate::matrix::MatrixError;
        use crate::media_cap::{MediaCap, TooLarge};
        let host = self;
        let cap = MediaCap::new(host.limits().media_max_bytes);
        let too_large = |e: TooLarge| DeliveryError::permanent(e.to_string());
        if let Some(data) = &media.data {
            cap.check(Some(data.len() as u64)).map_err(too_large)?;
            return Ok((data.clone(), None));
        }
        let mxc = media
            .mxc
            .as_ref()
            .ok_or_else(|| DeliveryError::permanent("the message has no file"))?;
        cap.check(media.size).map_err(too_large)?;
        host.matrix()
            .download(mxc, cap.limit())
            .await
            .map_err(|e| match e {
                MatrixError::TooLarge(e) => too_large(e),
                e => DeliveryError::transient(format!("cannot download the file from Matrix: {e}")),
            })
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

    /// Reports the state of one login's connection (`user` `None` for the bridge's own
    /// connection; `login` names which of the user's logins, empty if there is one). The core
    /// tells the user about changes worth telling, once each; `ping` and the metrics show it.
    pub async fn report_state(
        &self,
        user: Option<&OwnedUserId>,
        login: &str,
        state: ConnectionState,
    ) {
        let key = LoginKey {
            user: user.cloned(),
            login: login.to_owned(),
        };
        tracing::info!(user = ?key.user, login, state = state.label(), "connection state");
        if self.inner.states.is_reconnect(&key, &state) {
            // Nobody listening only at shutdown.
            let _ = self.inner.reconnects.send(key.user.clone());
        }
        let told = self
            .inner
            .states
            .update(&key, state, self.inner.network_name);
        crate::metrics::set_connections(self.inner.network_id, self.inner.states.counts());
        if let (Announcement::Tell(text), Some(user)) = (told, user) {
            self.notify(user, &text).await;
        }
    }

    /// The `login` label of a user's numbered login, for [`report_state`](Self::report_state).
    pub fn slot_label(&self, slot: crate::ids::LoginSlot) -> String {
        crate::connections::slot_label(self.inner.network_name, slot)
    }

    /// Forgets a login's state (logged out on purpose, connection removed).
    pub fn forget_state(&self, user: Option<&OwnedUserId>, login: &str) {
        self.inner.states.remove(&LoginKey {
            user: user.cloned(),
            login: login.to_owned(),
        });
        crate::metrics::set_connections(self.inner.network_id, self.inner.states.counts());
    }

    /// Why a Matrix event from `user`, who has no usable session, cannot be delivered: a
    /// retryable error while their connection is coming up or down for a passing reason (the
    /// core retries it), a final "not logged in" otherwise.
    pub fn no_session_error(&self, user: &OwnedUserId) -> crate::events::DeliveryError {
        use crate::events::DeliveryError;
        let network = self.inner.network_name;
        let state = self
            .inner
            .states
            .of_user(user)
            .into_iter()
            .map(|(_, s)| s)
            .next();
        match state {
            Some(
                s @ (ConnectionState::Connecting
                | ConnectionState::TransientDisconnect { .. }
                | ConnectionState::UnknownError { .. }),
            ) => DeliveryError::transient(format!(
                "your {network} connection is not up ({})",
                s.describe()
            )),
            _ => DeliveryError::permanent(format!(
                "you are not logged in to {network}; send `login` to the bridge bot"
            )),
        }
    }

    /// Every login's connection state (for `ping`, metrics and readiness).
    pub fn connection_states(&self) -> &ConnectionStates {
        &self.inner.states
    }
}
