//! One configured IRC network: its listening bot connection, the Matrix users' puppet
//! connections, and what the bot knows about the channels it sits in.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use ferrybridge_core::tasks::Tasks;
use std::time::Duration;

use ferrybridge_core::BridgeHost;
use ferrybridge_core::lru::LruSet;
use ruma::{OwnedUserId, UserId};
use tokio::sync::mpsc;

use crate::backoff::ConnectLimiter;
use crate::client_cert::ClientCert;
use crate::config::{PasswordMode, ServerConfig};
use crate::conn::{Auth, Conn, ConnConfig};
use crate::identd::IdentRegistry;
use crate::ids::fold;
use crate::nick::{
    DEFAULT_NICKLEN, NickTemplateVars, ident_from_localpart, render_nick, render_placeholders,
};

/// Nick of the listening bot connection.
pub const BOT_NICK: &str = "ferrybridge";
/// How long a Matrix message waits for its puppet to connect before the sender is told.
pub const CONNECT_WAIT: Duration = Duration::from_secs(30);
/// How long to wait for a server's answer to one request.
pub const REQUEST_WAIT: Duration = Duration::from_secs(15);
/// `CHATHISTORY` lines per request when the server does not say (ISUPPORT).
const DEFAULT_CHATHISTORY_MAX: usize = 100;

/// Store namespaces (key-value area and secrets).
pub const KV_NICK: &str = "irc_nick";
pub const KV_USERNAME: &str = "irc_username";

/// The secret name of a user's password on `network`.
pub fn password_secret(network: &str) -> String {
    format!("irc_password:{network}")
}

/// The key-value key of a user's setting on `network`.
pub fn user_key(network: &str, user: &UserId) -> String {
    format!("{network} {user}")
}

/// A channel as the bot sees it.
#[derive(Clone, Debug, Default)]
pub struct ChannelView {
    pub name: String,
    pub topic: Option<String>,
    /// Folded nick → (nick as spelled, mode prefixes like `@`/`+`).
    pub members: BTreeMap<String, (String, String)>,
    /// Members from a NAMES reply still being received.
    pub names_pending: BTreeMap<String, (String, String)>,
}

/// One IRC network.
pub struct IrcNetwork {
    pub name: String,
    /// Shared with every connection of the network (one copy, not one per puppet).
    pub config: Arc<ServerConfig>,
    pub limiter: ConnectLimiter,
    pub host: BridgeHost,
    /// The bot's connection, from `start` on (before it, the network does not talk).
    pub bot: OnceLock<Conn>,
    pub puppets: Mutex<HashMap<OwnedUserId, Conn>>,
    /// Folded nicks of our puppets, so the bot does not bridge their lines back.
    pub puppet_nicks: Mutex<HashMap<String, OwnedUserId>>,
    pub channels: Mutex<HashMap<String, ChannelView>>,
    /// When each user last used IRC from Matrix (for `idle_timeout_secs`).
    pub last_active: Mutex<HashMap<OwnedUserId, tokio::time::Instant>>,
    /// Nick spellings whose ghost display name was already set by this process, bounded by
    /// `limits.remote_cache_entries` (a forgotten nick costs one unchanged-profile check).
    pub profiled: Mutex<LruSet<String>>,
    /// Netsplit quits held back (see [`crate::netsplit`]).
    pub netsplit: Mutex<crate::netsplit::Pending>,
    /// The users' feature switches (shared by every network).
    pub features: Arc<crate::features::Features>,
    /// Serialises puppet creation (one connection per user, even for a burst).
    creating: tokio::sync::Mutex<()>,
    /// Who spoke, and the pacer of member-list joins (see [`crate::membership`]).
    pub(crate) membership: crate::membership::Membership,
    /// The connection pool that owns the sockets, if configured.
    pub pool: Option<Arc<crate::pool::PoolClient>>,
    /// The bot's relay task, awaited at stop so the lines it was handed reach the core.
    relay: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Where connections register their ident when the built-in identd runs.
    pub identd: Option<IdentRegistry>,
    /// Who is shown typing on Matrix (IRCv3 `+typing`, see [`crate::tagmsg`]).
    pub(crate) typists: crate::tagmsg::Typists,
    /// Matrix users whose typing is repeated on IRC (see [`crate::tagmsg`]).
    pub(crate) typing_repeats: crate::tagmsg::Repeats,
    /// Lines the server returns per `CHATHISTORY` request (ISUPPORT `CHATHISTORY`).
    chathistory_max: std::sync::atomic::AtomicUsize,
    /// Who is logged in and who is away (see [`crate::status`]).
    pub(crate) statuses: crate::status::Statuses,
}

