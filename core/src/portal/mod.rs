//! Portals: one Matrix room per remote chat. Created on demand (a remote event for an unknown
//! chat, an alias query, a command), never twice for the same chat: creation of one key is
//! serialised by a per-key lock, and the store's unique constraints back that up.
//!
//! Every event of a portal, from either side, runs on the portal's ordered queue
//! ([`queue::OrderedQueues`]); `intake.rs` puts remote events on them, `remote.rs` applies
//! them to Matrix; `expiry.rs` redacts
//! disappearing messages when their timer runs out.

mod backfill;
mod cache;
mod create;
mod expiry;
mod intake;
pub mod login_choice;
pub mod queue;
mod remote;
mod spaces;

pub(crate) use intake::intake;
pub(crate) use remote::now_ms;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ruma::{OwnedRoomAliasId, OwnedRoomId, OwnedUserId, RoomAliasId, UserId};

use crate::ghost::{GhostError, Ghosts};
use crate::ids::{PortalKey, PortalKind};
use crate::matrix::{MatrixClient, MatrixError};
use crate::network::NetworkHandle;
use crate::seam::{BridgeError, NetworkInfo};
use crate::store::{PortalRow, Store, StoreError};

pub use crate::seam::Portal;
use crate::templates::Template;

use queue::OrderedQueues;

/// Portal failures.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error(transparent)]
    Ghost(#[from] GhostError),
    #[error(transparent)]
    Network(#[from] BridgeError),
    #[error("{0} is already bridged")]
    AlreadyBridged(String),
}

/// What a queue is keyed by: a portal, or a room that is not (yet) one, such as a
/// management room.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum QueueKey {
    Portal(PortalKey),
    Room(OwnedRoomId),
}

/// The portal manager; cheap to clone.
#[derive(Clone)]
pub struct Portals {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Store,
    pub matrix: MatrixClient,
    pub ghosts: Ghosts,
    pub info: NetworkInfo,
    pub domain: String,
    pub alias_template: Option<Template>,
    pub queues: OrderedQueues<QueueKey>,
    /// The largest file uploaded for a remote message (`limits.media_max_bytes`).
    pub media_cap: crate::media_cap::MediaCap,
    /// Portal rows by key and room; kept in step by every portal write below.
    pub(crate) cache: cache::PortalCache,
    creating: Mutex<HashMap<PortalKey, Arc<tokio::sync::Mutex<()>>>>,
    /// New portals are created encrypted (`encryption.default`).
    encrypted: bool,
    /// The users' personal spaces of portals.
    spaces: spaces::Spaces,
    /// History on creation and after the bridge was away.
    backfill: backfill::Backfill,
    /// Wakes the expiry task when a sooner expiry is recorded.
    expiry_wake: tokio::sync::Notify,
}

impl Portals {
    /// A portal manager for the network described by `info`. Operations that need the
    /// network itself (describing a chat, telling it a portal went away) take it as an
    /// argument: the network holds the host that holds this, never the other way round.
    pub fn new(
        store: Store,
        matrix: MatrixClient,
        ghosts: Ghosts,
        info: NetworkInfo,
        domain: String,
        alias_template: Option<Template>,
        tasks: crate::tasks::Tasks,
        media_max_bytes: u64,
        encrypted: bool,
        personal_spaces: bool,
        backfill: crate::config::BackfillConfig,
    ) -> Self {
        let spaces = spaces::Spaces::new(
            personal_spaces,
            matrix.clone(),
            store.clone(),
            domain.clone(),
            info.display_name,
        );
        let backfill = backfill::Backfill::new(backfill, info.capabilities.backfill);
        Self {
            inner: Arc::new(Inner {
                backfill,
                spaces,
                store,
                matrix,
                ghosts,
                info,
                domain,
                alias_template,
                queues: OrderedQueues::new(Duration::from_secs(60), tasks)
                    .counted(crate::metrics::portal_queue_depth()),
                media_cap: crate::media_cap::MediaCap::new(media_max_bytes),
                cache: cache::PortalCache::default(),
                creating: Mutex::new(HashMap::new()),
                encrypted,
                expiry_wake: tokio::sync::Notify::new(),
            }),
        }
    }

    /// The portal for `key`, if it exists.
    pub async fn get(&self, key: &PortalKey) -> Result<Option<Portal>, PortalError> {
        if let Some(row) = self.inner.cache.by_key(key) {
            return Ok(Some(Portal { row }));
        }
        let row = self.inner.store.portal_by_key(key).await?;
        Ok(row.map(|row| self.cached(row)))
    }

