//! Ghosts: the Matrix puppets of remote users, keyed by remote ID.

use ruma::{OwnedMxcUri, OwnedUserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::decode;
use super::{Store, StoreError};
use crate::ids::RemoteUserId;

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

macro_rules! select_ghosts {
    ($rest:literal) => {
        concat!(
            "SELECT remote_id, mxid, displayname, avatar, registered FROM ghosts ",
            $rest
        )
    };
}

fn from_row(row: &AnyRow) -> Result<GhostRow, StoreError> {
    let avatar: Option<String> = row.try_get("avatar")?;
    Ok(GhostRow {
        remote_id: RemoteUserId(row.try_get("remote_id")?),
        mxid: decode::id("ghosts.mxid", row.try_get("mxid")?)?,
        displayname: row.try_get("displayname")?,
        avatar: avatar.map(OwnedMxcUri::from),
        registered: decode::flag(row, "registered")?,
    })
}

impl Store {
    /// Inserts the ghost or replaces every field of the one with the same remote ID.
    /// Fails with a database error if another remote ID already owns `mxid`.
    pub async fn upsert_ghost(&self, ghost: &GhostRow) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("upsert_ghost");
        sqlx::query(
            "INSERT INTO ghosts (remote_id, mxid, displayname, avatar, registered) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (remote_id) DO UPDATE SET mxid = excluded.mxid, \
             displayname = excluded.displayname, avatar = excluded.avatar, \
             registered = excluded.registered",
        )
        .bind(ghost.remote_id.as_str())
        .bind(ghost.mxid.as_str())
        .bind(ghost.displayname.as_deref())
        .bind(ghost.avatar.as_ref().map(|a| a.as_str()))
        .bind(ghost.registered)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn ghost_by_remote(
        &self,
        remote: &RemoteUserId,
    ) -> Result<Option<GhostRow>, StoreError> {
        let _timer = crate::metrics::db_timer("ghost_by_remote");
        let row = sqlx::query(select_ghosts!("WHERE remote_id = $1"))
            .bind(remote.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn ghost_by_mxid(&self, mxid: &OwnedUserId) -> Result<Option<GhostRow>, StoreError> {
        let _timer = crate::metrics::db_timer("ghost_by_mxid");
        let row = sqlx::query(select_ghosts!("WHERE mxid = $1"))
            .bind(mxid.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }
}
