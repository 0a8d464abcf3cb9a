//! Starting and stopping a bridge: store, Matrix client, ghosts, portals, commands, the
//! appservice HTTP server, inbox replay and the network, wired together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ruma::UserId;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::appservice::{AppserviceState, RouterOptions, router_with};
use crate::bot::Notices;
use crate::bridge::{Bridge, BridgeError};
use crate::commands::{Registry, cmd::core_commands};
use crate::config::{Config, ConfigError};
use crate::context::Core;
use crate::crypto::Crypto;
use crate::ghost::Ghosts;
use crate::host::{BridgeHost, HostInner};
use crate::matrix::{MatrixClient, MatrixError};
use crate::network::Network;
use crate::permissions::Permissions;
use crate::portal::Portals;
use crate::router::Router;
use crate::store::{SecretKey, Store, StoreError};
use crate::tasks::Tasks;
use crate::templates::Template;

/// Why a bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("homeserver: {0}")]
    Matrix(#[from] MatrixError),
    #[error("network: {0}")]
    Network(#[from] BridgeError),
    #[error("encryption: {0}")]
    Encryption(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// A running bridge; [`RunningBridge::stop`] shuts it down in order.
pub struct RunningBridge<B: Bridge> {
    host: BridgeHost,
    network: Arc<B>,
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    /// The metrics listener, if enabled; stops when dropped.
    _metrics: Option<crate::operations::MetricsServer>,
}

impl<B: Bridge> RunningBridge<B> {
    /// The core services (for tests and the network).
    pub fn host(&self) -> &BridgeHost {
        &self.host
    }
    /// The network (tests look into their fakes through it).
    pub fn network(&self) -> &Arc<B> {
        &self.network
    }
    /// Where the appservice API listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shuts down in order: stop accepting transactions (the homeserver keeps what it could
    /// not deliver and retries); park the Matrix events not yet started in the inbox (they
    /// are replayed first at the next start) and drain the portal queues, so remote events
    /// already taken from the network reach Matrix, for up to `limits.shutdown_grace_secs`;
    /// stop the network (QUIT, stream close) and drain what it handed over meanwhile; then
    /// cancel and wait for every tracked task.
    pub async fn stop(self) {
        self.host.tasks().begin_shutdown();
        let _ = self.shutdown.send(());
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "appservice server failed"),
            Err(e) => tracing::error!(error = %e, "appservice server task failed"),
        }
        let grace = self.host.limits().shutdown_grace();
        let left = self.host.portals().drain(grace).await;
        if left > 0 {
            tracing::warn!(
                left,
                "portal queues not drained in time; their Matrix events stay in the inbox"
            );
        }
        self.network.stop().await;
        self.host.portals().drain(grace).await;
        let running = self.host.tasks().shutdown(Duration::from_secs(5)).await;
        if running > 0 {
            tracing::warn!(running, "tasks still running after shutdown");
        }
        // What the queues finished is written before we say we stopped: a restart must not
        // replay events that were handled.
        if let Err(e) = self.host.store().flush().await {
            tracing::error!(error = %e, "could not write the last bookkeeping");
        }
        tracing::info!("bridge stopped");
    }
}

/// Starts a bridge whose network is built from the config by [`Bridge::init`].
pub async fn start<B: Bridge>(config: Config<B::Config>) -> Result<RunningBridge<B>, StartError> {
    start_with(config, B::init).await
}

/// Starts a bridge whose network `build` makes from its config section and host (tests build
/// theirs with fakes). The order is the lifecycle: core services, `build` (init), the
/// network's `start`, then the inbox replay, then the appservice API.
pub async fn start_with<B, F>(
    config: Config<B::Config>,
    build: F,
) -> Result<RunningBridge<B>, StartError>
where
    B: Bridge,
    F: FnOnce(B::Config, BridgeHost) -> Result<Arc<B>, ConfigError>,
{
    let info = B::info();
    let key = secret_key(&config)?;
    let store = Store::connect(&config.database.uri, config.database.max_connections, key).await?;

    let asv = &config.appservice;
    let bot_id = UserId::parse(format!(
        "@{}:{}",
        asv.bot.username, config.homeserver.domain
    ))
    .map_err(|e| ConfigError::new("appservice.bot.username", e.to_string()))?;
    let matrix = MatrixClient::new(
        &config.homeserver.address,
        &asv.as_token,
        bot_id,
        config.homeserver.authenticated_media,
    )?;
    let bot = matrix.bot_intent();
    bot.ensure_registered().await?;
    if !asv.bot.displayname.is_empty() {
        bot.set_displayname(&asv.bot.displayname).await?;
    }
    if !asv.bot.avatar.is_empty() {
        let avatar = ruma::OwnedMxcUri::from(asv.bot.avatar.as_str());
        if avatar.is_valid() {
            bot.set_avatar(Some(&avatar)).await?;
        }
    }

    let template = |key: &str, text: &str| {
        Template::parse(text).map_err(|e| ConfigError::new(key, e.to_string()))
    };
    let username = config.username_template()?;
    let displayname = template("appservice.displayname_template", &asv.displayname_template)?;
    let alias = config.alias_template()?;

    let tasks = Tasks::new();
    let domain = config.homeserver.domain.clone();
    let ghosts = Ghosts::new(
        store.clone(),
        matrix.clone(),
        domain.clone(),
        username,
        displayname,
        B::ghost_naming(),
        config.limits.remote_cache_entries,
        crate::ghost::DoublePuppets::new(
            matrix.clone(),
            domain.clone(),
            config.double_puppet.token_for(&domain),
            info.id,
        ),
    );
    let portals = Portals::new(
        store.clone(),
        matrix.clone(),
        ghosts.clone(),
        info.clone(),
        domain.clone(),
        alias,
        tasks.clone(),
        config.limits.media_max_bytes,
        config.encryption.default,
        config.bridge.personal_spaces,
        config.bridge.backfill.clone(),
    );
    let notices = Notices::new(
        store.clone(),
        matrix.clone(),
        format!("{} Bridge status", info.display_name),
    );
    let caps = info.capabilities;
    let permissions = Permissions::from_config(&config.bridge.permissions)?;
    let media_links = crate::media_links::MediaLinks::new(
        asv.public_address.clone(),
        &asv.hs_token,
        matrix.clone(),
        &config.limits,
    );
    let limits = config.limits.clone();
    let (remote_tx, remote_rx) = mpsc::channel(limits.remote_queue_depth.max(1));
    let (reconnects_tx, reconnects_rx) = mpsc::unbounded_channel();
    let host = BridgeHost {
        inner: Arc::new(HostInner {
            store: store.clone(),
            matrix: matrix.clone(),
            portals: portals.clone(),
            ghosts,
            notices,
            domain,
            command_prefix: config.bridge.command_prefix.clone(),
            permissions,
            network_name: info.display_name,
            network_id: info.id,
            version: info.version,
            media_links: media_links.clone(),
            limits: limits.clone(),
            remote: remote_tx,
            tasks: tasks.clone(),
            states: Default::default(),
            relays: crate::relay::Relays::new(store.clone(), &config.bridge.relay),
            reconnects: reconnects_tx,
        }),
    };

    // Encryption before anything can post: replayed remote events go out encrypted too.
    let crypto = match config.encryption.allow {
        true => {
            let ghosts = host.ghosts().clone();
            let crypto = Crypto::open(
                store.clone(),
                matrix.clone(),
                config.encryption.clone(),
                config.limits.media_max_bytes,
                move |user| ghosts.is_ghost(user),
            )
            .await
            .map_err(|e| StartError::Encryption(e.to_string()))?;
            matrix.set_encryption(Arc::new(crypto.clone()));
            tasks.spawn(crypto.clone().run_requests());
            Some(crypto)
        }
        false => None,
    };
    // Phase one: the network gets its host; nothing reaches it yet.
    let bridge = build(config.network.clone(), host.clone())?;
    let network: Network = bridge.clone();
    let mut registry = Registry::new();
    for command in core_commands(&caps).into_iter().chain(bridge.commands()) {
        registry
            .register(command)
            .map_err(|e| ConfigError::new("network", e.to_string()))?;
    }
    let crypto_probe = crypto.clone();
    let core = Core {
        host: host.clone(),
        network: network.clone(),
        registry: Arc::new(registry),
        logins: Default::default(),
        capabilities: caps,
        crypto,
    };
    // What a crash left in the remote journal goes first, before anything the network sends
    // from now on (read before `start`, so those rows are not read twice).
    let journaled = store.pending_remote().await?;
    if !journaled.is_empty() {
        tracing::info!(
            count = journaled.len(),
            "replaying remote events received before the restart"
        );
    }
    // Not cancelled: it journals what is still in the channel when the tasks are.
    tasks.spawn_uncancelled(crate::portal::intake(
        journaled,
        remote_rx,
        portals.clone(),
        network.clone(),
        limits.remote_queue_depth.max(1),
        tasks.clone(),
    ));

    // Bind before connecting anything, so a taken port fails the start at once.
    let addr = format!("{}:{}", asv.hostname, asv.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| StartError::Listen {
            addr: addr.clone(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Listen { addr, source })?;

    // Phase two: connect. Only then replay what an earlier run left in the inbox, in order,
    // so no replayed event meets a network that is not there yet.
    bridge.clone().start().await?;
    // What each portal missed while the bridge was away (a portal with an event first is
    // caught up before that event instead).
    tasks.spawn(portals.clone().catch_up_all(network.clone()));
    // Disappearing messages, including those that expired while the bridge was down.
    tasks.spawn(portals.clone().run_expiries());
    tasks.spawn(portals.after_reconnects(reconnects_rx, network));
    let provisioning = crate::provisioning::routes(
        core.clone(),
        &config.provisioning,
        config.homeserver.address.clone(),
    );
    let router_handler = Router::new(core);
    tasks.spawn(router_handler.catch_up_after_outages());
    let pending = store.pending_inbox().await?;
    if !pending.is_empty() {
        tracing::info!(
            count = pending.len(),
            "replaying events recorded before the restart"
        );
    }
    for event in pending {
        router_handler.route_replayed(event).await;
    }

    let state = AppserviceState {
        hs_token: Arc::from(asv.hs_token.as_str()),
        store: store.clone(),
        handler: Arc::new(router_handler),
    };
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    // Operations: /health and /ready on this listener, and /metrics on its own when enabled.
    let ready = crate::operations::Ready::new(matrix.clone(), store.clone());
    ready.set_network(Arc::new(host.connection_states().clone()));
    let metrics = crate::operations::serve(&config.metrics, ready.clone())
        .await
        .map_err(|e| StartError::Listen {
            addr: e.addr,
            source: e.source,
        })?;
    let options = RouterOptions {
        record_ephemeral: caps.typing || caps.read_receipts,
        ready: Some(ready),
    };
    let app = router_with(state, options)
        .merge(media_links.router())
        .merge(provisioning);
    let server = tokio::spawn(crate::appservice::serve(listener, app, async move {
        let _ = shutdown_rx.await;
    }));
    tracing::info!(address = %local, "appservice listening");
    if let Some(crypto) = crypto_probe {
        tasks.spawn(crypto.probe_homeserver());
    }

    tasks.spawn(prune_transactions(store.clone()));
    Ok(RunningBridge {
        host,
        network: bridge,
        addr: local,
        shutdown,
        server,
        _metrics: metrics,
    })
}

/// The secrets key from `bridge.secrets_key_file` or `bridge.secrets_key`.
fn secret_key<N>(config: &Config<N>) -> Result<SecretKey, ConfigError> {
    match &config.bridge.secrets_key_file {
        Some(path) => SecretKey::from_file(path)
            .map_err(|e| ConfigError::new("bridge.secrets_key_file", e.to_string())),
        None if config.bridge.secrets_key.is_empty() => Err(ConfigError::new(
            "bridge.secrets_key",
            "is empty: run `generate-registration` to create one, or set secrets_key_file",
        )),
        None => SecretKey::from_base64(&config.bridge.secrets_key)
            .map_err(|e| ConfigError::new("bridge.secrets_key", e.to_string())),
    }
}

/// How long a handled transaction ID is remembered. Homeservers retry a transaction only until
/// it is acknowledged; a week covers any outage worth surviving.
const TXN_MEMORY: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Forgets old transaction IDs hourly, so the dedupe table does not grow forever.
async fn prune_transactions(store: Store) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = crate::portal::now_ms() - TXN_MEMORY.as_millis() as i64;
        match store.prune_transactions(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "forgot old transaction IDs"),
            Err(e) => tracing::warn!(error = %e, "could not prune transaction IDs"),
        }
    }
}