impl IrcNetwork {
    pub fn new(
        name: String,
        config: ServerConfig,
        features: Arc<crate::features::Features>,
        host: BridgeHost,
        pool: Option<Arc<crate::pool::PoolClient>>,
        identd: Option<IdentRegistry>,
    ) -> Self {
        let limiter = ConnectLimiter::new(config.concurrent_connects);
        let cache_entries = host.limits().remote_cache_entries;
        Self {
            name,
            config: Arc::new(config),
            limiter,
            host,
            bot: OnceLock::new(),
            puppets: Mutex::new(HashMap::new()),
            puppet_nicks: Mutex::new(HashMap::new()),
            channels: Mutex::new(HashMap::new()),
            netsplit: Mutex::new(HashMap::new()),
            profiled: Mutex::new(LruSet::new(cache_entries)),
            last_active: Mutex::new(HashMap::new()),
            features,
            creating: tokio::sync::Mutex::new(()),
            membership: Default::default(),
            pool,
            relay: Mutex::new(None),
            identd,
            typists: Default::default(),
            typing_repeats: Default::default(),
            chathistory_max: std::sync::atomic::AtomicUsize::new(DEFAULT_CHATHISTORY_MAX),
            statuses: Default::default(),
        }
    }

    /// Where the connection of `key` lives, if the pool owns the sockets.
    fn pooled(&self, key: crate::pool::ConnKey) -> Option<crate::conn::Pooled> {
        self.pool.as_ref().map(|client| crate::conn::Pooled {
            client: client.clone(),
            key,
        })
    }

    pub fn host(&self) -> &BridgeHost {
        &self.host
    }

    /// The bridge's task set (every connection task is tracked there).
    pub fn tasks(&self) -> &Tasks {
        self.host.tasks()
    }

    /// Whether the folded nick is one of ours (the bot or a puppet).
    pub fn is_ours(&self, nick: &str) -> bool {
        let f = fold(nick);
        if self.bot.get().is_some_and(|b| fold(&b.nick()) == f) {
            return true;
        }
        lock(&self.puppet_nicks).contains_key(&f)
    }

    /// The Matrix user behind a puppet nick.
    pub fn puppet_owner(&self, nick: &str) -> Option<OwnedUserId> {
        lock(&self.puppet_nicks).get(&fold(nick)).cloned()
    }

    /// The puppet of `user`, if connected or connecting.
    pub fn puppet(&self, user: &UserId) -> Option<Conn> {
        lock(&self.puppets)
            .get(user)
            .filter(|c| !c.is_closed())
            .cloned()
    }

    /// Whether `channel` is excluded from bridging.
    pub fn excluded(&self, channel: &str) -> bool {
        self.config
            .exclude_channels
            .iter()
            .any(|c| fold(c) == fold(channel))
    }

    /// The nick as currently spelled on a channel the bot is in, else as given.
    pub fn spelled_nick(&self, folded: &str) -> String {
        for view in lock(&self.channels).values() {
            if let Some((nick, _)) = view.members.get(folded) {
                return nick.clone();
            }
        }
        folded.to_owned()
    }

