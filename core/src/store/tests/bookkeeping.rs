//! Group commit: writes queued without waiting are visible to message-map reads at once,
//! written by the next flush, survive a restart of the store, and one failing write does not
//! fail the others batched with it.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use super::{event, for_each_backend};
use crate::ids::{PortalKey, RemoteMessageId};
use crate::store::{Backend, MessageRow, TxnOutcome, Write};

fn row(n: usize) -> MessageRow {
    MessageRow {
        portal: PortalKey::shared("chat"),
        remote_id: RemoteMessageId::new(format!("r{n}")),
        event_id: event(&format!("$e{n}")),
        room_id: ruma::RoomId::parse("!room").unwrap(),
        remote_sender: None,
        sender: ruma::UserId::parse("@u:hs").unwrap(),
        timestamp_ms: n as i64,
    }
}

async fn inbox_ids(store: &crate::store::Store, txn: &str, n: usize) -> Vec<i64> {
    let events: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"event_id":"${txn}{i}"}}"#))
        .collect();
    match store.record_transaction(txn, &events).await.unwrap() {
        TxnOutcome::New(ids) => ids,
        TxnOutcome::Duplicate => panic!("new transaction expected"),
    }
}

#[tokio::test]
async fn queued_writes_are_read_back_at_once_and_written_by_a_flush() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let ids = inbox_ids(&store, "t", 300).await;
        // Many requests in flight at once: they share commits.
        for (n, id) in ids.iter().enumerate() {
            drop(store.bookkeep(vec![Write::Message(row(n)), Write::FinishInbox(*id)]));
            let seen = store.message_by_event(&row(n).event_id).await.unwrap();
            assert_eq!(
                seen,
                Some(row(n)),
                "a queued row is read back before its commit"
            );
            let by_remote = store
                .message_by_remote(&row(n).portal, &row(n).remote_id)
                .await
                .unwrap();
            assert_eq!(by_remote.map(|r| r.event_id), Some(row(n).event_id));
        }
        store.flush().await.unwrap();
        assert!(store.pending_inbox().await.unwrap().is_empty());
        drop(store);
        let store = db.connect().await;
        for n in [0, 150, 299] {
            assert_eq!(
                store.message_by_event(&row(n).event_id).await.unwrap(),
                Some(row(n))
            );
        }
        // A row deleted right after it was queued stays deleted.
        drop(store.bookkeep(vec![Write::Message(row(1000))]));
        store
            .delete_message_by_event(&row(1000).event_id)
            .await
            .unwrap();
        store.flush().await.unwrap();
        assert_eq!(
            store.message_by_event(&row(1000).event_id).await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn a_failing_write_does_not_fail_its_batch() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let ids = inbox_ids(&store, "f", 2).await;
        // The journal table is gone: a journal finish fails, everything else must not.
        sqlx::query("DROP TABLE remote_journal")
            .execute(store.pool())
            .await
            .unwrap();
        let good = store.bookkeep(vec![Write::FinishInbox(ids[0])]);
        let bad = store.bookkeep(vec![Write::FinishRemote(7)]);
        let good2 = store.bookkeep(vec![Write::Message(row(1)), Write::FinishInbox(ids[1])]);
        assert!(good.await.is_ok());
        assert!(bad.await.is_err());
        assert!(good2.await.is_ok());
        assert!(store.pending_inbox().await.unwrap().is_empty());
        assert_eq!(
            store.message_by_event(&row(1).event_id).await.unwrap(),
            Some(row(1))
        );
    })
    .await;
}

#[tokio::test]
async fn an_early_lookup_learns_of_rows_committed_after_it() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        store.bookkeep(vec![Write::Message(row(0))]).await.unwrap();
        let keys: Vec<_> = (0..3).map(row).collect();
        let refs: Vec<_> = keys.iter().map(|r| (&r.portal, &r.remote_id)).collect();
        let early = store.look_up_early(&refs).await.unwrap();
        assert_eq!(
            early.iter().map(|e| e.found).collect::<Vec<_>>(),
            [true, false, false]
        );
        // r1 is recorded and committed after the lookup read the database: still known.
        store.bookkeep(vec![Write::Message(row(1))]).await.unwrap();
        for (n, lookup) in early.iter().enumerate() {
            let bridged = store
                .is_bridged(&keys[n].portal, &keys[n].remote_id, Some(*lookup))
                .await
                .unwrap();
            assert_eq!(bridged, n < 2, "r{n}");
        }
        // r2 queued, not committed yet: known too.
        drop(store.bookkeep(vec![Write::Message(row(2))]));
        assert!(
            store
                .is_bridged(&keys[2].portal, &keys[2].remote_id, Some(early[2]))
                .await
                .unwrap()
        );
        // Without an early lookup, the database (or the queued rows) answer.
        store.flush().await.unwrap();
        let unknown = row(9);
        assert!(
            !store
                .is_bridged(&unknown.portal, &unknown.remote_id, None)
                .await
                .unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn an_early_lookup_probes_the_key_once_the_table_has_grown() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        // Enough rows for the store's own first analysis (see `statistics`).
        let rows: Vec<_> = (0..2_000).map(|n| Write::Message(row(n))).collect();
        store.bookkeep(rows).await.unwrap();
        let keys: Vec<_> = [5, 1_999, 2_000, 7].map(row).into_iter().collect();
        let refs: Vec<_> = keys.iter().map(|r| (&r.portal, &r.remote_id)).collect();
        let early = store.look_up_early(&refs).await.unwrap();
        assert_eq!(
            early.iter().map(|e| e.found).collect::<Vec<_>>(),
            [true, true, false, true]
        );
        if db.backend != Backend::Postgres {
            return;
        }
        // The plan PostgreSQL caches for the statement: one index probe per ID, not a filter
        // over the portal's 2,000 rows (what it chose before the table had statistics).
        let mut conn = PgConnection::connect(&db.uri).await.unwrap();
        let sql = crate::store::messages::early_lookup_sql(4);
        for statement in [
            "SET plan_cache_mode = force_generic_plan".to_owned(),
            format!("PREPARE early (text, text, text, text, text, text) AS {sql}"),
        ] {
            conn.execute(AssertSqlSafe(statement)).await.unwrap();
        }
        let plan: Vec<String> =
            sqlx::query_scalar("EXPLAIN EXECUTE early ('chat', '', 'r5', 'r1999', 'r2000', 'r7')")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("remote_id = ANY"), "{plan}");
        assert!(!plan.contains("Filter"), "{plan}");
    })
    .await;
}
