//! The router: which portal, management room or ghost does an event from the homeserver
//! concern? Each event is queued on the ordered queue of its portal (or of its room, for rooms
//! that are not portals) and its inbox row is finished once handled, so a crash replays it.

mod admission;
mod catchup;
mod dispatch;
mod encrypted;
mod ephemeral;
mod event;
mod members;
mod portal_events;
mod recent;
mod relay;
mod rooms;

use async_trait::async_trait;
use ruma::{RoomAliasId, UserId};

use crate::appservice::{AppserviceHandler, Busy};
use crate::context::Core;
use crate::host::BridgeHost;
use crate::portal::QueueKey;
use crate::store::{InboxEvent, MessageRow};

pub(crate) use event::RawEvent;

/// What became of one event: handled (with the message-map row of a delivered portal
/// message), or parked because the bridge is shutting down, to be replayed at the next start.
pub(crate) enum Handled {
    Done(Option<MessageRow>),
    /// Handed to the network, which confirms later: the inbox row waits for the verdict, so
    /// a crash before it replays the event (at worst a duplicate, never a loss).
    Pending(Option<MessageRow>, portal_events::Verdict),
    Parked,
}

/// Routes appservice events into the core; the [`AppserviceHandler`] of a running bridge.
#[derive(Clone)]
pub struct Router {
    core: Core,
    host: BridgeHost,
    typing: std::sync::Arc<ephemeral::TypingState>,
    recent: std::sync::Arc<recent::RecentEvents>,
    active: std::sync::Arc<catchup::ActiveRooms>,
}

impl Router {
    /// A router over the core services.
    pub(crate) fn new(core: Core) -> Self {
        Self {
            host: core.host.clone(),
            core,
            typing: Default::default(),
            recent: Default::default(),
            active: Default::default(),
        }
    }

    /// Catches up on what the homeserver may have lost, each time it answers again after an
    /// outage (see `catchup`); runs until the bridge stops.
    pub(crate) fn catch_up_after_outages(
        &self,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        catchup::run(self.clone(), self.host.matrix().recoveries())
    }

    /// Queues an event fresh from a transaction and, once handled, removes it from the inbox.
    pub async fn route(&self, inbox: InboxEvent) {
        self.route_inner(inbox, false).await;
    }

    /// As [`Router::route`], for an event left in the inbox by an earlier run: it is checked
    /// against the message map first, since it may have been delivered before the stop.
    pub async fn route_replayed(&self, inbox: InboxEvent) {
        self.route_inner(inbox, true).await;
    }

    async fn route_inner(&self, inbox: InboxEvent, replayed: bool) {
        if !replayed {
            // After a homeserver outage, what the catch-up brings back goes first.
            self.host.matrix().settled(catchup::HOLD_AT_MOST).await;
        }
        let event = match RawEvent::parse(&inbox.json) {
            Ok(mut e) => {
                e.replayed = replayed;
                e
            }
            Err(e) => {
                // Ephemeral events (typing, receipts) have no event ID.
                match serde_json::from_str::<ephemeral::EphemeralEvent>(&inbox.json) {
                    Ok(ephemeral) => self.route_ephemeral(ephemeral).await,
                    Err(_) => {
                        tracing::warn!(txn = %inbox.txn_id, error = %e, "skipping unreadable event")
                    }
                }
                self.finish(inbox.id).await;
                return;
            }
        };
        let portal = match self.host.portals().by_room(&event.room_id).await {
            Ok(p) => p,
            Err(e) => {
                // Leave it in the inbox: it is replayed at the next start.
                tracing::error!(event = %event.event_id, error = %e, "cannot look up portal; event stays in the inbox");
                return;
            }
        };
        let key = match &portal {
            Some(p) => {
                self.active.touch(&event.room_id);
                QueueKey::Portal(p.key().clone())
            }
            None => QueueKey::Room(event.room_id.clone()),
        };
        let this = self.clone();
        let span = tracing::info_span!("event", txn = %inbox.txn_id, event = %event.event_id, kind = %event.kind);
        self.host.portals().queue(
            key,
            tracing::Instrument::instrument(
                async move {
                    // Shutting down: leave the event in the inbox for the next start, so the
                    // queue drains quickly to the remote events behind it.
                    if this.host.tasks().is_stopping() {
                        return;
                    }
                    let Some(event) = this.readable(event).await else {
                        this.finish(inbox.id).await;
                        return;
                    };
                    match this.handle(event, portal).await {
                        Handled::Done(delivered) => this.finish_with(inbox.id, delivered).await,
                        Handled::Pending(mut delivered, verdict) => {
                            let tasks = this.host.tasks().clone();
                            tasks.spawn_uncancelled(async move {
                                // Recorded under the network's ID for it, when it gave one.
                                if let (Some(id), Some(row)) = (verdict.await, delivered.as_mut()) {
                                    row.remote_id = id;
                                }
                                this.finish_with(inbox.id, delivered).await;
                            });
                        }
                        Handled::Parked => {
                            tracing::info!(
                                "shutting down: event stays in the inbox for the next start"
                            )
                        }
                    }
                },
                span,
            ),
        );
    }