    /// The puppet of `user`, connecting it on first use (does not wait for registration).
    pub async fn ensure_puppet(self: &Arc<Self>, user: &OwnedUserId) -> Result<Conn, String> {
        crate::idle::touch(self, user);
        if let Some(c) = self.puppet(user) {
            return Ok(c);
        }
        // The settings need a homeserver round trip: fetched before the lock, so users who
        // connect together do not wait for each other's (a race costs one unused fetch).
        let host = self.host.clone();
        let config = self.puppet_config(&host, user).await?;
        let _guard = self.creating.lock().await;
        if let Some(c) = self.puppet(user) {
            return Ok(c);
        }
        let conn = Conn::spawn_with(config, self.limiter.clone(), self.tasks(), |conn| {
            crate::puppet::PuppetOwner::sink(self.clone(), user.clone(), conn)
        });
        lock(&self.puppets).insert(user.clone(), conn.clone());
        Ok(conn)
    }

    /// The connection settings of `user`'s puppet: nick, ident, realname, credentials.
    pub async fn puppet_config(
        &self,
        host: &BridgeHost,
        user: &OwnedUserId,
    ) -> Result<ConnConfig, String> {
        let store = host.store();
        let key = user_key(&self.name, user);
        let custom: Option<String> = store.kv_get(KV_NICK, &key).await.ok().flatten();
        let nick = match custom {
            Some(n) => n,
            None => {
                let displayname = fetch_displayname(host, user).await.unwrap_or_default();
                render_nick(
                    &self.config.nick_template,
                    &NickTemplateVars {
                        displayname: &displayname,
                        localpart: user.localpart(),
                        mxid: user.as_str(),
                    },
                    DEFAULT_NICKLEN,
                )
                .map_err(|e| format!("cannot make an IRC nick for you: {e}"))?
            }
        };
        let vars = [
            ("localpart", user.localpart()),
            ("mxid", user.as_str()),
            ("displayname", user.localpart()),
        ];
        let ident = ident_from_localpart(&render_placeholders(&self.config.ident_template, &vars));
        let realname = render_placeholders(&self.config.realname_template, &vars);
        let username: Option<String> = store.kv_get(KV_USERNAME, &key).await.ok().flatten();
        let password = store
            .get_secret(user, &password_secret(&self.name))
            .await
            .ok()
            .flatten()
            .and_then(|p| String::from_utf8(p).ok());
        let client_cert = self.client_cert(host, user).await;
        let auth = match password {
            Some(password) => {
                let account = username.clone().unwrap_or_else(|| nick.clone());
                Some(match self.config.password_mode {
                    PasswordMode::Sasl => Auth::Sasl { account, password },
                    PasswordMode::ServerPassword => Auth::ServerPassword(password),
                    PasswordMode::Nickserv => Auth::NickServ { account, password },
                })
            }
            // A certificate and no password: the certificate is the login.
            None => client_cert.as_ref().map(|_| Auth::External),
        };
        Ok(ConnConfig {
            network: self.name.clone(),
            server: self.config.clone(),
            nick,
            ident: username
                .as_deref()
                .map(ident_from_localpart)
                .unwrap_or(ident),
            realname,
            auth,
            channel_messages: false,
            backlog_cap: host.limits().remote_backlog,
            pool: self.pooled(crate::pool::ConnKey::puppet(&self.name, user)),
            client_cert,
            identd: self.identd.clone(),
        })
    }

    /// The user's client certificate, when this network is TLS and they made one (`certfp`).
    /// One that cannot be read is logged and left out: the user still connects, unidentified.
    async fn client_cert(&self, host: &BridgeHost, user: &OwnedUserId) -> Option<Arc<ClientCert>> {
        if !self.config.tls {
            return None;
        }
        match crate::client_cert::load(host.store(), user, &self.name).await {
            Ok(cert) => cert.map(Arc::new),
            Err(e) => {
                tracing::warn!(network = %self.name, %user, error = %e, "client certificate not used");
                None
            }
        }
    }

