//! Applying remote events to Matrix: messages, edits, redactions, reactions, typing, receipts,
//! membership, chat info and profiles, posted by the sender's ghost.

use ruma::{OwnedEventId, OwnedTransactionId};

use super::{Portal, PortalError, Portals};
use crate::events::{ChatInfo, MembershipChange, MessageContent, RemoteEvent, RemoteEventKind};
use crate::ghost::GhostError;
use crate::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use crate::matrix::Intent;
use crate::media_cap::refused_content;
use crate::metrics::{self, Direction, FailureReason};
use crate::network::NetworkHandle;
use crate::store::{EarlyLookup, MessageRow, Write};

/// The Matrix transaction ID a remote message (or reaction) is posted under: the same for
/// every attempt, so a message replayed from the journal after a crash that came between
/// posting and recording it is answered by the homeserver with the first event, not posted
/// twice. (Synapse keeps these for 30 minutes, in memory.)
fn remote_txn(portal: &PortalKey, id: &RemoteMessageId) -> OwnedTransactionId {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(portal.chat.0.as_bytes());
    hash.update([0u8]);
    if let Some(receiver) = &portal.receiver {
        hash.update(receiver.as_bytes());
        if !portal.login.is_first() {
            hash.update(portal.login.get().to_be_bytes());
        }
    }
    hash.update([0u8]);
    hash.update(id.0.as_bytes());
    let hex: String = hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    OwnedTransactionId::from(format!("fbr{hex}"))
}

impl Portals {
    /// Applies one remote event; runs on the portal's queue. Failures are logged: there is no
    /// remote sender to notify, and the queue must go on.
    /// `early`: the message map lookup made when a message was queued.
    pub(super) async fn apply_remote(
        &self,
        event: RemoteEvent,
        early: Option<EarlyLookup>,
        network: &dyn NetworkHandle,
    ) {
        let key = event.portal.clone();
        let id = self.inner.info.id;
        match self.try_apply_remote(event, early, network).await {
            Ok(()) => metrics::event_bridged(id, Direction::NetworkToMatrix),
            Err(e) => {
                metrics::delivery_failed(id, failure_reason(&e));
                tracing::error!(portal = %key, error = %e, "could not bridge remote event to Matrix");
            }
        }
    }

    async fn try_apply_remote(
        &self,
        event: RemoteEvent,
        early: Option<EarlyLookup>,
        network: &dyn NetworkHandle,
    ) -> Result<(), PortalError> {
        let inner = &self.inner;
        // Profile changes concern the ghost, not the room: no portal needed.
        if let RemoteEventKind::Profile { user, profile } = &event.kind {
            inner.ghosts.set_profile(user, profile).await?;
            return Ok(());
        }
        // Events that cannot create a portal are dropped for unknown chats (there is nothing
        // in Matrix they could refer to).
        let creates = matches!(
            event.kind,
            RemoteEventKind::Message { .. }
                | RemoteEventKind::ChatInfo(_)
                | RemoteEventKind::Membership {
                    change: MembershipChange::Join,
                    ..
                }
        );
        let portal = if creates {
            self.get_or_create(&event.portal, network).await?
        } else {
            match self.get(&event.portal).await? {
                Some(p) => p,
                None => return Ok(()),
            }
        };
        // Before the portal's first event in this run: what it missed meanwhile.
        self.catch_up(&portal, network).await;
        self.apply_to(&portal, event, early).await
    }

