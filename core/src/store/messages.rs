//! The message map: remote message ID ↔ Matrix event ID, for replies, edits and redactions.

use std::collections::{HashMap, HashSet};

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::decode;
use super::{Committed, EarlyLookup, Store, StoreError, Write};
use crate::ids::{PortalKey, RemoteChatId, RemoteMessageId, RemoteUserId};

/// Most remote IDs in one early lookup query.
const EARLY_PER_QUERY: usize = 64;

/// The early lookup of `ids` remote IDs in one portal: `$1` chat, `$2` receiver, `$3`… the
/// IDs. (PostgreSQL answers it with one probe of the primary key per ID once it has
/// statistics for the table; see `statistics`.)
pub(super) fn early_lookup_sql(ids: usize) -> String {
    let list: Vec<String> = (3..ids + 3).map(|i| format!("${i}")).collect();
    format!(
        "SELECT remote_id FROM messages WHERE chat = $1 AND receiver = $2 AND remote_id IN ({})",
        list.join(", ")
    )
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
        let inserted = insert_message_on(self.pool(), msg).await?;
        self.inner.bookkeeper.committed_elsewhere(msg);
        Ok(inserted)
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

    /// Looks remote messages up in the message map ahead of their turn on their portal queues,
    /// so the lookups overlap what runs before them, and many take one query per portal;
    /// [`Store::is_bridged`] completes each at its turn. Answers in the order of `keys`.
    pub async fn look_up_early(
        &self,
        keys: &[(&PortalKey, &RemoteMessageId)],
    ) -> Result<Vec<EarlyLookup>, StoreError> {
        let after_commit = self.inner.bookkeeper.mark();
        let mut found: HashSet<(&PortalKey, &RemoteMessageId)> = HashSet::new();
        let mut by_portal: HashMap<&PortalKey, Vec<&RemoteMessageId>> = HashMap::new();
        for &(portal, remote) in keys {
            if self.inner.bookkeeper.is_pending(portal, remote) {
                found.insert((portal, remote));
            } else {
                by_portal.entry(portal).or_default().push(remote);
            }
        }
        let _timer = (!by_portal.is_empty()).then(|| crate::metrics::db_timer("look_up_early"));
        for (portal, remotes) in by_portal {
            for chunk in remotes.chunks(EARLY_PER_QUERY) {
                // Padded with the last ID: few statement shapes to prepare.
                let len = super::bookkeeping::padded(chunk.len(), EARLY_PER_QUERY);
                let sql = early_lookup_sql(len);
                let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                    .bind(portal.chat.as_str())
                    .bind(decode::receiver_to_db(portal));
                for i in 0..len {
                    query = query.bind(chunk[i.min(chunk.len() - 1)].as_str());
                }
                let known: HashSet<String> =
                    query.fetch_all(self.pool()).await?.into_iter().collect();
                for &remote in chunk {
                    if known.contains(remote.as_str()) {
                        found.insert((portal, remote));
                    }
                }
            }
        }
        Ok(keys
            .iter()
            .map(|key| EarlyLookup {
                after_commit,
                found: found.contains(key),
            })
            .collect())
    }

    /// Whether a remote message is in the message map (bridged already). With an early lookup,
    /// answered from memory unless something committed since may have recorded it.
    pub async fn is_bridged(
        &self,
        portal: &PortalKey,
        remote: &RemoteMessageId,
        early: Option<EarlyLookup>,
    ) -> Result<bool, StoreError> {
        if let Some(known) =
            early.and_then(|lookup| self.inner.bookkeeper.settles(lookup, portal, remote))
        {
            return Ok(known);
        }
        Ok(self.message_by_remote(portal, remote).await?.is_some())
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
