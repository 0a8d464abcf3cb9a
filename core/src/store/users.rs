//! Matrix users of the bridge: their management room and the network's login state.

use ruma::{OwnedRoomId, OwnedUserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::decode;
use super::{Store, StoreError};

/// A Matrix user who uses the bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeUser {
    pub mxid: OwnedUserId,
    /// The DM with the bot, if there is one.
    pub management_room: Option<OwnedRoomId>,
    /// The network's login state for this user (free-form JSON owned by the network).
    pub login_state: Option<serde_json::Value>,
}

/// The selected columns, as a macro so queries stay `&'static str` (sqlx's `SqlSafeStr`).
macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "SELECT mxid, management_room, login_state FROM bridge_users ",
            $rest
        )
    };
}

fn from_row(row: &AnyRow) -> Result<BridgeUser, StoreError> {
    let mxid: OwnedUserId = decode::id("bridge_users.mxid", row.try_get("mxid")?)?;
    let login_state: Option<String> = row.try_get("login_state")?;
    let login_state = login_state
        .map(|s| decode::json(&format!("login state of {mxid}"), &s))
        .transpose()?;
    Ok(BridgeUser {
        management_room: decode::opt_id(
            "bridge_users.management_room",
            row.try_get("management_room")?,
        )?,
        login_state,
        mxid,
    })
}

impl Store {
    pub async fn get_user(&self, mxid: &OwnedUserId) -> Result<Option<BridgeUser>, StoreError> {
        let _timer = crate::metrics::db_timer("get_user");
        let row = sqlx::query(select_users!("WHERE mxid = $1"))
            .bind(mxid.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Inserts the user if missing and sets the management room.
    pub async fn set_management_room(
        &self,
        mxid: &OwnedUserId,
        room: Option<&OwnedRoomId>,
    ) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("set_management_room");
        sqlx::query(
            "INSERT INTO bridge_users (mxid, management_room) VALUES ($1, $2) \
             ON CONFLICT (mxid) DO UPDATE SET management_room = excluded.management_room",
        )
        .bind(mxid.as_str())
        .bind(room.map(|r| r.as_str()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Inserts the user if missing and sets the login state (`None` = logged out).
    pub async fn set_login_state(
        &self,
        mxid: &OwnedUserId,
        state: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("set_login_state");
        let state = state
            .map(|s| decode::to_json("login state", s))
            .transpose()?;
        sqlx::query(
            "INSERT INTO bridge_users (mxid, login_state) VALUES ($1, $2) \
             ON CONFLICT (mxid) DO UPDATE SET login_state = excluded.login_state",
        )
        .bind(mxid.as_str())
        .bind(state)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The user whose management room is `room` (the first by MXID should two share it).
    pub async fn user_by_management_room(
        &self,
        room: &OwnedRoomId,
    ) -> Result<Option<BridgeUser>, StoreError> {
        let _timer = crate::metrics::db_timer("user_by_management_room");
        let row = sqlx::query(select_users!(
            "WHERE management_room = $1 ORDER BY mxid LIMIT 1"
        ))
        .bind(room.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// All users with a login state (to reconnect at start-up), by MXID.
    pub async fn logged_in_users(&self) -> Result<Vec<BridgeUser>, StoreError> {
        let _timer = crate::metrics::db_timer("logged_in_users");
        let rows = sqlx::query(select_users!("WHERE login_state IS NOT NULL ORDER BY mxid"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }
}