    /// Applies a remote event to an existing portal (live, replayed or backfilled); `early`
    /// is a message map lookup made before its turn, if any.
    pub(super) async fn apply_to(
        &self,
        portal: &Portal,
        event: RemoteEvent,
        early: Option<EarlyLookup>,
    ) -> Result<(), PortalError> {
        let inner = &self.inner;
        let room = portal.room_id().clone();
        match event.kind {
            RemoteEventKind::Message {
                id,
                sender,
                mut content,
                reply_to,
                sent_at,
            } => {
                if inner.store.is_bridged(portal.key(), &id, early).await? {
                    tracing::debug!(portal = %portal.key(), message = %id, "already bridged; skipping replay");
                    return Ok(());
                }
                let mut speaker = inner.ghosts.speaker(&sender, &room).await?;
                self.upload_media(&room, &mut content).await?;
                let reply = match reply_to {
                    Some(r) => self.event_for(portal, &r).await?,
                    None => None,
                };
                let txn = remote_txn(portal.key(), &id);
                let sent = speaker
                    .send_message_txn(&room, &content, reply.as_ref(), None, &txn, sent_at)
                    .await;
                let event_id = match sent {
                    // The user left the room since: their ghost speaks instead.
                    Err(e) if speaker.is_double_puppet() && e.errcode() == Some("M_FORBIDDEN") => {
                        let dp = inner.ghosts.double_puppets();
                        dp.forget_membership(speaker.user_id(), &room);
                        speaker = inner.ghosts.ensure_joined(&sender, &room).await?;
                        speaker
                            .send_message_txn(&room, &content, reply.as_ref(), None, &txn, sent_at)
                            .await?
                    }
                    sent => sent?,
                };
                self.sent_by(&speaker, &event_id);
                self.record(portal, id, event_id, Some(sender), &speaker, sent_at)
                    .await?;
            }
            RemoteEventKind::Edit {
                target,
                sender,
                mut content,
            } => {
                let Some(original) = self.event_for(portal, &target).await? else {
                    return Ok(());
                };
                let speaker = inner.ghosts.speaker(&sender, &room).await?;
                self.upload_media(&room, &mut content).await?;
                let event_id = speaker
                    .send_message(&room, &content, None, Some(&original))
                    .await?;
                self.sent_by(&speaker, &event_id);
            }
            RemoteEventKind::Redaction { target, sender } => {
                let Some(original) = self.event_for(portal, &target).await? else {
                    return Ok(());
                };
                let speaker = inner.ghosts.speaker(&sender, &room).await?;
                let event_id = speaker.redact(&room, &original, None).await?;
                self.sent_by(&speaker, &event_id);
                inner.store.delete_message_by_event(&original).await?;
            }
            RemoteEventKind::Expire { target, at } => {
                self.schedule_expiry(portal, &target, at).await?
            }
            RemoteEventKind::Reaction {
                id,
                target,
                sender,
                key,
            } => {
                // A replayed reaction that was posted before the crash.
                if inner.store.is_bridged(portal.key(), &id, early).await? {
                    return Ok(());
                }
                let Some(original) = self.event_for(portal, &target).await? else {
                    return Ok(());
                };
                let speaker = inner.ghosts.speaker(&sender, &room).await?;
                let event_id = speaker
                    .react_txn(&room, &original, &key, &remote_txn(portal.key(), &id))
                    .await?;
                self.sent_by(&speaker, &event_id);
                self.record(portal, id, event_id, Some(sender), &speaker, None)
                    .await?;
            }
            RemoteEventKind::PollVote {
                id,
                target,
                sender,
                answers,
            } => {
                let Some(poll) = self.event_for(portal, &target).await? else {
                    return Ok(());
                };
                let speaker = inner.ghosts.speaker(&sender, &room).await?;
                let vote = crate::matrix::polls::to_poll_response(&poll, &answers);
                let txn = remote_txn(portal.key(), &id);
                let event_id = speaker
                    .send_event_txn(&room, crate::matrix::polls::POLL_RESPONSE, &vote, &txn)
                    .await?;
                self.sent_by(&speaker, &event_id);
            }
            RemoteEventKind::Typing { sender, typing } => {
                let ghost = inner.ghosts.ensure_joined(&sender, &room).await?;
                ghost.typing(&room, typing).await?;
            }
            RemoteEventKind::ReadReceipt { sender, up_to } => {
                let Some(event) = self.event_for(portal, &up_to).await? else {
                    return Ok(());
                };
                let ghost = inner.ghosts.ensure_joined(&sender, &room).await?;
                ghost.read_receipt(&room, &event).await?;
            }
            RemoteEventKind::Membership { user, change } => {
                self.apply_membership(portal, user, change).await?
            }
            RemoteEventKind::ChatInfo(info) => self.apply_chat_info(portal, info).await?,
            RemoteEventKind::Notice { body } => {
                let bot = inner.matrix.bot_intent();
                let notice = MessageContent::notice(body);
                if let Err(e) = bot.send_message(&room, &notice, None, None).await {
                    // In a DM that was just linked the bot may not have joined yet.
                    if e.errcode() != Some("M_FORBIDDEN") {
                        return Err(e.into());
                    }
                    bot.join(&room).await?;
                    bot.send_message(&room, &notice, None, None).await?;
                }
            }
            RemoteEventKind::Profile { .. } => unreachable!("handled above"),
        }
        Ok(())
    }

