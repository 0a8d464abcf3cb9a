//! Ghosts: the Matrix puppets of remote users. Their user IDs come from the username template;
//! they are registered on demand (once, remembered in the store) and their profiles follow the
//! remote side.

mod double_puppet;

use std::sync::{Arc, Mutex};

use ruma::{OwnedRoomId, OwnedUserId, UserId};

use crate::events::RemoteProfile;
use crate::ids::RemoteUserId;
use crate::lru::LruSet;
use crate::matrix::{Intent, MatrixClient, MatrixError};
use crate::store::{GhostRow, Store, StoreError};
use crate::templates::Template;

pub use double_puppet::DoublePuppets;

/// How a network's remote user IDs map to the username template's variables and back.
pub trait GhostNaming: Send + Sync {
    /// Template variables for `id`.
    fn vars(&self, id: &RemoteUserId) -> Vec<(String, String)>;
    /// The remote ID from parsed variables, or `None` if they do not name a user.
    fn from_vars(&self, vars: &[(String, String)]) -> Option<RemoteUserId>;
}

/// The default naming: the whole remote ID is `{id}`.
pub struct IdNaming;

impl GhostNaming for IdNaming {
    fn vars(&self, id: &RemoteUserId) -> Vec<(String, String)> {
        vec![("id".to_owned(), id.as_str().to_owned())]
    }
    fn from_vars(&self, vars: &[(String, String)]) -> Option<RemoteUserId> {
        vars.iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| RemoteUserId::new(v.clone()))
    }
}

/// Ghost failures.
#[derive(Debug, thiserror::Error)]
pub enum GhostError {
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot make a user ID for {0}: {1}")]
    Naming(RemoteUserId, String),
}

/// The ghost manager; cheap to clone.
#[derive(Clone)]
pub struct Ghosts {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    matrix: MatrixClient,
    domain: String,
    username: Template,
    displayname: Template,
    naming: Arc<dyn GhostNaming>,
    /// Rooms each ghost is known to be joined to, to skip redundant joins. Bounded by
    /// `limits.remote_cache_entries`: a forgotten pair costs one idempotent join request.
    joined: Mutex<LruSet<(OwnedUserId, OwnedRoomId)>>,
    /// Ghosts known to be registered: a ghost never unregisters, so after the first message
    /// the store need not be asked again (one database round trip less per message). Bounded
    /// like `joined`: a forgotten ghost costs one store lookup.
    registered: Mutex<LruSet<RemoteUserId>>,
    /// Users' own accounts, which speak for themselves when double puppeting is configured.
    double: DoublePuppets,
}