    /// The portal bridged into `room`, if any.
    pub async fn by_room(&self, room: &OwnedRoomId) -> Result<Option<Portal>, PortalError> {
        if let Some(row) = self.inner.cache.by_room(room) {
            return Ok(Some(Portal { row }));
        }
        let row = self.inner.store.portal_by_room(room).await?;
        Ok(row.map(|row| self.cached(row)))
    }

    /// The portal bridged into `room`, if it is in memory (no database round trip).
    pub(crate) fn cached_by_room(&self, room: &OwnedRoomId) -> Option<Portal> {
        self.inner.cache.by_room(room).map(|row| Portal { row })
    }

    /// A portal row just read from or written to the store.
    pub(crate) fn cached(&self, row: PortalRow) -> Portal {
        self.inner.cache.put(&row);
        Portal { row }
    }

    /// The portal for `key`, created (room and all, described by `network`) if it does not
    /// exist yet.
    pub async fn get_or_create(
        &self,
        key: &PortalKey,
        network: &dyn NetworkHandle,
    ) -> Result<Portal, PortalError> {
        if let Some(p) = self.get(key).await? {
            return Ok(p);
        }
        let _guard = self.creation_lock(key).await;
        if let Some(p) = self.get(key).await? {
            return Ok(p);
        }
        let spec = network.describe_chat(key).await?;
        let portal = self.create_locked(spec, None).await?;
        self.backfill_created(&portal, network).await;
        Ok(portal)
    }

    /// Creates the portal a homeserver alias query asked for; `Ok(false)` if the network knows
    /// no such chat.
    pub async fn create_for_alias(
        &self,
        alias: &RoomAliasId,
        network: &dyn NetworkHandle,
    ) -> Result<bool, PortalError> {
        let Some(template) = &self.inner.alias_template else {
            return Ok(false);
        };
        if alias.server_name().as_str() != self.inner.domain {
            return Ok(false);
        }
        let Some(vars) = template.parse_localpart(alias.alias()) else {
            return Ok(false);
        };
        let Some(spec) = network.resolve_alias(&vars).await? else {
            return Ok(false);
        };
        let _guard = self.creation_lock(&spec.key).await;
        if let Some(existing) = self.get(&spec.key).await? {
            // Same chat under another spelling (IRC channels are case-insensitive): point the
            // queried alias at the existing room.
            self.inner
                .matrix
                .bot_intent()
                .create_alias(alias, existing.room_id())
                .await?;
            return Ok(true);
        }
        let portal = self
            .create_locked(spec, Some(alias.alias().to_owned()))
            .await?;
        self.backfill_created(&portal, network).await;
        Ok(true)
    }

    /// Links an existing room to a remote chat (plumbing, or a DM a user opened by inviting a
    /// ghost). Fails if either side is already bridged.
    pub async fn link_room(
        &self,
        key: &PortalKey,
        room: &OwnedRoomId,
        kind: PortalKind,
        plumbed: bool,
    ) -> Result<Portal, PortalError> {
        let _guard = self.creation_lock(key).await;
        if self.get(key).await?.is_some() {
            return Err(PortalError::AlreadyBridged(key.to_string()));
        }
        let row = PortalRow {
            key: key.clone(),
            room_id: room.clone(),
            kind,
            plumbed,
            name: None,
            topic: None,
            avatar: None,
        };
        if !self.inner.store.insert_portal(&row).await? {
            return Err(PortalError::AlreadyBridged(room.to_string()));
        }
        self.inner.cache.put(&row);
        // A linked room keeps its own history: nothing to catch up on in this run (later runs
        // catch up on what came after its newest bridged message).
        self.inner.backfill.first_time(key);
        let bot = self.inner.matrix.bot_intent();
        let (state_key, content) = create::bridge_state(&self.inner, key);
        for event_type in ["m.bridge", "uk.half-shot.bridge"] {
            if let Err(e) = bot.send_state(room, event_type, &state_key, &content).await {
                tracing::warn!(room = %room, error = %e, "could not set bridge info on linked room");
            }
        }
        Ok(Portal { row })
    }

