//! The client side: requests to the homeserver as the bot or as any ghost, with one retry
//! policy for all of them.
//!
//! [`MatrixClient`] holds the connection and the appservice token; [`Intent`] is the same client
//! acting as one user (the bot, or a ghost through the `user_id` assertion). Every request goes
//! through one send function (`transport.rs`) and one retry policy ([`retry::RetryPolicy`]).
//! Methods live by topic: `intent.rs` (registration, profile, events), `rooms.rs` (rooms,
//! membership, power levels), `media.rs` (media repository, aliases); `convert.rs` maps message
//! content both ways.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, atomic::AtomicBool},
    time::Duration,
};

use ruma::{OwnedMxcUri, OwnedUserId, UserId};

pub mod convert;
mod devices;
pub mod encryption;
mod history;
mod intent;
mod media;
mod outage;
pub mod polls;
pub mod retry;
mod rooms;
mod transport;

#[cfg(test)]
mod test_fake;
#[cfg(test)]
mod tests;

pub use convert::{ConvertError, ParsedMessage};
pub use devices::BRIDGE_DEVICE;
pub use encryption::RoomEncryption;
pub use media::MediaDownload;
pub use retry::RetryPolicy;
pub use rooms::CREATOR_POWER_LEVEL;

/// Client failures, after retries.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The homeserver answered with a Matrix error.
    #[error("{status} {errcode}: {error}")]
    Api {
        status: u16,
        errcode: String,
        error: String,
    },
    /// The homeserver could not be reached (after retries).
    #[error("homeserver unreachable: {0}")]
    Transport(String),
    /// A request or response could not be (de)serialized.
    #[error("bad request or response: {0}")]
    Format(String),
    /// An event for an encrypted room could not be encrypted (it was not sent).
    #[error("cannot encrypt: {0}")]
    Encryption(String),
    /// Media over `limits.media_max_bytes` (announced, or cut while reading).
    #[error(transparent)]
    TooLarge(#[from] crate::media_cap::TooLarge),
}

