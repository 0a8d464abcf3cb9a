//! The one store API every bridge uses, over SQLite (embedded default) or PostgreSQL, chosen by
//! the database URI. Migrations are embedded and run at start-up.
//!
//! CONTRACT (skeleton written by the integrator; the store owner fills in bodies, may add
//! methods and private modules, but keeps these signatures so other modules compile):

use ruma::{OwnedEventId, OwnedMxcUri, OwnedRoomId, OwnedUserId};
use serde::{Serialize, de::DeserializeOwned};

use crate::ids::{PortalKey, PortalKind, RemoteMessageId, RemoteUserId};

pub mod secrets;

pub use secrets::SecretKey;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URI {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUri(String),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot decrypt secret: wrong key or tampered data")]
    Decrypt,
}

/// Whether a transaction was new or a replay.
#[derive(Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// First time: its events are in the inbox under these IDs, in order.
    New(Vec<i64>),
    /// Seen before: acknowledge, do nothing.
    Duplicate,
}

/// An event recorded durably before the transaction is acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxEvent {
    pub id: i64,
    pub txn_id: String,
    /// The raw event JSON as the homeserver sent it.
    pub json: String,
}

/// A Matrix user who uses the bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeUser {
    pub mxid: OwnedUserId,
    /// The DM with the bot, if there is one.
    pub management_room: Option<OwnedRoomId>,
    /// The network's login state for this user (free-form JSON owned by the network).
    pub login_state: Option<serde_json::Value>,
}

/// A ghost: the Matrix puppet of a remote user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GhostRow {
    pub remote_id: RemoteUserId,
    pub mxid: OwnedUserId,
    pub displayname: Option<String>,
    pub avatar: Option<OwnedMxcUri>,
    /// Whether the Matrix account was registered.
    pub registered: bool,
}

/// A portal: one Matrix room for one remote chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalRow {
    pub key: PortalKey,
    pub room_id: OwnedRoomId,
    pub kind: PortalKind,
    /// A room that existed before and was linked by `plumb`: keeps its own name and members.
    pub plumbed: bool,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub avatar: Option<OwnedMxcUri>,
}

/// One bridged message: remote ID ↔ Matrix event ID, for replies, edits and redactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    pub portal: PortalKey,
    pub remote_id: RemoteMessageId,
    pub event_id: OwnedEventId,
    pub room_id: OwnedRoomId,
    /// The remote sender (a ghost) or `None` when a Matrix user sent it.
    pub remote_sender: Option<RemoteUserId>,
    /// The Matrix sender.
    pub sender: OwnedUserId,
    pub timestamp_ms: i64,
}

/// The handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    // owner: pool(s) and the secret key
}

impl Store {
    /// Opens (creating a SQLite file if needed, in WAL mode) and migrates.
    pub async fn connect(
        uri: &str,
        max_connections: u32,
        key: SecretKey,
    ) -> Result<Self, StoreError> {
        todo!("{uri}{max_connections}{key:?}")
    }

    // ---- transactions and inbox ----

    /// Atomically records `txn_id` as seen and appends `events` (raw JSON) to the inbox.
    pub async fn record_transaction(
        &self,
        txn_id: &str,
        events: &[String],
    ) -> Result<TxnOutcome, StoreError> {
        todo!("{txn_id}{events:?}")
    }
    /// Inbox events not yet marked done, oldest first (replayed at start-up).
    pub async fn pending_inbox(&self) -> Result<Vec<InboxEvent>, StoreError> {
        todo!()
    }
    /// Marks an inbox event handled (deletes it).
    pub async fn finish_inbox(&self, id: i64) -> Result<(), StoreError> {
        todo!("{id}")
    }

    // ---- bridge users ----

    pub async fn get_user(&self, mxid: &OwnedUserId) -> Result<Option<BridgeUser>, StoreError> {
        todo!("{mxid}")
    }
    /// Inserts the user if missing and sets the management room.
    pub async fn set_management_room(
        &self,
        mxid: &OwnedUserId,
        room: Option<&OwnedRoomId>,
    ) -> Result<(), StoreError> {
        todo!("{mxid}{room:?}")
    }
    /// Inserts the user if missing and sets the login state.
    pub async fn set_login_state(
        &self,
        mxid: &OwnedUserId,
        state: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        todo!("{mxid}{state:?}")
    }
    /// Users whose management room is `room`.
    pub async fn user_by_management_room(
        &self,
        room: &OwnedRoomId,
    ) -> Result<Option<BridgeUser>, StoreError> {
        todo!("{room}")
    }
    /// All users with a login state (to reconnect at start-up).
    pub async fn logged_in_users(&self) -> Result<Vec<BridgeUser>, StoreError> {
        todo!()
    }