    /// Starts the bot connection that listens in every portal channel.
    pub fn start_bot(self: &Arc<Self>, channels: Vec<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let config = ConnConfig {
            network: self.name.clone(),
            server: self.config.clone(),
            nick: BOT_NICK.to_owned(),
            ident: "bridge".to_owned(),
            realname: "ferrybridge Matrix bridge".to_owned(),
            auth: self.config.bot_password.clone().map(Auth::ServerPassword),
            channel_messages: true,
            backlog_cap: self.host.limits().remote_backlog,
            pool: self.pooled(crate::pool::ConnKey::bot(&self.name)),
            client_cert: None,
            identd: self.identd.clone(),
        };
        let conn = Conn::spawn(config, self.limiter.clone(), tx, self.tasks());
        if self.bot.set(conn.clone()).is_err() {
            conn.quit("duplicate");
            return;
        }
        let relay = self
            .tasks()
            .spawn(crate::relay::run(self.clone(), conn.clone(), rx));
        *lock(&self.relay) = Some(relay);
        let this = self.clone();
        self.tasks().spawn(async move {
            if conn
                .wait_registered(Duration::from_secs(3600))
                .await
                .is_ok()
            {
                for chan in channels {
                    this.bot_join(&chan).await;
                }
            }
        });
    }

    /// Lines one `CHATHISTORY` request may ask for.
    pub fn chathistory_max(&self) -> usize {
        self.chathistory_max
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes the server's ISUPPORT `CHATHISTORY=<max>` (0: no limit of its own); a value
    /// that is not a number leaves the default.
    pub fn set_chathistory_max(&self, value: &str) {
        let max = match value.parse::<usize>() {
            Ok(0) => usize::MAX,
            Ok(n) => n,
            Err(_) => return,
        };
        self.chathistory_max
            .store(max, std::sync::atomic::Ordering::Relaxed);
    }

    /// Makes the bot join `channel` (to relay it), logging failures.
    pub async fn bot_join(&self, channel: &str) {
        self.bot_join_with_key(channel, None).await
    }

    /// As [`Self::bot_join`], with the channel key a user gave (`!join #chan key`).
    pub async fn bot_join_with_key(&self, channel: &str, key: Option<&str>) {
        let Some(bot) = self.bot.get() else { return };
        if bot.in_channel(channel) {
            return;
        }
        if let Err(e) = bot.wait_registered(CONNECT_WAIT).await {
            tracing::warn!(network = %self.name, %channel, error = %e, "bot not connected; channel joins later");
            return;
        }
        if let Err(e) = bot.join(channel, key, REQUEST_WAIT).await {
            tracing::warn!(network = %self.name, %channel, error = %e, "bot could not join channel");
        }
    }

    /// Quits every connection; with a pool, detaches instead (the sockets stay on IRC for
    /// the next bridge process).
    pub fn stop(&self) {
        let conns: Vec<Conn> = lock(&self.puppets)
            .values()
            .cloned()
            .chain(self.bot.get().cloned())
            .collect();
        for c in conns {
            if self.pool.is_some() {
                c.detach();
            } else {
                c.quit("Bridge shutting down");
            }
        }
    }

    /// Waits (at most `max`) for the bot's relay to hand on what its connection read.
    pub async fn relay_finished(&self, max: Duration) {
        let relay = lock(&self.relay).take();
        if let Some(relay) = relay {
            let _ = tokio::time::timeout(max, relay).await;
        }
    }

    /// Whether every connection's task has ended (after [`IrcNetwork::stop`]: QUIT written).
    pub fn all_closed(&self) -> bool {
        lock(&self.puppets).values().all(Conn::is_closed)
            && self.bot.get().is_none_or(Conn::is_closed)
    }
}

/// A Matrix user's display name, for the nick template.
pub async fn fetch_displayname(host: &BridgeHost, user: &UserId) -> Option<String> {
    let v = host
        .matrix()
        .bot_intent()
        .request_json(
            http::Method::GET,
            &[
                "_matrix",
                "client",
                "v3",
                "profile",
                user.as_str(),
                "displayname",
            ],
            None,
        )
        .await
        .ok()?;
    v.get("displayname")?.as_str().map(str::to_owned)
}

/// Locks a std mutex, shrugging off poisoning (the data stays usable).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
