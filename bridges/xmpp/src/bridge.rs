//! [`XmppBridge`]: the XMPP network behind the core's [`Bridge`] seam.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use ferrybridge_core::BridgeHost;
use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::commands::Command;
use ferrybridge_core::events::{ChatInfo, Delivered, DeliveryError, MatrixEvent, RemoteEventKind};
use ferrybridge_core::ghost::GhostNaming;
use ferrybridge_core::ids::{PortalKey, PortalKind, RemoteUserId};
use ferrybridge_core::portal::Portal;
use ferrybridge_core::seam::{
    BackfillRequest, BridgeError, Capabilities, ConfigError, ConnectionState, NetworkInfo,
    PortalSpec,
};
use ruma::{OwnedRoomId, OwnedUserId};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::{BareJid, Jid};

use crate::config::XmppConfig;
use crate::conn::{self, Params};
use crate::gateway::Gateway;
use crate::muc::Mucs;
use crate::naming::{self, JidNaming, Puppets};
use crate::outbox::Outbox;
use crate::pending::Pending;

/// The XMPP bridge: one XEP-0114 component connection shared by all users.
pub struct XmppBridge {
    pub(crate) config: XmppConfig,
    pub(crate) puppets: Puppets,
    pub(crate) host: BridgeHost,
    pub(crate) outbox: Outbox,
    rx: Arc<Mutex<crate::outbox::OutboxReceiver>>,
    pub(crate) mucs: Mucs,
    pub(crate) pending: Pending,
    pub(crate) gateway: Gateway,
    pub(crate) reactions: crate::reactions::Reactions,
    pub(crate) attachments: crate::media::Attachments,
    pub(crate) requests: Arc<crate::requests::Requests>,
    pub(crate) archive: crate::archive::Archive,
    pub(crate) history: crate::history::History,
    pub(crate) avatars: crate::avatars::Avatars,
    stop: watch::Sender<bool>,
    /// The connection task, awaited by [`Bridge::stop`] so the stream closes before shutdown
    /// cancels what is left.
    conn_task: StdMutex<Option<JoinHandle<()>>>,
}

/// How long [`Bridge::stop`] waits for the connection task: the close itself is bounded by
/// [`conn::CLOSE_TIMEOUT`]; the margin covers a stanza being handled when the stop came.
const STOP_TIMEOUT: Duration = Duration::from_secs(conn::CLOSE_TIMEOUT.as_secs() + 2);

impl XmppBridge {
    /// The portal spec of a MUC or a private chat.
    pub(crate) fn spec(&self, key: &PortalKey) -> Result<PortalSpec, BridgeError> {
        match &key.receiver {
            Some(_) => {
                let jid = Jid::new(key.chat.as_str())
                    .map_err(|e| BridgeError::Invalid(format!("bad JID {}: {e}", key.chat)))?;
                Ok(PortalSpec {
                    key: key.clone(),
                    kind: PortalKind::Dm,
                    info: ChatInfo::default(),
                    alias_vars: None,
                    members: vec![RemoteUserId::new(jid.as_str())],
                })
            }
            None => {
                let room = naming::parse_room(key.chat.as_str()).map_err(BridgeError::Invalid)?;
                Ok(PortalSpec {
                    key: PortalKey::shared(room.as_str()),
                    kind: PortalKind::Channel,
                    info: ChatInfo {
                        name: room.node().map(|n| n.to_string()),
                        topic: None,
                        avatar: None,
                    },
                    alias_vars: Some(naming::room_alias_vars(&room)),
                    members: vec![],
                })
            }
        }
    }
}

#[async_trait]
impl Bridge for XmppBridge {
    type Config = XmppConfig;

    fn info() -> NetworkInfo {
        NetworkInfo {
            id: "xmpp",
            display_name: "XMPP",
            bot_username: "xmppbot",
            bot_displayname: "XMPP bridge bot",
            default_port: 29322,
            ghost_template: "_xmpp_{jid}",
            displayname_template: "{name} (XMPP)",
            alias_template: Some("_xmpp_{room}_{server}"),
            command_prefix: "!xmpp",
            version: env!("CARGO_PKG_VERSION"),
            capabilities: Capabilities {
                edits: true,
                redactions: true,
                reactions: true,
                typing: true,
                read_receipts: true,
                login: false,
                backfill: true,
                polls: false,
                multiple_logins: false,
            },
        }
    }

    fn init(config: XmppConfig, host: BridgeHost) -> Result<Arc<Self>, ConfigError> {
        let component = config.component_jid()?;
        let template = config.user_template()?;
        let puppets = Puppets::new(template, component, config.resource.clone());
        let (outbox, rx) = Outbox::new(host.limits().remote_backlog);
        let (stop, _) = watch::channel(false);
        let requests = Arc::new(crate::requests::Requests::default());
        let cache_entries = host.limits().remote_cache_entries;
        let attachments =
            crate::media::Attachments::new(config.attachment_timeout(), host.tasks().clone());
        Ok(Arc::new(Self {
            config,
            puppets,
            host,
            outbox,
            rx: Arc::new(Mutex::new(rx)),
            mucs: Mucs::default(),
            pending: Pending::default(),
            archive: Default::default(),
            history: Default::default(),
            gateway: Gateway::default(),
            reactions: crate::reactions::Reactions::new(cache_entries),
            attachments,
            avatars: crate::avatars::Avatars::new(requests.clone(), cache_entries),
            requests,
            stop,
            conn_task: StdMutex::new(None),
        }))
    }

