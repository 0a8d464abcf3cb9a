//! Starting and stopping a bridge: store, Matrix client, ghosts, portals, commands, the
//! appservice HTTP server, inbox replay and the network, wired together.

use std::net::SocketAddr;
use std::sync::Arc;

use ruma::UserId;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::appservice::{AppserviceState, RouterOptions, router_with};
use crate::bot::Notices;
use crate::bridge::{Bridge, BridgeError};
use crate::commands::{Permissions, Registry, cmd::core_commands};
use crate::config::{Config, ConfigError};
use crate::ghost::Ghosts;
use crate::host::{BridgeHost, HostInner};
use crate::matrix::{MatrixClient, MatrixError};
use crate::network::Network;
use crate::portal::Portals;
use crate::router::Router;
use crate::store::{SecretKey, Store, StoreError};
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
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// A running bridge; [`RunningBridge::stop`] shuts it down cleanly.
pub struct RunningBridge {
    host: BridgeHost,
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    stop_network: Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>,
    pruner: JoinHandle<()>,
}

impl RunningBridge {
    /// The core services (for tests and the network).
    pub fn host(&self) -> &BridgeHost {
        &self.host
    }
    /// Where the appservice API listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// Stops accepting transactions, then stops the network.
    pub async fn stop(self) {
        self.pruner.abort();
        let _ = self.shutdown.send(());
        match self.server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "appservice server failed"),
            Err(e) => tracing::error!(error = %e, "appservice server task failed"),
        }
        (self.stop_network)().await;
    }
}

/// Starts a bridge whose network is built from the config.
pub async fn start<B: Bridge>(config: Config<B::Config>) -> Result<RunningBridge, StartError> {
    let network = B::new(config.network.clone())?;
    start_with(config, Arc::new(network)).await
}

/// Starts a bridge with an already built network (tests build theirs with fakes).
pub async fn start_with<B: Bridge>(
    config: Config<B::Config>,
    bridge: Arc<B>,
) -> Result<RunningBridge, StartError> {
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
    let username = template("appservice.username_template", &asv.username_template)?;
    let displayname = template("appservice.displayname_template", &asv.displayname_template)?;
    let alias = match asv.alias_template.as_str() {
        "" => None,
        t => Some(template("appservice.alias_template", t)?),
    };

    let network: Network = bridge.clone();
    let domain = config.homeserver.domain.clone();
    let ghosts = Ghosts::new(
        store.clone(),
        matrix.clone(),
        domain.clone(),
        username,
        displayname,
        network.ghost_naming(),
    );
    let portals = Portals::new(
        store.clone(),
        matrix.clone(),
        ghosts.clone(),
        network.clone(),
        domain.clone(),
        alias,
        config.limits.media_max_bytes,
    );
    let notices = Notices::new(
        store.clone(),
        matrix.clone(),
        format!("{} Bridge status", info.display_name),
    );
    let caps = network.capabilities();
    let mut registry = Registry::new();
    for command in core_commands(&caps).into_iter().chain(bridge.commands()) {
        registry
            .register(command)
            .map_err(|e| ConfigError::new("network", e.to_string()))?;
    }
    let permissions = Permissions::from_config(&config.bridge.permissions)?;
    let media_links = crate::media_links::MediaLinks::new(
        asv.public_address.clone(),
        &asv.hs_token,
        matrix.clone(),
        &config.limits,
    );
    let host = BridgeHost {
        inner: Arc::new(HostInner {
            store: store.clone(),
            matrix: matrix.clone(),
            portals,
            ghosts,
            notices,
            domain,
            command_prefix: config.bridge.command_prefix.clone(),
            permissions,
            network_name: info.display_name,
            version: info.version,
            network,
            capabilities: caps,
            registry: Arc::new(registry),
            pending: Default::default(),
            media_links: media_links.clone(),
            limits: config.limits.clone(),
        }),
    };

    let router_handler = Router::new(host.clone());
    // Events recorded before a crash or restart go first, in their original order.
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
    let (shutdown, shutdown_rx) = oneshot::channel::<()>();
    let options = RouterOptions {
        record_ephemeral: caps.typing || caps.read_receipts,
    };
    let app = router_with(state, options).merge(media_links.router());
    let server = tokio::spawn(crate::appservice::serve(listener, app, async move {
        let _ = shutdown_rx.await;
    }));
    tracing::info!(address = %local, "appservice listening");

    let pruner = tokio::spawn(prune_transactions(store.clone()));
    bridge.clone().start(host.clone()).await?;
    let stopper = bridge.clone();
    Ok(RunningBridge {
        host,
        addr: local,
        shutdown,
        server,
        pruner,
        stop_network: Box::new(move || Box::pin(async move { stopper.stop().await })),
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
