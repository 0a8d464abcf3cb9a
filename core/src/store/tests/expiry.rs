//! Pending expiries: kept across a restart, returned when due, soonest first, moved and deleted.

use super::{event, for_each_backend, room};
use crate::store::ExpiryRow;

fn row(n: u32, at: i64) -> ExpiryRow {
    ExpiryRow {
        event_id: event(&format!("$e{n}:x")),
        room_id: room("!r:x"),
        expires_at_ms: at,
    }
}

#[tokio::test]
async fn expiries_survive_a_restart_and_come_due_in_order() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        assert_eq!(store.next_expiry().await.unwrap(), None);
        store.schedule_expiry(&row(1, 3_000)).await.unwrap();
        store.schedule_expiry(&row(2, 1_000)).await.unwrap();
        store.schedule_expiry(&row(3, 9_000)).await.unwrap();
        // A second timer for the same event moves it.
        store.schedule_expiry(&row(3, 2_000)).await.unwrap();
        drop(store);

        let store = db.connect().await;
        assert_eq!(store.next_expiry().await.unwrap(), Some(1_000));
        let due = store.due_expiries(3_000, 10).await.unwrap();
        assert_eq!(due, vec![row(2, 1_000), row(3, 2_000), row(1, 3_000)]);
        assert_eq!(
            store.due_expiries(3_000, 1).await.unwrap(),
            vec![row(2, 1_000)]
        );
        assert!(store.due_expiries(999, 10).await.unwrap().is_empty());

        store.delete_expiry(&row(2, 0).event_id).await.unwrap();
        assert_eq!(store.next_expiry().await.unwrap(), Some(2_000));
    })
    .await;
}
