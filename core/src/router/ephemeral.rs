//! Ephemeral events (MSC2409, sent when the registration sets `receive_ephemeral`): typing and
//! read receipts of Matrix users in portals, for networks that show them. They have no event ID
//! and are never in the message map; the network gets a locally made ID it can ignore.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use serde::Deserialize;

use super::Router;
use crate::events::{MatrixEvent, MatrixEventKind};
use crate::portal::{Portal, QueueKey};

/// An ephemeral event as the homeserver pushes it.
#[derive(Debug, Deserialize)]
pub(crate) struct EphemeralEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub room_id: OwnedRoomId,
    #[serde(default)]
    pub content: serde_json::Value,
}

/// Who was typing in each room, to turn the homeserver's "these users type now" into
/// started/stopped changes.
#[derive(Default)]
pub(crate) struct TypingState {
    rooms: Mutex<HashMap<OwnedRoomId, HashSet<OwnedUserId>>>,
}

impl TypingState {
    /// The users who started and stopped typing in `room`, given who types now.
    fn update(
        &self,
        room: &OwnedRoomId,
        now: HashSet<OwnedUserId>,
    ) -> (Vec<OwnedUserId>, Vec<OwnedUserId>) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let before = rooms.remove(room).unwrap_or_default();
        let started = now.difference(&before).cloned().collect();
        let stopped = before.difference(&now).cloned().collect();
        if !now.is_empty() {
            rooms.insert(room.clone(), now);
        }
        (started, stopped)
    }
}

impl Router {
    /// Queues an ephemeral event on its portal's queue; other rooms are ignored.
    pub(super) async fn route_ephemeral(&self, event: EphemeralEvent) {
        let caps = self.core.capabilities;
        let wanted = match event.kind.as_str() {
            "m.typing" => caps.typing,
            "m.receipt" => caps.read_receipts,
            _ => false,
        };
        if !wanted {
            return;
        }
        let Ok(Some(portal)) = self.host.portals().by_room(&event.room_id).await else {
            return;
        };
        let this = self.clone();
        self.host
            .portals()
            .queue(QueueKey::Portal(portal.key().clone()), async move {
                this.handle_ephemeral(event, portal).await;
            });
    }

    async fn handle_ephemeral(&self, event: EphemeralEvent, portal: Portal) {
        let mut changes: Vec<(OwnedUserId, MatrixEventKind)> = Vec::new();
        match event.kind.as_str() {
            "m.typing" => {
                let now: HashSet<OwnedUserId> = event
                    .content
                    .get("user_ids")
                    .and_then(|u| serde_json::from_value::<Vec<OwnedUserId>>(u.clone()).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|u| !self.is_ours(u))
                    .collect();
                let (started, stopped) = self.typing.update(&event.room_id, now);
                changes.extend(
                    started
                        .into_iter()
                        .map(|u| (u, MatrixEventKind::Typing { typing: true })),
                );
                changes.extend(
                    stopped
                        .into_iter()
                        .map(|u| (u, MatrixEventKind::Typing { typing: false })),
                );
            }
            "m.receipt" => {
                let Some(receipts) = event.content.as_object() else {
                    return;
                };
                for (event_id, by_type) in receipts {
                    let Ok(event_id) = ruma::EventId::parse(event_id) else {
                        continue;
                    };
                    let Ok(Some(row)) = self.host.store().message_by_event(&event_id).await else {
                        continue;
                    };
                    let Some(readers) = by_type.get("m.read").and_then(|r| r.as_object()) else {
                        continue;
                    };
                    for reader in readers.keys() {
                        let Ok(user) = ruma::UserId::parse(reader) else {
                            continue;
                        };
                        if !self.is_ours(&user) {
                            changes.push((
                                user,
                                MatrixEventKind::ReadReceipt {
                                    up_to: row.remote_id.clone(),
                                },
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
        for (sender, kind) in changes {
            let login = self.chosen_login(&portal, &sender).await;
            let event = MatrixEvent {
                event_id: local_event_id(),
                sender,
                kind,
                sent_at: None,
                maybe_delivered: false,
                login,
            };
            if let Err(e) = self.core.network.handle_matrix_event(&portal, event).await {
                // Typing and receipts are best effort: a failure is not worth a notice.
                tracing::debug!(portal = %portal.key(), error = %e, "ephemeral event not delivered");
            }
        }
    }
}

/// A locally made event ID for events that have none.
fn local_event_id() -> OwnedEventId {
    let id = format!("$fb-ephemeral-{}", uuid::Uuid::new_v4().simple());
    ruma::EventId::parse(id)
        .unwrap_or_else(|_| unreachable!("a `$` followed by hex is a valid event ID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> OwnedUserId {
        ruma::UserId::parse(s).unwrap()
    }

    #[test]
    fn typing_changes_are_diffs_of_the_typing_set() {
        let state = TypingState::default();
        let room: OwnedRoomId = ruma::RoomId::parse("!r").unwrap();
        let (started, stopped) = state.update(&room, [user("@a:hs"), user("@b:hs")].into());
        assert_eq!((started.len(), stopped.len()), (2, 0));
        let (started, stopped) = state.update(&room, [user("@b:hs")].into());
        assert_eq!((started, stopped), (vec![], vec![user("@a:hs")]));
        let (started, stopped) = state.update(&room, HashSet::new());
        assert_eq!((started, stopped), (vec![], vec![user("@b:hs")]));
    }

    #[test]
    fn ephemeral_events_parse() {
        let e: EphemeralEvent = serde_json::from_str(
            r#"{"type":"m.typing","room_id":"!r","content":{"user_ids":["@a:hs"]}}"#,
        )
        .unwrap();
        assert_eq!(e.kind, "m.typing");
        assert!(local_event_id().as_str().starts_with("$fb-ephemeral-"));
    }
}
