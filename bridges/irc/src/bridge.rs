//! [`IrcBridge`]: the IRC network behind the ferrybridge core.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferrybridge_core::BridgeHost;
use ferrybridge_core::bridge::{
    BackfillRequest, Bridge, BridgeError, Capabilities, NetworkInfo, PortalSpec,
};
use ferrybridge_core::commands::Command;
use ferrybridge_core::config::{ConfigError, NetworkConfig};
use ferrybridge_core::events::{ChatInfo, Delivered, DeliveryError, MatrixEvent, RemoteEventKind};
use ferrybridge_core::ghost::GhostNaming;
use ferrybridge_core::ids::{PortalKey, PortalKind, RemoteUserId};
use ferrybridge_core::portal::Portal;
use ruma::{OwnedRoomId, OwnedUserId};

use crate::config::IrcConfig;
use crate::features::Features;
use crate::identd::IdentRegistry;
use crate::ids::{IrcNaming, chat_id, fold, is_channel, split_chat, split_user, user_id};
use crate::net::{IrcNetwork, lock};
use crate::nick::validate_channel;

/// The IRC bridge: one [`IrcNetwork`] per configured server.
pub struct IrcBridge {
    pub config: IrcConfig,
    pub networks: BTreeMap<String, Arc<IrcNetwork>>,
    /// The users' `!feature` switches.
    pub features: Arc<Features>,
    host: BridgeHost,
    /// The connection pool's client, shared by the networks (with `network.pool` set).
    pool: Option<Arc<crate::pool::PoolClient>>,
    /// Our connections' idents, when the built-in identd is enabled.
    identd: Option<IdentRegistry>,
}

