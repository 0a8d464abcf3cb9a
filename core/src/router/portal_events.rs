//! Matrix → remote: events in portal rooms become [`MatrixEvent`]s for the network. What the
//! network can't deliver comes back to the sender as a notice; nothing is dropped silently.

use ruma::OwnedEventId;

use super::{Handled, RawEvent, Router};
use crate::events::{
    ChatInfo, Delivered, DeliveryError, MatrixEvent, MatrixEventKind, MembershipChange,
    PendingDelivery, ReplyTarget,
};
use crate::ids::RemoteMessageId;
use crate::matrix::convert::{from_matrix_content, room_avatar};
use crate::matrix::polls;
use crate::matrix::retry::{Decision, Outcome, RetryPolicy};
use crate::metrics::{self, Direction, FailureReason};
use crate::portal::Portal;
use crate::seam::PermissionLevel;
use crate::store::MessageRow;
use std::time::{Duration, Instant};

/// The end of one delivery attempt, retries included.
enum Delivery {
    Done(Option<MessageRow>),
    /// Queued by the network, which confirms later: the inbox row is finished after that.
    Pending(Option<MessageRow>, Verdict),
    Parked,
}

/// Resolves once the network's verdict on a pending message is known (and told, if negative),
/// with the remote ID the network confirmed it under, if it has one.
pub(crate) type Verdict = futures::future::BoxFuture<'static, Option<RemoteMessageId>>;

/// Why [`Router::handle_with_retry`] gave up.
pub(super) enum Retry {
    Failed(DeliveryError),
    Parked,
}

/// Prefix of the message-map ID recorded for messages the network could not give an ID to, so
/// that a replayed transaction still finds them and does not send them twice.
const UNTRACKED_PREFIX: &str = "untracked:";

impl Router {
    /// Delivers a portal event; returns the message-map row to record with the inbox finish.
    pub(super) async fn portal_event(&self, event: RawEvent, portal: Portal) -> Handled {
        match self.deliver(event, portal).await {
            Delivery::Done(row) => Handled::Done(row),
            Delivery::Pending(row, verdict) => Handled::Pending(row, verdict),
            Delivery::Parked => Handled::Parked,
        }
    }