impl Ghosts {
    /// A ghost manager using the config's templates; its membership and registration caches
    /// hold at most `cache_entries` entries each (`limits.remote_cache_entries`).
    pub fn new(
        store: Store,
        matrix: MatrixClient,
        domain: String,
        username: Template,
        displayname: Template,
        naming: Arc<dyn GhostNaming>,
        cache_entries: usize,
        double: DoublePuppets,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                matrix,
                domain,
                username,
                displayname,
                naming,
                joined: Mutex::new(LruSet::new(cache_entries)),
                registered: Mutex::new(LruSet::new(cache_entries)),
                double,
            }),
        }
    }

    /// The ghost's user ID for a remote user.
    pub fn mxid(&self, remote: &RemoteUserId) -> Result<OwnedUserId, GhostError> {
        let vars = self.inner.naming.vars(remote);
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let localpart = self
            .inner
            .username
            .render_localpart(&refs)
            .map_err(|e| GhostError::Naming(remote.clone(), e.to_string()))?;
        UserId::parse(format!("@{localpart}:{}", self.inner.domain))
            .map_err(|e| GhostError::Naming(remote.clone(), e.to_string()))
    }

    /// The remote user a ghost user ID stands for, if it is one of ours.
    pub fn remote_of(&self, mxid: &UserId) -> Option<RemoteUserId> {
        if mxid.server_name().as_str() != self.inner.domain {
            return None;
        }
        let vars = self.inner.username.parse_localpart(mxid.localpart())?;
        self.inner.naming.from_vars(&vars)
    }

    /// Whether `mxid` is in the ghost namespace.
    pub fn is_ghost(&self, mxid: &UserId) -> bool {
        self.remote_of(mxid).is_some()
    }

    /// Requests as the ghost of `remote`, registering it first if needed.
    pub async fn ensure(&self, remote: &RemoteUserId) -> Result<Intent, GhostError> {
        let mxid = self.mxid(remote)?;
        let intent = self.inner.matrix.as_user(&mxid);
        if self.registered_cache().touch(remote) {
            return Ok(intent);
        }
        let known = self.inner.store.ghost_by_remote(remote).await?;
        if known.as_ref().is_some_and(|g| g.registered) {
            self.registered_cache().insert(remote.clone());
            return Ok(intent);
        }
        intent.ensure_registered().await?;
        let row = match known {
            Some(mut row) => {
                row.registered = true;
                row
            }
            None => GhostRow {
                remote_id: remote.clone(),
                mxid,
                displayname: None,
                avatar: None,
                registered: true,
            },
        };
        self.inner.store.upsert_ghost(&row).await?;
        if row.displayname.is_none() {
            // A fresh ghost shows its remote ID until the network tells us a name.
            self.set_profile(
                remote,
                &RemoteProfile {
                    displayname: Some(remote.to_string()),
                    avatar: None,
                },
            )
            .await?;
        }
        self.registered_cache().insert(remote.clone());
        Ok(intent)
    }

    /// Users' own remote accounts and their double puppets.
    pub fn double_puppets(&self) -> &DoublePuppets {
        &self.inner.double
    }

    /// Who speaks for `remote` in `room`: the user's own Matrix account when `remote` is their
    /// own account and double puppeting is on, else the ghost (registered and joined).
    pub async fn speaker(
        &self,
        remote: &RemoteUserId,
        room: &OwnedRoomId,
    ) -> Result<Intent, GhostError> {
        match self.inner.double.speaker(remote, room).await {
            Some(intent) => Ok(intent),
            None => self.ensure_joined(remote, room).await,
        }
    }

    /// Makes sure the ghost of `remote` is registered and joined to `room`.
    pub async fn ensure_joined(
        &self,
        remote: &RemoteUserId,
        room: &OwnedRoomId,
    ) -> Result<Intent, GhostError> {
        let intent = self.ensure(remote).await?;
        let key = (intent.user_id().to_owned(), room.clone());
        if self.joined_cache().touch(&key) {
            return Ok(intent);
        }
        if let Err(e) = intent.join(room).await {
            // Invite-only rooms (plumbed ones, typically) need an invite first: the bot sends it.
            if e.errcode() != Some("M_FORBIDDEN") {
                return Err(e.into());
            }
            self.inner
                .matrix
                .bot_intent()
                .invite(room, intent.user_id())
                .await?;
            intent.join(room).await?;
        }
        self.joined_cache().insert(key);
        Ok(intent)
    }

    /// Forgets that a ghost is joined to a room (after it left or was kicked).
    pub fn forget_membership(&self, mxid: &UserId, room: &OwnedRoomId) {
        self.joined_cache().remove(&(mxid.to_owned(), room.clone()));
    }

    /// Applies a remote profile change: the display name through the template, and the avatar.
    /// Unchanged fields cost no request.
    pub async fn set_profile(
        &self,
        remote: &RemoteUserId,
        profile: &RemoteProfile,
    ) -> Result<(), GhostError> {
        let mxid = self.mxid(remote)?;
        let mut row = self
            .inner
            .store
            .ghost_by_remote(remote)
            .await?
            .unwrap_or(GhostRow {
                remote_id: remote.clone(),
                mxid: mxid.clone(),
                displayname: None,
                avatar: None,
                registered: false,
            });
        let intent = self.inner.matrix.as_user(&mxid);
        if !row.registered {
            intent.ensure_registered().await?;
            row.registered = true;
        }
        if let Some(name) = &profile.displayname {
            let rendered = self
                .inner
                .displayname
                .render_plain(&[("name", name.as_str()), ("id", remote.as_str())])
                .map_err(|e| GhostError::Naming(remote.clone(), e.to_string()))?;
            if row.displayname.as_deref() != Some(rendered.as_str()) {
                intent.set_displayname(&rendered).await?;
                row.displayname = Some(rendered);
            }
        }
        if let Some(avatar) = &profile.avatar {
            let mxc = match (&avatar.mxc, &avatar.data) {
                (Some(mxc), _) => Some(mxc.clone()),
                (None, Some(data)) => Some(
                    self.inner
                        .matrix
                        .upload(
                            data.clone(),
                            avatar
                                .mimetype
                                .as_deref()
                                .unwrap_or("application/octet-stream"),
                            Some(&avatar.filename),
                        )
                        .await?,
                ),
                (None, None) => None,
            };
            if (mxc.is_some() || avatar.is_removal()) && row.avatar != mxc {
                intent.set_avatar(mxc.as_ref()).await?;
                row.avatar = mxc;
            }
        }
        self.inner.store.upsert_ghost(&row).await?;
        Ok(())
    }

    fn joined_cache(&self) -> std::sync::MutexGuard<'_, LruSet<(OwnedUserId, OwnedRoomId)>> {
        self.inner.joined.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn registered_cache(&self) -> std::sync::MutexGuard<'_, LruSet<RemoteUserId>> {
        self.inner
            .registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}
