//! Transaction dedupe and the inbox, including restarts and crashes.

use super::for_each_backend;
use crate::store::txns::dedupe_key;
use crate::store::{InboxEvent, TxnOutcome};

fn events(n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| format!(r#"{{"type":"m.room.message","n":{i},"tag":"{tag}"}}"#))
        .collect()
}

fn new_ids(outcome: TxnOutcome) -> Vec<i64> {
    match outcome {
        TxnOutcome::New(ids) => ids,
        TxnOutcome::Duplicate => panic!("expected a new transaction"),
    }
}

#[tokio::test]
async fn dedupe_and_inbox_order() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let first = events(3, "t1");
        let ids = new_ids(store.record_transaction("t1", &first).await.unwrap());
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

        // A replay is refused and adds nothing.
        assert_eq!(
            store.record_transaction("t1", &first).await.unwrap(),
            TxnOutcome::Duplicate
        );
        // The same ID with other events: a homeserver that restarted its numbering. New.
        let reused = new_ids(
            store
                .record_transaction("t1", &[r#"{"event_id":"$new"}"#.to_owned()])
                .await
                .unwrap(),
        );
        store.finish_inbox(reused[0]).await.unwrap();
        // An empty transaction is still remembered.
        assert_eq!(
            store.record_transaction("t2", &[]).await.unwrap(),
            TxnOutcome::New(vec![])
        );
        assert_eq!(
            store.record_transaction("t2", &[]).await.unwrap(),
            TxnOutcome::Duplicate
        );
        let later = new_ids(
            store
                .record_transaction("t3", &events(2, "t3"))
                .await
                .unwrap(),
        );
        assert!(later[0] > ids[2]);

        let pending = store.pending_inbox().await.unwrap();
        let expected: Vec<InboxEvent> = ids
            .iter()
            .zip(&first)
            .map(|(id, json)| (*id, dedupe_key("t1", &first), json.clone()))
            .chain(
                later
                    .iter()
                    .zip(events(2, "t3"))
                    .map(|(id, j)| (*id, dedupe_key("t3", &events(2, "t3")), j)),
            )
            .map(|(id, txn_id, json)| InboxEvent { id, txn_id, json })
            .collect();
        assert_eq!(pending, expected);

        store.finish_inbox(ids[1]).await.unwrap();
        store.finish_inbox(ids[1]).await.unwrap(); // twice is fine
        store.finish_inbox(-42).await.unwrap(); // unknown is fine
        let left: Vec<i64> = store
            .pending_inbox()
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(left, vec![ids[0], ids[2], later[0], later[1]]);
    })
    .await;
}

#[tokio::test]
async fn restart_keeps_dedupe_and_pending_events() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let ids = new_ids(
            store
                .record_transaction("t1", &events(2, "a"))
                .await
                .unwrap(),
        );
        store.finish_inbox(ids[0]).await.unwrap();
        // "Crash": the second event was never finished.
        drop(store);

        let store = db.connect().await;
        assert_eq!(
            store
                .record_transaction("t1", &events(2, "a"))
                .await
                .unwrap(),
            TxnOutcome::Duplicate
        );
        let pending = store.pending_inbox().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].id, ids[1]);
        assert_eq!(pending[0].json, events(2, "a")[1]);
        store.finish_inbox(ids[1]).await.unwrap();
        store.close().await;

        let store = db.connect().await;
        assert!(store.pending_inbox().await.unwrap().is_empty());
        // IDs are never reused after deletion, so inbox order stays arrival order.
        let next = new_ids(
            store
                .record_transaction("t2", &events(1, "b"))
                .await
                .unwrap(),
        );
        assert!(next[0] > ids[1], "{next:?} after {ids:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replays_record_once() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.record_transaction("same", &events(3, "x")).await })
            })
            .collect();
        let mut new = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                TxnOutcome::New(ids) => {
                    assert_eq!(ids.len(), 3);
                    new += 1;
                }
                TxnOutcome::Duplicate => {}
            }
        }
        assert_eq!(new, 1);
        assert_eq!(store.pending_inbox().await.unwrap().len(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_transactions_all_commit() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let txn = format!("txn{i}");
                    let ids = new_ids(store.record_transaction(&txn, &events(3, &txn)).await?);
                    for id in &ids[..2] {
                        store.finish_inbox(*id).await?;
                    }
                    Ok::<_, crate::store::StoreError>(ids)
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            let ids = task
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{:?}: {e}", db.backend));
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
            all.push(ids[2]);
        }
        all.sort_unstable();
        let pending: Vec<i64> = store
            .pending_inbox()
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(pending, all);
    })
    .await;
}

#[tokio::test]
async fn prune_forgets_only_old_finished_transactions() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let done = new_ids(
            store
                .record_transaction("done", &events(1, "d"))
                .await
                .unwrap(),
        );
        store.finish_inbox(done[0]).await.unwrap();
        store
            .record_transaction("pending", &events(1, "p"))
            .await
            .unwrap();

        // Nothing is older than the epoch.
        assert_eq!(store.prune_transactions(0).await.unwrap(), 0);
        // Everything is older than the far future, but "pending" still has an event.
        assert_eq!(store.prune_transactions(i64::MAX).await.unwrap(), 1);
        assert_eq!(
            store
                .record_transaction("pending", &events(1, "p"))
                .await
                .unwrap(),
            TxnOutcome::Duplicate
        );
        assert!(matches!(
            store
                .record_transaction("done", &events(1, "d"))
                .await
                .unwrap(),
            TxnOutcome::New(_)
        ));
    })
    .await;
}

#[tokio::test]
async fn finishing_an_event_records_its_message_in_the_same_transaction() {
    use crate::ids::{PortalKey, RemoteMessageId};
    use crate::store::MessageRow;
    for_each_backend(async |db| {
        let store = db.connect().await;
        let ids = new_ids(
            store
                .record_transaction("t-finish", &events(2, "f"))
                .await
                .unwrap(),
        );
        let row = MessageRow {
            portal: PortalKey::shared("chat"),
            remote_id: RemoteMessageId::new("r1"),
            event_id: ruma::EventId::parse("$e1").unwrap(),
            room_id: ruma::RoomId::parse("!room").unwrap(),
            remote_sender: None,
            sender: ruma::UserId::parse("@u:hs").unwrap(),
            timestamp_ms: 1,
        };
        store
            .finish_inbox_with(ids[0], Some(row.clone()))
            .await
            .unwrap();
        store.finish_inbox_with(ids[1], None).await.unwrap();
        assert!(store.pending_inbox().await.unwrap().is_empty());
        assert_eq!(
            store.message_by_event(&row.event_id).await.unwrap(),
            Some(row.clone())
        );
        // A replayed delivery records nothing twice and still finishes.
        let again = new_ids(
            store
                .record_transaction("t-finish-2", &events(1, "g"))
                .await
                .unwrap(),
        );
        store
            .finish_inbox_with(again[0], Some(row.clone()))
            .await
            .unwrap();
        assert!(store.pending_inbox().await.unwrap().is_empty());
    })
    .await;
}