    async fn deliver(&self, event: RawEvent, portal: Portal) -> Delivery {
        // An event replayed from the inbox may have been delivered before the stop: the
        // message map knows. A fresh one is new by its transaction ID; a homeserver repeating
        // it under another ID is caught in memory (see `recent`), which saves a database
        // round trip per message.
        // Replayed events are remembered too, so the outage catch-up does not bring them again.
        let first_time = self.recent.first_time(&event.event_id);
        if !event.replayed && !first_time {
            tracing::debug!("event seen in another transaction; skipping");
            return Delivery::Done(None);
        }
        if event.replayed {
            match self.host.store().message_by_event(&event.event_id).await {
                Ok(Some(_)) => {
                    tracing::debug!("already delivered; skipping replay");
                    return Delivery::Done(None);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "message map lookup failed");
                    self.count_failure(FailureReason::Database);
                    return Delivery::Done(None);
                }
            }
        }
        let level = self.host.permissions().level_of(&event.sender);
        if level < PermissionLevel::Relay {
            if event.is_message() {
                self.count_failure(FailureReason::Forbidden);
                let name = self.host.network_name();
                self.tell_sender(&event, &format!("Your message was not sent to {name}: you are not allowed to use this bridge.")).await;
            }
            return Delivery::Done(None);
        }
        let kind = match self.to_matrix_kind(&event, &portal).await {
            Ok(Some(kind)) => kind,
            Ok(None) => return Delivery::Done(None),
            Err(reason) => {
                self.count_failure(FailureReason::Unreadable);
                self.tell_sender(&event, &reason).await;
                return Delivery::Done(None);
            }
        };
        if !self.supported(&kind) {
            return Delivery::Done(None);
        }
        if matches!(kind, MatrixEventKind::PollVote { .. }) && !self.core.capabilities.polls {
            let name = self.host.network_name();
            let why = format!(
                "Your vote was not counted on {name}: it has no polls (its users got the poll \
                 as text), so say your choice in a message."
            );
            self.tell_sender(&event, &why).await;
            return Delivery::Done(None);
        }
        let Some((sender, kind)) = self.through_relay(&event, &portal, kind).await else {
            return Delivery::Done(None);
        };
        // What the sender is told failed, if it does.
        let what = match kind {
            MatrixEventKind::ChatInfo(_) | MatrixEventKind::GhostMembership { .. } => "change",
            _ => "message",
        };
        let records = matches!(
            kind,
            MatrixEventKind::Message { .. }
                | MatrixEventKind::Edit { .. }
                | MatrixEventKind::Reaction { .. }
        );
        let login = self.chosen_login(&portal, &sender).await;
        let matrix_event = MatrixEvent {
            event_id: event.event_id.clone(),
            sender,
            kind,
            sent_at: event.origin_server_ts,
            // Replayed and not in the message map (checked above).
            maybe_delivered: event.replayed,
            login,
        };
        let remote_id = match self.handle_with_retry(&portal, matrix_event).await {
            Ok(Delivered::As(id)) => id,
            Ok(Delivered::Untracked) => {
                RemoteMessageId::new(format!("{UNTRACKED_PREFIX}{}", event.event_id))
            }
            Ok(Delivered::Pending(pending)) => {
                let row = records.then(|| MessageRow {
                    portal: portal.key().clone(),
                    remote_id: RemoteMessageId::new(format!(
                        "{UNTRACKED_PREFIX}{}",
                        event.event_id
                    )),
                    event_id: event.event_id.clone(),
                    room_id: portal.room_id().clone(),
                    remote_sender: None,
                    sender: event.sender.clone(),
                    timestamp_ms: crate::portal::now_ms(),
                });
                return Delivery::Pending(row, self.verdict(event, pending));
            }
            Ok(Delivered::Ignored) => return Delivery::Done(None),
            Err(Retry::Parked) => return Delivery::Parked,
            Err(Retry::Failed(e)) => {
                self.tell_sender(&event, &self.not_delivered(what, &e))
                    .await;
                return Delivery::Done(None);
            }
        };
        metrics::event_bridged(self.core.network.info().id, Direction::MatrixToNetwork);
        Delivery::Done(records.then(|| MessageRow {
            portal: portal.key().clone(),
            remote_id,
            event_id: event.event_id.clone(),
            room_id: portal.room_id().clone(),
            remote_sender: None,
            sender: event.sender.clone(),
            timestamp_ms: crate::portal::now_ms(),
        }))
    }

    /// Converts a portal event; `Ok(None)` for events the bridge does not carry, `Err` with a
    /// reason for the sender when the event can't be understood.
    async fn to_matrix_kind(
        &self,
        event: &RawEvent,
        portal: &Portal,
    ) -> Result<Option<MatrixEventKind>, String> {
        let store = self.host.store();
        let lookup =
            |id: OwnedEventId| async move { store.message_by_event(&id).await.ok().flatten() };
        Ok(Some(match event.kind.as_str() {
            "m.room.message" | "m.sticker" => {
                let mut parsed = from_matrix_content(&event.content)
                    .map_err(|e| format!("Your message could not be read by the bridge: {e}"))?;
                if event.kind == "m.sticker" {
                    parsed.content.kind = crate::events::MessageKind::Sticker;
                }
                if let Some(media) = parsed.content.media.as_mut() {
                    if let (Some(mxc), None) = (&media.mxc, &media.url) {
                        media.url = Some(self.host.media_url(mxc, Some(&media.filename)));
                    }
                }
                if let Some(original) = parsed.replaces {
                    // An edit of something never bridged has nothing to correct remotely.
                    let Some(row) = lookup(original).await else {
                        return Ok(None);
                    };
                    MatrixEventKind::Edit {
                        target: row.remote_id,
                        content: parsed.content,
                    }
                } else {
                    let reply_to = match parsed.reply_to {
                        Some(id) => lookup(id).await.map(|row| ReplyTarget {
                            message: row.remote_id,
                            sender: row.remote_sender,
                            excerpt: None,
                        }),
                        None => None,
                    };
                    MatrixEventKind::Message {
                        content: parsed.content,
                        reply_to,
                    }
                }
            }
            kind if polls::is_poll_start(kind) => MatrixEventKind::Message {
                content: polls::from_poll_start(&event.content)
                    .map_err(|e| format!("Your poll could not be read by the bridge: {e}"))?,
                reply_to: None,
            },
            kind if polls::is_poll_response(kind) => {
                let (poll, answers) = polls::from_poll_response(&event.content)
                    .map_err(|e| format!("Your vote could not be read by the bridge: {e}"))?;
                // A vote in a poll that never reached the network has nothing to count it.
                let Some(row) = lookup(poll).await else {
                    return Ok(None);
                };
                MatrixEventKind::PollVote {
                    target: row.remote_id,
                    answers,
                }
            }
            "m.reaction" => {
                let rel = event.content.get("m.relates_to");
                let target = rel
                    .and_then(|r| r.get("event_id"))
                    .and_then(|e| e.as_str())
                    .and_then(|e| ruma::EventId::parse(e).ok());
                let key = rel.and_then(|r| r.get("key")).and_then(|k| k.as_str());
                let (Some(target), Some(key)) = (target, key) else {
                    return Ok(None);
                };
                let Some(row) = lookup(target).await else {
                    return Ok(None);
                };
                MatrixEventKind::Reaction {
                    target: row.remote_id,
                    key: key.to_owned(),
                }
            }
            "m.room.redaction" => {
                let Some(target) = event.redacts() else {
                    return Ok(None);
                };
                let Some(row) = lookup(target).await else {
                    return Ok(None);
                };
                let reason = event.content_str("reason").map(str::to_owned);
                MatrixEventKind::Redaction {
                    target: row.remote_id,
                    reason,
                }
            }
            "m.room.member" => {
                let Some(target) = event.state_user() else {
                    return Ok(None);
                };
                let reason = event.content_str("reason").map(str::to_owned);
                let membership = event.membership().unwrap_or_default();
                if target == event.sender {
                    match membership {
                        "join" => MatrixEventKind::Membership {
                            change: MembershipChange::Join,
                        },
                        "leave" => MatrixEventKind::Membership {
                            change: MembershipChange::Leave { reason },
                        },
                        _ => return Ok(None),
                    }
                } else {
                    let Some(ghost) = self.host.ghosts().remote_of(&target) else {
                        return Ok(None);
                    };
                    let change = match membership {
                        "leave" => MembershipChange::Kick { by: None, reason },
                        "ban" => MembershipChange::Ban { by: None, reason },
                        _ => return Ok(None),
                    };
                    MatrixEventKind::GhostMembership { ghost, change }
                }
            }
            "m.room.topic" => {
                let topic = event.content_str("topic").unwrap_or_default();
                MatrixEventKind::ChatInfo(ChatInfo {
                    topic: Some(topic.to_owned()),
                    ..ChatInfo::default()
                })
            }
            // The room's picture: the group's, like its name (a plumbed room keeps its own).
            "m.room.avatar" if !portal.row.plumbed => MatrixEventKind::ChatInfo(ChatInfo {
                avatar: Some(room_avatar(&event.content)),
                ..ChatInfo::default()
            }),
            "m.room.name" if !portal.row.plumbed => {
                let name = event.content_str("name").unwrap_or_default();
                MatrixEventKind::ChatInfo(ChatInfo {
                    name: Some(name.to_owned()),
                    ..ChatInfo::default()
                })
            }
            _ => return Ok(None),
        }))
    }

    /// Hands `event` to the network; a retryable failure (connection not up yet) is retried with
    /// the one backoff policy for `limits.delivery_retry_secs` before it counts as failed, so
    /// events replayed at start-up wait for their connection instead of becoming notices.
    /// Shutdown stops the retrying and parks the event in the inbox.
    pub(super) async fn handle_with_retry(
        &self,
        portal: &Portal,
        event: MatrixEvent,
    ) -> Result<Delivered, Retry> {
        let policy = RetryPolicy {
            max_attempts: u32::MAX,
            max_total: self.host.limits().delivery_retry(),
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let e = match self
                .core
                .network
                .handle_matrix_event(portal, event.clone())
                .await
            {
                Err(e) if e.retryable => e,
                Err(e) => return Err(Retry::Failed(e)),
                Ok(delivered) => return Ok(delivered),
            };
            let decision = policy.decide(
                attempt,
                started.elapsed(),
                &Outcome::Transport,
                rand::random::<f64>(),
            );
            let Decision::Retry(wait) = decision else {
                return Err(Retry::Failed(e));
            };
            tracing::debug!(attempt, reason = %e.reason, ?wait, "delivery failed for now; retrying");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.host.tasks().stopping() => return Err(Retry::Parked),
            }
        }
    }

    /// Whether the network takes this kind of event at all (no noise for what it lacks).
    fn supported(&self, kind: &MatrixEventKind) -> bool {
        let caps = &self.core.capabilities;
        match kind {
            MatrixEventKind::Edit { .. } => caps.edits,
            MatrixEventKind::Redaction { .. } => caps.redactions,
            MatrixEventKind::Reaction { .. } => caps.reactions,
            MatrixEventKind::Typing { .. } => caps.typing,
            MatrixEventKind::ReadReceipt { .. } => caps.read_receipts,
            _ => true,
        }
    }

    /// A notice to the sender of `event`, in reply to it, in its room.
    /// The notice text for a failed delivery.
    fn not_delivered(&self, what: &str, e: &DeliveryError) -> String {
        self.count_failure(if e.retryable {
            FailureReason::NetworkTransient
        } else {
            FailureReason::NetworkPermanent
        });
        let name = self.host.network_name();
        tracing::info!(reason = %e.reason, "delivery failed; telling the sender");
        format!("⚠️ Your {what} was not delivered to {name}: {}", e.reason)
    }

    /// The network's later verdict on a [`Delivered::Pending`] message, awaited off the portal
    /// queue; a refusal becomes the same notice a synchronous failure gets.
    fn verdict(&self, event: RawEvent, pending: PendingDelivery) -> Verdict {
        let this = self.clone();
        Box::pin(async move {
            match pending.remote_id().await {
                Ok(id) => id,
                Err(e) => {
                    this.tell_sender(&event, &this.not_delivered("message", &e))
                        .await;
                    None
                }
            }
        })
    }

    fn count_failure(&self, reason: FailureReason) {
        metrics::delivery_failed(self.core.network.info().id, reason);
    }

    pub(super) async fn tell_sender(&self, event: &RawEvent, text: &str) {
        if let Err(e) = self
            .host
            .notices()
            .send(&event.room_id, text, None, Some(&event.event_id))
            .await
        {
            tracing::error!(error = %e, "could not send failure notice: {text}");
        }
    }
}