    /// Unlinks a portal: the room stays, the bridge leaves it and forgets the mapping.
    pub async fn unlink(
        &self,
        portal: &Portal,
        network: &dyn NetworkHandle,
    ) -> Result<(), PortalError> {
        self.inner.store.delete_portal(portal.key()).await?;
        self.inner.cache.remove(portal.key());
        self.inner.spaces.remove(portal.room_id()).await;
        network.portal_removed(portal).await;
        let bot = self.inner.matrix.bot_intent();
        let _ = bot
            .send_message(
                portal.room_id(),
                &crate::events::MessageContent::notice("This room is no longer bridged."),
                None,
                None,
            )
            .await;
        let _ = bot.leave(portal.room_id(), Some("unlinked")).await;
        Ok(())
    }

    /// Deletes a portal the bridge created: everyone but the bot is kicked, then the bot leaves.
    pub async fn delete(
        &self,
        portal: &Portal,
        network: &dyn NetworkHandle,
    ) -> Result<(), PortalError> {
        self.inner.store.delete_portal(portal.key()).await?;
        self.inner.cache.remove(portal.key());
        self.inner.spaces.remove(portal.room_id()).await;
        network.portal_removed(portal).await;
        let bot = self.inner.matrix.bot_intent();
        for member in bot
            .joined_members(portal.room_id())
            .await
            .unwrap_or_default()
        {
            if member.as_str() == bot.user_id().as_str() {
                continue;
            }
            // A ghost may be the room's creator (DMs), whom nobody can kick: it leaves itself.
            // Users with equal power (DM invitees) cannot be kicked either; they keep an empty room.
            if self.inner.ghosts.is_ghost(&member) {
                let _ = self
                    .inner
                    .matrix
                    .as_user(&member)
                    .leave(portal.room_id(), Some("portal deleted"))
                    .await;
                self.inner
                    .ghosts
                    .forget_membership(&member, portal.room_id());
            } else {
                let _ = bot
                    .kick(portal.room_id(), &member, Some("portal deleted"))
                    .await;
            }
        }
        let _ = bot.leave(portal.room_id(), Some("portal deleted")).await;
        Ok(())
    }

    /// Invites `user` to the portal (no-op errors such as "already joined" are ignored).
    pub async fn invite(&self, portal: &Portal, user: &OwnedUserId) -> Result<(), PortalError> {
        let invited = self
            .inner
            .matrix
            .bot_intent()
            .invite(portal.room_id(), user)
            .await;
        match invited {
            Ok(()) => {}
            Err(e) if e.errcode() == Some("M_FORBIDDEN") => {
                tracing::debug!(room = %portal.room_id(), %user, error = %e, "invite refused (already a member?)");
            }
            Err(e) => return Err(e.into()),
        }
        // After the portal's own invite, which the user is waiting for.
        self.inner.spaces.add(user, portal.room_id()).await;
        Ok(())
    }

    /// The alias of a portal with these alias variables, if the network has aliases.
    pub fn alias_for(&self, vars: &[(String, String)]) -> Option<OwnedRoomAliasId> {
        let template = self.inner.alias_template.as_ref()?;
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let localpart = template.render_localpart(&refs).ok()?;
        RoomAliasId::parse(format!("#{localpart}:{}", self.inner.domain)).ok()
    }

    /// The portal rooms gathered in `user`'s personal space (none when spaces are off).
    pub async fn space_rooms_of(&self, user: &UserId) -> Vec<OwnedRoomId> {
        match self.inner.spaces.rooms_of(user).await {
            Ok(rooms) => rooms,
            Err(e) => {
                tracing::warn!(%user, error = %e, "cannot read the user's space");
                Vec::new()
            }
        }
    }

    /// Jobs waiting or running on `key`'s queue.
    pub(crate) fn queue_depth(&self, key: &QueueKey) -> usize {
        self.inner.queues.depth(key)
    }

    /// Jobs waiting or running on all queues.
    pub(crate) fn queued_total(&self) -> usize {
        self.inner.queues.total()
    }

    /// Waits until every queue is empty, or `deadline` passed; returns the jobs left.
    pub(crate) async fn drain(&self, deadline: Duration) -> usize {
        self.inner.queues.drain(deadline).await
    }

    /// Queues any job on `key`'s queue.
    pub(crate) fn queue(&self, key: QueueKey, job: impl Future<Output = ()> + Send + 'static) {
        self.inner.queues.push(key, job);
    }

    async fn creation_lock(&self, key: &PortalKey) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self
                .inner
                .creating
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            map.retain(|_, l| Arc::strong_count(l) > 1);
            map.entry(key.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }
}
