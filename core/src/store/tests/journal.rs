//! The remote journal: order, replay after a restart, finishing, inline bytes and bad rows.

use super::for_each_backend;
use crate::events::{Media, MessageContent, MessageKind, RemoteEvent, RemoteEventKind};
use crate::ids::{PortalKey, RemoteChatId, RemoteMessageId, RemoteUserId};

fn message(n: usize) -> RemoteEvent {
    RemoteEvent {
        portal: PortalKey::shared(RemoteChatId::new("#chan")),
        kind: RemoteEventKind::Message {
            id: RemoteMessageId::new(format!("m{n}")),
            sender: RemoteUserId::new("bob"),
            content: MessageContent::text(format!("line {n}")),
            reply_to: None,
            sent_at: None,
        },
    }
}

fn body(event: &RemoteEvent) -> String {
    match &event.kind {
        RemoteEventKind::Message { content, .. } => content.body.clone(),
        other => panic!("not a message: {other:?}"),
    }
}

#[tokio::test]
async fn journal_replays_in_order_after_a_restart_until_finished() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(store.journal_remote(&message(n)).await.unwrap());
        }
        store.finish_remote(ids[1]).await.unwrap();
        drop(store);

        let store = db.connect().await;
        let pending = store.pending_remote().await.unwrap();
        let bodies: Vec<String> = pending.iter().map(|j| body(&j.event)).collect();
        assert_eq!(bodies, ["line 0", "line 2"]);
        assert_eq!(pending[0].id, ids[0]);
        for j in &pending {
            store.finish_remote(j.id).await.unwrap();
        }
        // Finishing twice or an unknown row is harmless.
        store.finish_remote(ids[0]).await.unwrap();
        assert!(store.pending_remote().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn inline_media_bytes_survive_the_journal() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        let mut content = MessageContent::text("photo.jpg");
        content.kind = MessageKind::Image;
        content.media = Some(Media {
            data: Some(bytes::Bytes::from_static(b"\x00\xffjpeg")),
            filename: "photo.jpg".into(),
            mimetype: Some("image/jpeg".into()),
            ..Media::removal()
        });
        let mut event = message(0);
        if let RemoteEventKind::Message { content: c, .. } = &mut event.kind {
            *c = content.clone();
        }
        store.journal_remote(&event).await.unwrap();
        let pending = store.pending_remote().await.unwrap();
        match &pending[0].event.kind {
            RemoteEventKind::Message { content: c, .. } => assert_eq!(c, &content),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn an_unreadable_row_is_dropped_not_fatal() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        sqlx::query("INSERT INTO remote_journal (json) VALUES ($1)")
            .bind("{\"not\": \"an event\"}")
            .execute(store.pool())
            .await
            .unwrap();
        store.journal_remote(&message(7)).await.unwrap();
        let pending = store.pending_remote().await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(body(&pending[0].event), "line 7");
        assert_eq!(store.pending_remote().await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn many_events_journal_in_order_in_one_call() {
    for_each_backend(async |db| {
        let store = db.connect().await;
        // More than one multi-row insert: the IDs must still follow the events' order.
        let events: Vec<RemoteEvent> = (0..150).map(message).collect();
        let refs: Vec<&RemoteEvent> = events.iter().collect();
        let ids = store.journal_remote_many(&refs).await.unwrap();
        assert_eq!(ids.len(), 150);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let few = store.journal_remote_many(&refs[..3]).await.unwrap();
        assert!(few[0] > ids[149] && few.windows(2).all(|w| w[0] < w[1]));
        let pending = store.pending_remote().await.unwrap();
        let bodies: Vec<String> = pending.iter().map(|j| body(&j.event)).collect();
        let expected: Vec<String> = (0..150).chain(0..3).map(|n| format!("line {n}")).collect();
        assert_eq!(bodies, expected);
        assert_eq!(pending[149].id, ids[149]);
    })
    .await;
}