    async fn apply_membership(
        &self,
        portal: &Portal,
        user: RemoteUserId,
        change: MembershipChange,
    ) -> Result<(), PortalError> {
        let inner = &self.inner;
        let room = portal.room_id();
        let ghost_id = inner.ghosts.mxid(&user)?;
        match change {
            MembershipChange::Join => {
                inner.ghosts.ensure_joined(&user, room).await?;
            }
            MembershipChange::Leave { reason } => {
                inner.ghosts.forget_membership(&ghost_id, room);
                inner
                    .matrix
                    .as_user(&ghost_id)
                    .leave(room, reason.as_deref())
                    .await?;
            }
            MembershipChange::Kick { ref by, ref reason }
            | MembershipChange::Ban { ref by, ref reason } => {
                let banned = matches!(change, MembershipChange::Ban { .. });
                inner.ghosts.forget_membership(&ghost_id, room);
                let verb = if banned { "banned" } else { "kicked" };
                let text = match (by, reason) {
                    (Some(by), Some(r)) => format!("{verb} by {by}: {r}"),
                    (Some(by), None) => format!("{verb} by {by}"),
                    (None, Some(r)) => r.clone(),
                    (None, None) => verb.to_owned(),
                };
                // The bot has the power to kick; the reason names the remote kicker.
                let bot = inner.matrix.bot_intent();
                if banned {
                    bot.ban(room, &ghost_id, Some(&text)).await?;
                } else {
                    bot.kick(room, &ghost_id, Some(&text)).await?;
                }
            }
            MembershipChange::Power { level } => {
                inner.ghosts.ensure_joined(&user, room).await?;
                inner
                    .matrix
                    .bot_intent()
                    .set_power_level(room, &ghost_id, level)
                    .await?;
            }
        }
        Ok(())
    }

    async fn apply_chat_info(&self, portal: &Portal, info: ChatInfo) -> Result<(), PortalError> {
        let inner = &self.inner;
        let bot = inner.matrix.bot_intent();
        let room = portal.room_id();
        let mut row = portal.row.clone();
        // A plumbed room keeps its own name and avatar; the topic still follows.
        if let Some(name) = info
            .name
            .filter(|n| !portal.row.plumbed && row.name.as_ref() != Some(n))
        {
            bot.send_state(
                room,
                "m.room.name",
                "",
                &serde_json::json!({ "name": name }),
            )
            .await?;
            row.name = Some(name);
        }
        if let Some(topic) = info.topic.filter(|t| row.topic.as_ref() != Some(t)) {
            bot.send_state(
                room,
                "m.room.topic",
                "",
                &serde_json::json!({ "topic": topic }),
            )
            .await?;
            row.topic = Some(topic);
        }
        if let Some(mut avatar) = info.avatar.filter(|_| !portal.row.plumbed) {
            // The chat's picture was removed: so is the room's.
            if avatar.is_removal() && row.avatar.is_some() {
                bot.send_state(room, "m.room.avatar", "", &serde_json::json!({}))
                    .await?;
                row.avatar = None;
            }
            if avatar.mxc.is_none() {
                if let Some(data) = avatar.data.take().filter(|d| {
                    let fits = inner.media_cap.check(Some(d.len() as u64));
                    if let Err(e) = &fits {
                        tracing::info!(portal = %portal.key(), error = %e, "chat picture not uploaded");
                    }
                    fits.is_ok()
                }) {
                    let mime = avatar
                        .mimetype
                        .as_deref()
                        .unwrap_or("application/octet-stream");
                    avatar.mxc = Some(
                        inner
                            .matrix
                            .upload(data, mime, Some(&avatar.filename))
                            .await?,
                    );
                }
            }
            if let Some(mxc) = avatar.mxc.filter(|m| row.avatar.as_ref() != Some(m)) {
                bot.send_state(
                    room,
                    "m.room.avatar",
                    "",
                    &serde_json::json!({ "url": mxc }),
                )
                .await?;
                row.avatar = Some(mxc);
            }
        }
        if row != portal.row {
            inner.store.update_portal(&row).await?;
            inner.cache.put(&row);
        }
        Ok(())
    }

