//! Portals: one Matrix room per remote chat (per receiver for private chats). The
//! (chat, receiver) key and the room ID are both unique, so concurrent creators of the same
//! portal cannot both win.

use ruma::{OwnedMxcUri, OwnedRoomId, OwnedUserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::decode;
use super::{Store, StoreError};
use crate::ids::{PortalKey, PortalKind, RemoteChatId};
pub use crate::seam::PortalRow;

macro_rules! select_portals {
    ($rest:literal) => {
        concat!(
            "SELECT chat, receiver, room_id, kind, plumbed, name, topic, avatar FROM portals ",
            $rest
        )
    };
}

fn from_row(row: &AnyRow) -> Result<PortalRow, StoreError> {
    let kind: String = row.try_get("kind")?;
    let avatar: Option<String> = row.try_get("avatar")?;
    Ok(PortalRow {
        key: {
            let (receiver, login) = decode::receiver_from_db(row.try_get("receiver")?)?;
            PortalKey {
                chat: RemoteChatId(row.try_get("chat")?),
                receiver,
                login,
            }
        },
        room_id: decode::id("portals.room_id", row.try_get("room_id")?)?,
        kind: PortalKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown portal kind {kind:?}")))?,
        plumbed: decode::flag(row, "plumbed")?,
        name: row.try_get("name")?,
        topic: row.try_get("topic")?,
        avatar: avatar.map(OwnedMxcUri::from),
    })
}

impl Store {
    /// Inserts a portal; returns `false` (and changes nothing) if the key or room exists.
    pub async fn insert_portal(&self, portal: &PortalRow) -> Result<bool, StoreError> {
        let _timer = crate::metrics::db_timer("insert_portal");
        let done = sqlx::query(
            "INSERT INTO portals (chat, receiver, room_id, kind, plumbed, name, topic, avatar) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(portal.key.chat.as_str())
        .bind(decode::receiver_to_db(&portal.key))
        .bind(portal.room_id.as_str())
        .bind(portal.kind.as_str())
        .bind(portal.plumbed)
        .bind(portal.name.as_deref())
        .bind(portal.topic.as_deref())
        .bind(portal.avatar.as_ref().map(|a| a.as_str()))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn portal_by_key(&self, key: &PortalKey) -> Result<Option<PortalRow>, StoreError> {
        let _timer = crate::metrics::db_timer("portal_by_key");
        let row = sqlx::query(select_portals!("WHERE chat = $1 AND receiver = $2"))
            .bind(key.chat.as_str())
            .bind(decode::receiver_to_db(key))
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn portal_by_room(
        &self,
        room: &OwnedRoomId,
    ) -> Result<Option<PortalRow>, StoreError> {
        let _timer = crate::metrics::db_timer("portal_by_room");
        let row = sqlx::query(select_portals!("WHERE room_id = $1"))
            .bind(room.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Updates name, topic, avatar and plumbed flag of an existing portal (found by key; the
    /// room and kind never change). Does nothing if there is no such portal.
    pub async fn update_portal(&self, portal: &PortalRow) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("update_portal");
        sqlx::query(
            "UPDATE portals SET name = $3, topic = $4, avatar = $5, plumbed = $6 \
             WHERE chat = $1 AND receiver = $2",
        )
        .bind(portal.key.chat.as_str())
        .bind(decode::receiver_to_db(&portal.key))
        .bind(portal.name.as_deref())
        .bind(portal.topic.as_deref())
        .bind(portal.avatar.as_ref().map(|a| a.as_str()))
        .bind(portal.plumbed)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Deletes a portal and, in the same transaction, its message map (the mapped events
    /// belong to a room the bridge no longer serves).
    pub async fn delete_portal(&self, key: &PortalKey) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("delete_portal");
        let receiver = decode::receiver_to_db(key);
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM messages WHERE chat = $1 AND receiver = $2")
            .bind(key.chat.as_str())
            .bind(receiver.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM portals WHERE chat = $1 AND receiver = $2")
            .bind(key.chat.as_str())
            .bind(receiver.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// All portals (shared ones and every user's private ones), by chat then receiver.
    pub async fn all_portals(&self) -> Result<Vec<PortalRow>, StoreError> {
        let _timer = crate::metrics::db_timer("all_portals");
        let rows = sqlx::query(select_portals!("ORDER BY chat, receiver"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Private portals of one Matrix user, by chat.
    pub async fn portals_of_receiver(
        &self,
        receiver: &OwnedUserId,
    ) -> Result<Vec<PortalRow>, StoreError> {
        let _timer = crate::metrics::db_timer("portals_of_receiver");
        // Every login's: `@user:server` and `@user:server|2` (see `decode::receiver_to_db`).
        let rows = sqlx::query(select_portals!(
            "WHERE receiver = $1 OR substr(receiver, 1, length($1) + 1) = $1 || '|' \
             ORDER BY chat, receiver"
        ))
        .bind(receiver.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }
}