    /// Handles one event.
    async fn handle(&self, event: RawEvent, portal: Option<crate::portal::Portal>) -> Handled {
        // Our own users' events come back to us: never bridge them again.
        if self.is_ours(&event.sender)
            || self
                .host
                .ghosts()
                .double_puppets()
                .is_echo(&event.event_id, &event.content)
        {
            return Handled::Done(None);
        }
        if event.kind == "m.room.member"
            && let Some(target) = event.state_user()
            && self.is_ours(&target)
        {
            return self.ours_membership(&event, &target, portal.as_ref()).await;
        }
        // A room may have become a portal while this event waited on the room's queue (a DM
        // linked when the user invited a ghost): look again rather than drop the event.
        let portal = match portal {
            Some(p) => Some(p),
            None => self
                .host
                .portals()
                .by_room(&event.room_id)
                .await
                .ok()
                .flatten(),
        };
        match portal {
            Some(_) if self.refused_plaintext(&event).await => Handled::Done(None),
            Some(portal) => self.portal_event(event, portal).await,
            None => {
                self.room_event(event).await;
                Handled::Done(None)
            }
        }
    }

    /// Whether `user` is the bot or a ghost.
    fn is_ours(&self, user: &UserId) -> bool {
        user == self.host.matrix().bot() || self.host.ghosts().is_ghost(user)
    }

    /// Finishes an inbox event (and records what it was delivered as) in the store's next
    /// group commit, without waiting for it: the portal's queue goes on to the next event, and
    /// the store's writer logs a failure (the event is then replayed after a restart).
    async fn finish_with(&self, id: i64, delivered: Option<MessageRow>) {
        drop(self.host.store().finish_inbox_with(id, delivered));
    }

    async fn finish(&self, id: i64) {
        self.finish_with(id, None).await;
    }
}

#[async_trait]
impl AppserviceHandler for Router {
    fn admit(&self, events: &[String]) -> Result<(), Busy> {
        admission::admit(&self.host, self.core.host.limits(), events)
    }

    async fn dispatch(&self, event: InboxEvent) {
        self.route(event).await;
    }

    fn heard_from_homeserver(&self) {
        self.host.matrix().heard_from();
    }

    async fn device_data(&self, data: crate::appservice::DeviceData) -> Result<(), String> {
        match &self.core.crypto {
            Some(crypto) => crypto.receive(data).await.map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    async fn query_user(&self, user: &UserId) -> bool {
        let Some(remote) = self.host.ghosts().remote_of(user) else {
            return false;
        };
        match self.host.ghosts().ensure(&remote).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(%user, error = %e, "user query failed");
                false
            }
        }
    }

    async fn query_alias(&self, alias: &RoomAliasId) -> bool {
        match self
            .host
            .portals()
            .create_for_alias(alias, &*self.core.network)
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(%alias, error = %e, "alias query failed");
                false
            }
        }
    }
}
