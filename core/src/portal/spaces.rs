//! Personal spaces: one Matrix space per user and bridge that holds the user's portals, so
//! clients group a network's chats together (as mautrix bridges do). The space is made when the
//! user is first invited to a portal; each portal is added as its `m.space.child` and taken out
//! again when the portal is deleted. `bridge.personal_spaces: false` turns this off.

use ruma::{OwnedRoomId, UserId};
use serde_json::json;

use crate::matrix::{CreateRoom, MatrixClient, MatrixError};
use crate::store::{Store, StoreError};

/// Store namespace: Matrix user → their space's room ID.
const KV_SPACE: &str = "personal_space";
/// Store namespace: portal room → the spaces holding it.
const KV_CHILD: &str = "personal_space_children";

/// Why a portal could not be put in a space (logged; the portal works without).
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The users' spaces.
pub(crate) struct Spaces {
    enabled: bool,
    matrix: MatrixClient,
    store: Store,
    domain: String,
    /// The network's display name: the space's name.
    network: &'static str,
    /// One space creation at a time, so two portals at once make one space.
    creating: tokio::sync::Mutex<()>,
}

impl Spaces {
    pub fn new(
        enabled: bool,
        matrix: MatrixClient,
        store: Store,
        domain: String,
        network: &'static str,
    ) -> Self {
        Self {
            enabled,
            matrix,
            store,
            domain,
            network,
            creating: tokio::sync::Mutex::new(()),
        }
    }

    /// Puts `room` in `user`'s space, making the space (and inviting them) first if needed.
    /// Failures are logged: a portal outside the space still works.
    pub async fn add(&self, user: &UserId, room: &OwnedRoomId) {
        if !self.enabled || !self.is_local(user) {
            return;
        }
        if let Err(e) = self.try_add(user, room).await {
            tracing::warn!(%user, %room, error = %e, "could not add the portal to the user's space");
        }
    }

    async fn try_add(&self, user: &UserId, room: &OwnedRoomId) -> Result<(), SpaceError> {
        let space = self.space_of(user).await?;
        let mut holders = self.holders(room).await?;
        if holders.contains(&space) {
            return Ok(());
        }
        self.matrix
            .bot_intent()
            .send_state(
                &space,
                "m.space.child",
                room.as_str(),
                &json!({ "via": [self.domain] }),
            )
            .await?;
        holders.push(space);
        self.store.kv_set(KV_CHILD, room.as_str(), &holders).await?;
        Ok(())
    }

    /// The spaces holding `room`.
    async fn holders(&self, room: &OwnedRoomId) -> Result<Vec<OwnedRoomId>, StoreError> {
        Ok(self
            .store
            .kv_get(KV_CHILD, room.as_str())
            .await?
            .unwrap_or_default())
    }

    /// Takes `room` out of every space holding it (the portal was deleted or unlinked).
    pub async fn remove(&self, room: &OwnedRoomId) {
        let holders = match self.holders(room).await {
            Ok(holders) => holders,
            Err(e) => {
                tracing::warn!(%room, error = %e, "cannot read the spaces holding a portal");
                return;
            }
        };
        for space in holders {
            let removed = self
                .matrix
                .bot_intent()
                .send_state(&space, "m.space.child", room.as_str(), &json!({}))
                .await;
            if let Err(e) = removed {
                tracing::warn!(%room, %space, error = %e, "could not take the portal out of a space");
            }
        }
        if let Err(e) = self.store.kv_delete(KV_CHILD, room.as_str()).await {
            tracing::warn!(%room, error = %e, "could not forget a deleted portal's spaces");
        }
    }

    /// The portal rooms in `user`'s space (none if they have no space).
    pub async fn rooms_of(&self, user: &UserId) -> Result<Vec<OwnedRoomId>, StoreError> {
        let Some(space) = self.known(user).await? else {
            return Ok(Vec::new());
        };
        let children = self.store.kv_list(KV_CHILD, "").await?;
        Ok(children
            .into_iter()
            .filter(|(_, holders)| {
                serde_json::from_value::<Vec<OwnedRoomId>>(holders.clone())
                    .is_ok_and(|h| h.contains(&space))
            })
            .filter_map(|(room, _)| OwnedRoomId::try_from(room).ok())
            .collect())
    }

    /// `user`'s space, made and the user invited on first use.
    async fn space_of(&self, user: &UserId) -> Result<OwnedRoomId, SpaceError> {
        if let Some(space) = self.known(user).await? {
            return Ok(space);
        }
        let _one = self.creating.lock().await;
        if let Some(space) = self.known(user).await? {
            return Ok(space);
        }
        let req = CreateRoom {
            name: Some(self.network.to_owned()),
            topic: Some(format!("Your {} chats, bridged", self.network)),
            invite: vec![user.to_owned()],
            space: true,
            ..CreateRoom::default()
        };
        let space = self.matrix.bot_intent().create_room(&req).await?;
        self.store
            .kv_set(KV_SPACE, user.as_str(), &space.as_str())
            .await?;
        tracing::info!(%user, %space, "made the user's personal space");
        Ok(space)
    }

    async fn known(&self, user: &UserId) -> Result<Option<OwnedRoomId>, StoreError> {
        let space: Option<String> = self.store.kv_get(KV_SPACE, user.as_str()).await?;
        Ok(space.and_then(|s| OwnedRoomId::try_from(s).ok()))
    }

    /// Only the homeserver's own users get a space (the bridge cannot invite others' users
    /// into rooms they would see as spam).
    fn is_local(&self, user: &UserId) -> bool {
        user.server_name().as_str() == self.domain
    }
}