    /// Uploads media the network handed over as bytes. Bytes over `limits.media_max_bytes`
    /// are not uploaded: the message becomes a notice naming the file, so it still shows.
    async fn upload_media(
        &self,
        room: &ruma::RoomId,
        content: &mut MessageContent,
    ) -> Result<(), PortalError> {
        let over_cap = content.media.as_ref().and_then(|m| {
            let len = m.data.as_ref().filter(|_| m.mxc.is_none())?.len() as u64;
            self.inner.media_cap.check(Some(len)).err()
        });
        if let (Some(e), Some(media)) = (over_cap, content.media.as_ref()) {
            tracing::info!(file = %media.filename, error = %e, "remote file not uploaded");
            *content = refused_content(&media.filename, &content.body, &e);
            return Ok(());
        }
        if let Some(media) = content.media.as_mut() {
            if media.mxc.is_none() {
                if let Some(data) = media.data.take() {
                    let mime = media
                        .mimetype
                        .clone()
                        .unwrap_or_else(|| "application/octet-stream".into());
                    media.size.get_or_insert(data.len() as u64);
                    media.mxc = Some(
                        self.inner
                            .matrix
                            .upload_for_room(room, data, &mime, Some(&media.filename))
                            .await?,
                    );
                }
            }
        }
        Ok(())
    }

    /// The Matrix event a remote message was bridged as.
    pub(crate) async fn event_for(
        &self,
        portal: &Portal,
        remote: &RemoteMessageId,
    ) -> Result<Option<OwnedEventId>, PortalError> {
        Ok(self
            .inner
            .store
            .message_by_remote(portal.key(), remote)
            .await?
            .map(|m| m.event_id))
    }

    /// Remembers what a double puppet sent, so its echo is not bridged back.
    fn sent_by(&self, speaker: &Intent, event: &OwnedEventId) {
        if speaker.is_double_puppet() {
            self.inner.ghosts.double_puppets().sent(event);
        }
    }

    async fn record(
        &self,
        portal: &Portal,
        remote_id: RemoteMessageId,
        event_id: OwnedEventId,
        remote_sender: Option<RemoteUserId>,
        ghost: &Intent,
        sent_at: Option<ruma::MilliSecondsSinceUnixEpoch>,
    ) -> Result<(), PortalError> {
        // The remote time when known: backfill continues from the newest message by it.
        let timestamp_ms = sent_at.map_or_else(now_ms, |t| i64::from(t.get()));
        let row = MessageRow {
            portal: portal.key().clone(),
            remote_id,
            event_id,
            room_id: portal.room_id().clone(),
            remote_sender,
            sender: ghost.user_id().to_owned(),
            timestamp_ms,
        };
        // In the next group commit; lookups see it until then.
        drop(self.inner.store.bookkeep(vec![Write::Message(row)]));
        Ok(())
    }
}

/// The metric class of a failure to bridge a remote event.
fn failure_reason(e: &PortalError) -> FailureReason {
    match e {
        PortalError::Matrix(_) | PortalError::Ghost(GhostError::Matrix(_)) => {
            FailureReason::Homeserver
        }
        PortalError::Store(_) | PortalError::Ghost(GhostError::Store(_)) => FailureReason::Database,
        _ => FailureReason::Other,
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::remote_txn;
    use crate::ids::{PortalKey, RemoteChatId, RemoteMessageId};

    #[test]
    fn a_remote_message_keeps_its_transaction_id_and_others_differ() {
        let chat = PortalKey::shared(RemoteChatId::new("#a"));
        let id = RemoteMessageId::new("net/1-1");
        assert_eq!(remote_txn(&chat, &id), remote_txn(&chat, &id));
        assert_ne!(
            remote_txn(&chat, &id),
            remote_txn(&chat, &RemoteMessageId::new("net/1-2"))
        );
        let dm = PortalKey::private(RemoteChatId::new("#a"), "@u:x".try_into().unwrap());
        assert_ne!(remote_txn(&chat, &id), remote_txn(&dm, &id));
    }
}