impl IrcBridge {
    /// The network a chat ID belongs to, with the channel or nick.
    fn network_of<'a>(&self, chat: &'a str) -> Option<(&Arc<IrcNetwork>, &'a str)> {
        let (net, target) = chat.split_once('/')?;
        Some((self.networks.get(net)?, target))
    }

    /// The core handle.
    pub fn host(&self) -> &BridgeHost {
        &self.host
    }

    /// Picks the network from an optional first argument: `Ok((network, rest))`, or a
    /// message saying which networks exist when it is ambiguous or unknown.
    pub fn pick_network<'a>(
        &self,
        args: &'a [String],
    ) -> Result<(Arc<IrcNetwork>, &'a [String]), String> {
        if let Some(first) = args.first()
            && let Some((name, _)) = self.config.find_server(first)
            && let Some(net) = self.networks.get(name)
        {
            return Ok((net.clone(), &args[1..]));
        }
        if self.networks.len() == 1
            && let Some(net) = self.networks.values().next()
        {
            return Ok((net.clone(), args));
        }
        let names: Vec<&str> = self.networks.keys().map(String::as_str).collect();
        Err(match args.first() {
            Some(first) if !first.starts_with(['#', '&', '@']) => {
                format!("Unknown network {first:?}. Networks: {}", names.join(", "))
            }
            _ => format!(
                "Several networks are configured; name one first: {}",
                names.join(", ")
            ),
        })
    }

    /// The spec of a channel portal.
    fn channel_spec(&self, net: &IrcNetwork, channel: &str) -> PortalSpec {
        let (name, topic, members) = {
            let channels = lock(&net.channels);
            match channels.get(&fold(channel)) {
                Some(view) => (
                    view.name.clone(),
                    view.topic.clone(),
                    view.members
                        .values()
                        .filter(|(n, _)| !net.is_ours(n))
                        .map(|(n, _)| user_id(&net.name, n))
                        .collect(),
                ),
                None => (channel.to_owned(), None, Vec::new()),
            }
        };
        let alias_vars = channel.strip_prefix('#').map(|bare| {
            vec![
                ("network".to_owned(), net.name.clone()),
                ("channel".to_owned(), fold(bare)),
            ]
        });
        PortalSpec {
            key: PortalKey::shared(chat_id(&net.name, channel)),
            kind: PortalKind::Channel,
            info: ChatInfo {
                name: Some(name),
                topic,
                avatar: None,
            },
            alias_vars,
            members,
        }
    }

    /// Checks that `channel` may be bridged on `net`.
    pub fn check_channel(&self, net: &IrcNetwork, channel: &str) -> Result<(), String> {
        validate_channel(channel).map_err(|e| format!("{channel:?} is not a channel name: {e}"))?;
        if net.excluded(channel) {
            return Err(format!(
                "{channel} on {} is excluded from bridging by the bridge administrator.",
                net.name
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Bridge for IrcBridge {
    type Config = IrcConfig;

    fn info() -> NetworkInfo {
        NetworkInfo {
            id: "irc",
            display_name: "IRC",
            bot_username: "ircbot",
            bot_displayname: "IRC bridge bot",
            default_port: 29331,
            ghost_template: "_irc_{network}_{nick}",
            displayname_template: "{name}",
            alias_template: Some("_irc_{network}_#{channel}"),
            command_prefix: "!",
            version: env!("CARGO_PKG_VERSION"),
            // Reactions and typing travel as IRCv3 client tags; on a server without
            // `message-tags` the network ignores them (see `tagmsg`).
            capabilities: Capabilities {
                edits: true,
                reactions: true,
                typing: true,
                backfill: true,
                ..Capabilities::default()
            },
        }
    }

    fn init(config: IrcConfig, host: BridgeHost) -> Result<Arc<Self>, ConfigError> {
        if let Some(e) = config.validate().into_iter().next() {
            return Err(e);
        }
        let features = Arc::new(Features::default());
        let pool = config.pool.clone().map(crate::pool::PoolClient::new);
        // With a pool, the pool holds the sockets and answers ident lookups itself.
        let identd = (config.identd.enabled && config.pool.is_none()).then(IdentRegistry::default);
        let networks = config
            .servers
            .iter()
            .map(|(name, server)| {
                let net = IrcNetwork::new(
                    name.clone(),
                    server.clone(),
                    features.clone(),
                    host.clone(),
                    pool.clone(),
                    identd.clone(),
                );
                (name.clone(), Arc::new(net))
            })
            .collect();
        Ok(Arc::new(Self {
            config,
            networks,
            features,
            host,
            pool,
            identd,
        }))
    }

    fn ghost_naming() -> Arc<dyn GhostNaming> {
        Arc::new(IrcNaming)
    }

    async fn start(self: Arc<Self>) -> Result<(), BridgeError> {
        let host = &self.host;
        if let Some(pool) = &self.pool {
            pool.start(host.tasks());
        }
        self.features
            .load(host.store())
            .await
            .map_err(|e| BridgeError::Other(e.into()))?;
        let portals = host
            .store()
            .all_portals()
            .await
            .map_err(|e| BridgeError::Other(e.into()))?;
        if let Some(registry) = &self.identd {
            // Before any connection: a server asks as soon as it accepts one.
            let listener = crate::identd::bind(&self.config.identd)
                .await
                .map_err(|e| BridgeError::Other(e.into()))?;
            let tasks = host.tasks().clone();
            host.tasks()
                .spawn(crate::identd::serve(listener, registry.clone(), tasks));
        }
        for net in self.networks.values() {
            let channels: Vec<String> = portals
                .iter()
                .filter(|p| p.key.receiver.is_none())
                .filter_map(|p| split_chat(&p.key.chat))
                .filter(|(n, c)| *n == net.name && is_channel(c))
                .map(|(_, c)| c.to_owned())
                .collect();
            // Before the bot hears its first PART: who spoke before the restart.
            net.load_active().await;
            net.start_bot(channels);
            host.tasks().spawn(crate::restore::restore_all(net.clone()));
            host.tasks().spawn(crate::idle::reaper(net.clone()));
        }
        Ok(())
    }

    /// QUITs every connection and waits (at most a few seconds) until each has written its
    /// QUIT and closed. With a pool, connections detach instead: the pool keeps them on IRC,
    /// and what they had read is handed on before they end.
    async fn stop(&self) {
        for net in self.networks.values() {
            net.stop();
        }
        if let Some(pool) = &self.pool {
            pool.stop();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while !self.networks.values().all(|n| n.all_closed())
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for net in self.networks.values() {
            net.relay_finished(Duration::from_secs(2)).await;
        }
    }

    fn commands(self: &Arc<Self>) -> Vec<Arc<dyn Command>> {
        crate::commands::all(self)
    }

    async fn handle_matrix_event(
        &self,
        portal: &Portal,
        event: MatrixEvent,
    ) -> Result<Delivered, DeliveryError> {
        let host = &self.host;
        let Some((net, target)) = self.network_of(portal.key().chat.as_str()) else {
            return Err(DeliveryError::permanent(format!(
                "{} is not an IRC network this bridge knows",
                portal.key().chat
            )));
        };
        crate::outbound::handle(host, net, target, portal.key().receiver.as_ref(), event).await
    }

    async fn resolve_alias(
        &self,
        vars: &[(String, String)],
    ) -> Result<Option<PortalSpec>, BridgeError> {
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (Some(net), Some(bare)) = (get("network"), get("channel")) else {
            return Ok(None);
        };
        let Some(net) = self.networks.get(net) else {
            return Ok(None);
        };
        let channel = format!("#{bare}");
        if !net.config.dynamic_channels || self.check_channel(net, &channel).is_err() {
            return Ok(None);
        }
        let spec = self.channel_spec(net, &channel);
        let n = net.clone();
        self.host
            .tasks()
            .spawn(async move { n.bot_join(&channel).await });
        Ok(Some(spec))
    }

    /// A channel's recent lines through IRCv3 chathistory, where the server offers it.
    async fn backfill(
        &self,
        portal: &Portal,
        request: BackfillRequest,
    ) -> Result<Vec<RemoteEventKind>, BridgeError> {
        let Some((net, target)) = self.network_of(portal.key().chat.as_str()) else {
            return Ok(Vec::new());
        };
        if !is_channel(target) {
            return Ok(Vec::new());
        }
        crate::chathistory::fetch(net, target, &request)
            .await
            .map_err(|e| BridgeError::Remote(e.to_string()))
    }

    async fn describe_chat(&self, key: &PortalKey) -> Result<PortalSpec, BridgeError> {
        let Some((net, target)) = self.network_of(key.chat.as_str()) else {
            return Err(BridgeError::Invalid(format!(
                "unknown IRC chat {}",
                key.chat
            )));
        };
        if is_channel(target) {
            let spec = self.channel_spec(net, target);
            let (n, chan) = (net.clone(), target.to_owned());
            self.host
                .tasks()
                .spawn(async move { n.bot_join(&chan).await });
            return Ok(spec);
        }
        if key.receiver.is_none() {
            return Err(BridgeError::Invalid(
                "a private chat needs its Matrix user".into(),
            ));
        }
        Ok(PortalSpec {
            key: key.clone(),
            kind: PortalKind::Dm,
            info: ChatInfo::default(),
            alias_vars: None,
            members: vec![user_id(&net.name, target)],
        })
    }

    async fn open_dm(
        &self,
        user: &OwnedUserId,
        ghost: &RemoteUserId,
    ) -> Result<PortalKey, BridgeError> {
        let Some((net, nick)) = split_user(ghost) else {
            return Err(BridgeError::Invalid(format!("{ghost} is not an IRC user")));
        };
        let Some(net) = self.networks.get(net) else {
            return Err(BridgeError::Invalid(format!("unknown IRC network {net}")));
        };
        if !net.config.private_messages {
            return Err(BridgeError::Invalid(format!(
                "private messages are disabled on {}",
                net.name
            )));
        }
        Ok(PortalKey::private(chat_id(&net.name, nick), user.clone()))
    }

    async fn validate_plumb(
        &self,
        _requester: &OwnedUserId,
        _room: &OwnedRoomId,
        args: &[String],
    ) -> Result<PortalKey, BridgeError> {
        let (net, rest) = self.pick_network(args).map_err(BridgeError::Invalid)?;
        let Some(channel) = rest.first() else {
            return Err(BridgeError::Invalid(
                "usage: plumb !room:server network #channel".into(),
            ));
        };
        self.check_channel(&net, channel)
            .map_err(BridgeError::Invalid)?;
        let key = PortalKey::shared(chat_id(&net.name, channel));
        let chan = channel.clone();
        self.host
            .tasks()
            .spawn(async move { net.bot_join(&chan).await });
        Ok(key)
    }

    async fn portal_removed(&self, portal: &Portal) {
        if let Some((net, target)) = self.network_of(portal.key().chat.as_str())
            && is_channel(target)
            && let Some(bot) = net.bot.get()
        {
            bot.part(target, Some("unbridged"));
        }
    }

    async fn whoami(&self, user: &OwnedUserId) -> Option<String> {
        let nicks: Vec<String> = self
            .networks
            .values()
            .filter_map(|n| {
                n.puppet(user)
                    .map(|c| format!("{} on {}", c.nick(), n.name))
            })
            .collect();
        (!nicks.is_empty()).then(|| nicks.join(", "))
    }
}
