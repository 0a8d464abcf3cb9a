//! The message map: remote message ID ↔ Matrix event ID, for replies, edits and redactions.

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::decode;
use super::{Committed, Store, StoreError, Write};
use crate::ids::{PortalKey, RemoteChatId, RemoteMessageId, RemoteUserId};

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

macro_rules! select_messages {
    ($rest:literal) => {
        concat!(
            "SELECT chat, receiver, remote_id, event_id, room_id, remote_sender, sender, \
             timestamp_ms FROM messages ",
            $rest
        )
    };
}

fn from_row(row: &AnyRow) -> Result<MessageRow, StoreError> {
    let remote_sender: Option<String> = row.try_get("remote_sender")?;
    Ok(MessageRow {
        portal: {
            let (receiver, login) = decode::receiver_from_db(row.try_get("receiver")?)?;
            PortalKey {
                chat: RemoteChatId(row.try_get("chat")?),
                receiver,
                login,
            }
        },
        remote_id: RemoteMessageId(row.try_get("remote_id")?),
        event_id: decode::id("messages.event_id", row.try_get("event_id")?)?,
        room_id: decode::id("messages.room_id", row.try_get("room_id")?)?,
        remote_sender: remote_sender.map(RemoteUserId),
        sender: decode::id("messages.sender", row.try_get("sender")?)?,
        timestamp_ms: row.try_get("timestamp_ms")?,
    })
}

impl Store {
    /// Records a bridged message; a duplicate (same portal and remote ID, or same event ID)
    /// is ignored and returns `false`.
    pub async fn insert_message(&self, msg: &MessageRow) -> Result<bool, StoreError> {
        let _timer = crate::metrics::db_timer("insert_message");
        insert_message_on(self.pool(), msg).await
    }

    /// Finishes an inbox event and records the message it was delivered as, in one group
    /// commit (see `bookkeeping`): never one without the other. Await the result to know it is
    /// written, or drop it to go on at once.
    pub fn finish_inbox_with(&self, inbox_id: i64, msg: Option<MessageRow>) -> Committed {
        let mut writes: Vec<Write> = msg.map(Write::Message).into_iter().collect();
        writes.push(Write::FinishInbox(inbox_id));
        self.bookkeep(writes)
    }

    pub async fn message_by_remote(
        &self,
        portal: &PortalKey,
        remote: &RemoteMessageId,
    ) -> Result<Option<MessageRow>, StoreError> {
        if let Some(row) = self.inner.bookkeeper.pending_by_remote(portal, remote) {
            return Ok(Some(row));
        }
        let _timer = crate::metrics::db_timer("message_by_remote");
        let row = sqlx::query(select_messages!(
            "WHERE chat = $1 AND receiver = $2 AND remote_id = $3"
        ))
        .bind(portal.chat.as_str())
        .bind(decode::receiver_to_db(portal))
        .bind(remote.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The newest message of `portal` by timestamp (where its history continues). Reads the
    /// database only: flush first if the last rows may still be queued.
    pub async fn newest_message(
        &self,
        portal: &PortalKey,
    ) -> Result<Option<MessageRow>, StoreError> {
        let _timer = crate::metrics::db_timer("newest_message");
        let row = sqlx::query(select_messages!(
            "WHERE chat = $1 AND receiver = $2 ORDER BY timestamp_ms DESC LIMIT 1"
        ))
        .bind(portal.chat.as_str())
        .bind(decode::receiver_to_db(portal))
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn message_by_event(
        &self,
        event: &OwnedEventId,
    ) -> Result<Option<MessageRow>, StoreError> {
        if let Some(row) = self.inner.bookkeeper.pending_by_event(event) {
            return Ok(Some(row));
        }
        let _timer = crate::metrics::db_timer("message_by_event");
        let row = sqlx::query(select_messages!("WHERE event_id = $1"))
            .bind(event.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Forgets a bridged message (after queued bookkeeping, so a row still on its way to the
    /// database is not written back after the delete).
    pub async fn delete_message_by_event(&self, event: &OwnedEventId) -> Result<(), StoreError> {
        self.flush().await?;
        let _timer = crate::metrics::db_timer("delete_message_by_event");
        sqlx::query("DELETE FROM messages WHERE event_id = $1")
            .bind(event.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

async fn insert_message_on<'e, E>(exec: E, msg: &MessageRow) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let query = sqlx::query(
        "INSERT INTO messages (chat, receiver, remote_id, event_id, room_id, remote_sender, \
         sender, timestamp_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    );
    let done = bind_message(query, msg).execute(exec).await?;
    Ok(done.rows_affected() == 1)
}

/// Binds `msg`'s eight columns, in the order of the `messages` inserts.
pub(super) fn bind_message<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    msg: &'q MessageRow,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(msg.portal.chat.as_str())
        .bind(decode::receiver_to_db(&msg.portal))
        .bind(msg.remote_id.as_str())
        .bind(msg.event_id.as_str())
        .bind(msg.room_id.as_str())
        .bind(msg.remote_sender.as_ref().map(|s| s.as_str()))
        .bind(msg.sender.as_str())
        .bind(msg.timestamp_ms)
}