    fn ghost_naming() -> Arc<dyn GhostNaming> {
        Arc::new(JidNaming)
    }

    async fn start(self: Arc<Self>) -> Result<(), BridgeError> {
        let c = &self.config.component;
        let params = Params {
            jid: c.jid.clone(),
            secret: c.secret.clone(),
            server: c.server.clone(),
            keepalive: self.config.keepalive(),
            ping_to: conn::ping_target(&c.jid)
                .ok_or_else(|| BridgeError::Invalid(format!("bad component JID {}", c.jid)))?,
        };
        self.host
            .report_state(None, "", ConnectionState::Connecting)
            .await;
        // The first attempt decides startup: a refused secret or a component already taken
        // needs the admin, so the bridge says so and stops instead of retrying forever.
        let first = match conn::connect(&c.jid, &c.secret, &c.server, params.keepalive).await {
            Ok(stream) => Some(stream),
            Err(e) if e.is_fatal() => {
                self.host.report_state(None, "", e.state()).await;
                return Err(BridgeError::Remote(e.to_string()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "XMPP server unreachable at startup; retrying in the background");
                self.host.report_state(None, "", e.state()).await;
                None
            }
        };
        let handler: Arc<dyn conn::Handler> = self.clone();
        let task = self.host.tasks().spawn(conn::run(
            params,
            first,
            self.outbox.clone(),
            self.rx.clone(),
            handler,
            self.stop.subscribe(),
        ));
        *self.conn_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        Ok(())
    }

    /// Sends what is still queued, closes the component stream (`</stream:stream>`) and waits
    /// for that, at most [`STOP_TIMEOUT`].
    async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self
            .conn_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task
            && tokio::time::timeout(STOP_TIMEOUT, task).await.is_err()
        {
            tracing::warn!("the XMPP component stream did not close in time");
        }
    }

    fn commands(self: &Arc<Self>) -> Vec<Arc<dyn Command>> {
        vec![Arc::new(crate::commands::join::Join)]
    }

    async fn handle_matrix_event(
        &self,
        portal: &Portal,
        event: MatrixEvent,
    ) -> Result<Delivered, DeliveryError> {
        crate::outbound::handle(self, portal, event).await
    }

    async fn resolve_alias(
        &self,
        vars: &[(String, String)],
    ) -> Result<Option<PortalSpec>, BridgeError> {
        let Some(room) = naming::room_from_alias_vars(vars) else {
            return Ok(None);
        };
        self.spec(&PortalKey::shared(room.as_str())).map(Some)
    }

    async fn describe_chat(&self, key: &PortalKey) -> Result<PortalSpec, BridgeError> {
        self.spec(key)
    }

    /// A MUC's history from its archive; private chats have none (a user's archive is theirs).
    async fn backfill(
        &self,
        portal: &Portal,
        request: BackfillRequest,
    ) -> Result<Vec<RemoteEventKind>, BridgeError> {
        if portal.key().receiver.is_some() {
            return Ok(Vec::new());
        }
        let room = naming::parse_room(portal.key().chat.as_str()).map_err(BridgeError::Invalid)?;
        let since = request.after.map(|a| u64::from(a.at.get()));
        crate::history::room_history(self, &room, since, request.limit)
            .await
            .map_err(BridgeError::Remote)
    }

    async fn open_dm(
        &self,
        user: &OwnedUserId,
        ghost: &RemoteUserId,
    ) -> Result<PortalKey, BridgeError> {
        let jid = Jid::new(ghost.as_str())
            .map_err(|e| BridgeError::Invalid(format!("{ghost} is not a JID: {e}")))?;
        Ok(PortalKey::private(jid.as_str(), user.clone()))
    }

    async fn validate_plumb(
        &self,
        _requester: &OwnedUserId,
        _room: &OwnedRoomId,
        args: &[String],
    ) -> Result<PortalKey, BridgeError> {
        match args {
            [room] => {
                let room: BareJid = naming::parse_room(room).map_err(BridgeError::Invalid)?;
                Ok(PortalKey::shared(room.as_str()))
            }
            _ => Err(BridgeError::Invalid(
                "usage: plumb !room:server room@conference.example.com".into(),
            )),
        }
    }

    async fn portal_removed(&self, portal: &Portal) {
        crate::outbound::leave_all(self, portal).await;
    }
}

#[async_trait]
impl conn::Handler for XmppBridge {
    async fn stanza(&self, stanza: Stanza) {
        crate::inbound::handle(self, stanza).await;
    }
    async fn invalid(&self, error: tokio_xmpp::xmlstream::StreamElementError) {
        crate::inbound::answer_invalid(self, error);
    }
    async fn connected(&self) {
        crate::outbound::rejoin_all(self).await;
    }
    async fn state(&self, state: ConnectionState) {
        self.host.report_state(None, "", state).await;
    }
}