    // ---- ghosts ----

    pub async fn upsert_ghost(&self, ghost: &GhostRow) -> Result<(), StoreError> {
        todo!("{ghost:?}")
    }
    pub async fn ghost_by_remote(
        &self,
        remote: &RemoteUserId,
    ) -> Result<Option<GhostRow>, StoreError> {
        todo!("{remote}")
    }
    pub async fn ghost_by_mxid(&self, mxid: &OwnedUserId) -> Result<Option<GhostRow>, StoreError> {
        todo!("{mxid}")
    }

    // ---- portals ----

    /// Inserts a portal; returns `false` (and changes nothing) if the key or room exists.
    pub async fn insert_portal(&self, portal: &PortalRow) -> Result<bool, StoreError> {
        todo!("{portal:?}")
    }
    pub async fn portal_by_key(&self, key: &PortalKey) -> Result<Option<PortalRow>, StoreError> {
        todo!("{key:?}")
    }
    pub async fn portal_by_room(
        &self,
        room: &OwnedRoomId,
    ) -> Result<Option<PortalRow>, StoreError> {
        todo!("{room}")
    }
    /// Updates name, topic, avatar and plumbed flag of an existing portal.
    pub async fn update_portal(&self, portal: &PortalRow) -> Result<(), StoreError> {
        todo!("{portal:?}")
    }
    pub async fn delete_portal(&self, key: &PortalKey) -> Result<(), StoreError> {
        todo!("{key:?}")
    }
    /// All portals (shared ones and every user's private ones).
    pub async fn all_portals(&self) -> Result<Vec<PortalRow>, StoreError> {
        todo!()
    }
    /// Private portals of one Matrix user.
    pub async fn portals_of_receiver(
        &self,
        receiver: &OwnedUserId,
    ) -> Result<Vec<PortalRow>, StoreError> {
        todo!("{receiver}")
    }

    // ---- message map ----

    /// Records a bridged message; a duplicate (same portal and remote ID, or same event ID)
    /// is ignored and returns `false`.
    pub async fn insert_message(&self, msg: &MessageRow) -> Result<bool, StoreError> {
        todo!("{msg:?}")
    }
    pub async fn message_by_remote(
        &self,
        portal: &PortalKey,
        remote: &RemoteMessageId,
    ) -> Result<Option<MessageRow>, StoreError> {
        todo!("{portal:?}{remote}")
    }
    pub async fn message_by_event(
        &self,
        event: &OwnedEventId,
    ) -> Result<Option<MessageRow>, StoreError> {
        todo!("{event}")
    }
    pub async fn delete_message_by_event(&self, event: &OwnedEventId) -> Result<(), StoreError> {
        todo!("{event}")
    }

    // ---- typed key-value area, one namespace per network or feature ----

    pub async fn kv_get<T: DeserializeOwned>(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        todo!("{namespace}{key}")
    }
    pub async fn kv_set<T: Serialize + Sync>(
        &self,
        namespace: &str,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        todo!("{namespace}{key}{}", std::any::type_name_of_val(value))
    }
    pub async fn kv_delete(&self, namespace: &str, key: &str) -> Result<(), StoreError> {
        todo!("{namespace}{key}")
    }
    /// Keys and JSON values in a namespace whose key starts with `prefix`, sorted by key.
    pub async fn kv_list(
        &self,
        namespace: &str,
        prefix: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        todo!("{namespace}{prefix}")
    }

    // ---- secrets (encrypted at rest with the config's key) ----

    pub async fn set_secret(
        &self,
        user: &OwnedUserId,
        name: &str,
        plaintext: &[u8],
    ) -> Result<(), StoreError> {
        todo!("{user}{name}{}", plaintext.len())
    }
    pub async fn get_secret(
        &self,
        user: &OwnedUserId,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        todo!("{user}{name}")
    }
    pub async fn delete_secret(&self, user: &OwnedUserId, name: &str) -> Result<(), StoreError> {
        todo!("{user}{name}")
    }
}