impl MatrixError {
    /// The Matrix `errcode`, if the homeserver sent one.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            MatrixError::Api { errcode, .. } => Some(errcode),
            _ => None,
        }
    }

    /// The HTTP status of an error response from the homeserver.
    pub fn status(&self) -> Option<u16> {
        match self {
            MatrixError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What to put in a new room.
#[derive(Clone, Debug, Default)]
pub struct CreateRoom {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar: Option<OwnedMxcUri>,
    /// Localpart of a canonical alias to create with the room.
    pub alias_localpart: Option<String>,
    pub invite: Vec<OwnedUserId>,
    /// A direct chat (`is_direct`, `trusted_private_chat` preset).
    pub is_direct: bool,
    /// Public rooms get the `public_chat` preset and are joinable by anyone.
    pub public: bool,
    /// Users and power levels to set in `power_level_content_override`.
    pub power_users: Vec<(OwnedUserId, i64)>,
    /// Extra initial state events: (type, state_key, content).
    pub initial_state: Vec<(String, String, serde_json::Value)>,
    /// A space (`creation_content.type: m.space`) rather than a chat room.
    pub space: bool,
}

/// A handle on the homeserver for the appservice; cheap to clone.
#[derive(Clone)]
pub struct MatrixClient {
    http: reqwest::Client,
    /// Base URL, always ending in `/`.
    homeserver: url::Url,
    as_token: Arc<str>,
    bot: OwnedUserId,
    policy: RetryPolicy,
    /// Users known to exist, so `ensure_registered` costs one request per user per process.
    registered: Arc<Mutex<HashSet<OwnedUserId>>>,
    /// Whether to try `/_matrix/client/v1/media/download` first; cleared once the homeserver
    /// shows it does not support it.
    authenticated_media: Arc<AtomicBool>,
    /// The homeserver's default room version, once asked (it decides power level rules).
    default_room_version: Arc<Mutex<Option<String>>>,
    /// The bridge's device per puppet (see `devices`).
    devices: devices::Devices,
    /// Whether the homeserver is reachable, and how often it came back (see `outage`).
    outages: outage::Outages,
    /// Where [`MatrixClient::public_media_url`] points when a media proxy serves downloads.
    public_media_base: Option<url::Url>,
    /// The crypto layer, when encryption is on (see `encryption`).
    encryption: encryption::EncryptionSlot,
}

/// Connect timeout for the homeserver.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of one HTTP exchange (media uploads included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl MatrixClient {
    /// Builds a client for `homeserver` using `as_token`; `bot` is the bridge bot's user ID.
    pub fn new(
        homeserver: &url::Url,
        as_token: &str,
        bot: OwnedUserId,
        authenticated_media: bool,
    ) -> Result<Self, MatrixError> {
        if homeserver.cannot_be_a_base() || !matches!(homeserver.scheme(), "http" | "https") {
            return Err(MatrixError::Format(format!(
                "homeserver URL must be http(s): {homeserver}"
            )));
        }
        // reqwest is built with `rustls-no-provider` and panics without a process-wide provider;
        // installing one here (a no-op if the binary already did) keeps `new` panic-free.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("ferrybridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MatrixError::Transport(format!("building HTTP client: {e}")))?;
        let mut base = homeserver.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        base.set_fragment(None);
        Ok(Self {
            http,
            homeserver: base,
            as_token: Arc::from(as_token),
            bot,
            policy: RetryPolicy::default(),
            registered: Arc::default(),
            authenticated_media: Arc::new(AtomicBool::new(authenticated_media)),
            default_room_version: Arc::default(),
            devices: Default::default(),
            outages: Default::default(),
            public_media_base: None,
            encryption: Default::default(),
        })
    }

    /// Plugs in the crypto layer: from now on sends into encrypted rooms are encrypted.
    pub fn set_encryption(&self, layer: Arc<dyn RoomEncryption>) {
        self.encryption.set(layer);
    }

    /// The appservice token (for requests other libraries build; see `transport::send_http`).
    pub(crate) fn as_token(&self) -> &str {
        &self.as_token
    }

    /// Replaces the retry policy (e.g. a shorter budget in tests).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Makes [`MatrixClient::public_media_url`] return `{base}/{server}/{media_id}` instead of
    /// the homeserver's legacy download URL, for a proxy that fetches media with the appservice
    /// token (needed when the homeserver enforces authenticated media).
    pub fn with_public_media_base(mut self, base: url::Url) -> Self {
        self.public_media_base = Some(base);
        self
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The homeserver base URL (ends in `/`).
    pub fn homeserver(&self) -> &url::Url {
        &self.homeserver
    }

    /// The bot's user ID.
    pub fn bot(&self) -> &UserId {
        &self.bot
    }

    /// Requests made as `user` (the bot, or a ghost via `user_id` assertion).
    pub fn as_user(&self, user: &UserId) -> Intent {
        Intent {
            client: self.clone(),
            user: user.to_owned(),
            source: None,
        }
    }

    /// The same homeserver under another appservice's token (a double-puppet registration).
    /// Its users get no bridge device: that would be a device on a real person's account.
    pub(crate) fn with_token(&self, as_token: &str) -> MatrixClient {
        let mut client = self.clone();
        client.as_token = Arc::from(as_token);
        client.registered = Arc::default();
        client.devices = devices::Devices::none();
        client
    }

    /// Requests as `user`, a real person, whose events carry `source` under
    /// [`DOUBLE_PUPPET_SOURCE`] so the bridge knows them as its own when they come back.
    pub(crate) fn as_double_puppet(&self, user: &UserId, source: &'static str) -> Intent {
        Intent {
            client: self.clone(),
            user: user.to_owned(),
            source: Some(source),
        }
    }

    /// Requests made as the bot.
    pub fn bot_intent(&self) -> Intent {
        self.as_user(self.bot())
    }
}

/// Requests as one user. Cheap to clone.
#[derive(Clone)]
pub struct Intent {
    client: MatrixClient,
    user: OwnedUserId,
    /// Set for a double puppet: the network ID its events are marked with.
    source: Option<&'static str>,
}

/// The content key marking an event a double puppet sent for the bridge (the network's ID as
/// value): such an event is never bridged back.
pub const DOUBLE_PUPPET_SOURCE: &str = "org.ferrybridge.double_puppet_source";

impl Intent {
    /// The user this intent acts as.
    pub fn user_id(&self) -> &UserId {
        &self.user
    }

    /// Whether this is a user's own account speaking for the bridge (a double puppet).
    pub fn is_double_puppet(&self) -> bool {
        self.source.is_some()
    }

    /// The client this intent sends through.
    pub fn client(&self) -> &MatrixClient {
        &self.client
    }

    /// The `user_id` to assert: none for the bot (the token already names it).
    fn assert_user(&self) -> Option<&UserId> {
        (self.user != self.client.bot).then_some(&*self.user)
    }
}
