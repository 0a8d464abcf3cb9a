//! Disappearing messages: a remote [`Expire`](crate::events::RemoteEventKind::Expire) records
//! when a bridged message's Matrix event is to go, in the store (so a restart redacts what
//! expired while the bridge was down); one task redacts each when it is due.

use std::time::Duration;

use ruma::MilliSecondsSinceUnixEpoch;

use super::{Portal, PortalError, Portals, now_ms};
use crate::ids::RemoteMessageId;
use crate::store::ExpiryRow;

/// The reason Matrix clients show on the redaction.
const REASON: &str = "disappearing message expired";
/// Expiries redacted per database read.
const BATCH: i64 = 100;
/// The longest sleep between looks at the table (a safety net; wakes come on new expiries).
const MAX_SLEEP_MS: i64 = 60_000;
/// The wait after a failure that may pass (database or homeserver unreachable).
const RETRY: Duration = Duration::from_secs(10);

impl Portals {
    /// Records when the Matrix event of `target` expires; a message that was never bridged has
    /// nothing to expire. Wakes the expiry task, which may be sleeping past this time.
    pub(super) async fn schedule_expiry(
        &self,
        portal: &Portal,
        target: &RemoteMessageId,
        at: MilliSecondsSinceUnixEpoch,
    ) -> Result<(), PortalError> {
        let Some(event_id) = self.event_for(portal, target).await? else {
            tracing::debug!(portal = %portal.key(), message = %target, "expiry of an unknown message");
            return Ok(());
        };
        let row = ExpiryRow {
            event_id,
            room_id: portal.room_id().clone(),
            expires_at_ms: i64::from(at.get()),
        };
        self.inner.store.schedule_expiry(&row).await?;
        self.inner.expiry_wake.notify_one();
        Ok(())
    }

    /// Redacts expired messages until the bridge stops: first what expired while it was down,
    /// then each as it comes due.
    pub async fn run_expiries(self) {
        loop {
            let wait = match self.redact_due().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "could not redact expired messages; retrying");
                    RETRY
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.inner.expiry_wake.notified() => {}
            }
        }
    }

    /// Redacts every expiry that is due; returns how long until the next one.
    async fn redact_due(&self) -> Result<Duration, PortalError> {
        let store = &self.inner.store;
        loop {
            let due = store.due_expiries(now_ms(), BATCH).await?;
            for row in &due {
                self.expire(row).await?;
            }
            if (due.len() as i64) < BATCH {
                break;
            }
        }
        let wait = match store.next_expiry().await? {
            Some(at) => (at - now_ms()).clamp(0, MAX_SLEEP_MS),
            None => MAX_SLEEP_MS,
        };
        Ok(Duration::from_millis(wait as u64))
    }

    /// Redacts one expired event as the bot and forgets it. A refusal by the homeserver (no
    /// power in a plumbed room, room gone) is logged and not retried; an unreachable
    /// homeserver is retried later.
    async fn expire(&self, row: &ExpiryRow) -> Result<(), PortalError> {
        let bot = self.inner.matrix.bot_intent();
        let mut redacted = bot.redact(&row.room_id, &row.event_id, Some(REASON)).await;
        // In a DM portal the bot may not have joined yet (as for notices).
        if matches!(&redacted, Err(e) if e.errcode() == Some("M_FORBIDDEN"))
            && bot.join(&row.room_id).await.is_ok()
        {
            redacted = bot.redact(&row.room_id, &row.event_id, Some(REASON)).await;
        }
        match redacted {
            Ok(_) => {
                tracing::debug!(room = %row.room_id, event = %row.event_id, "expired message redacted")
            }
            Err(e) if e.errcode().is_some() => {
                tracing::warn!(room = %row.room_id, event = %row.event_id, error = %e, "expired message not redacted");
            }
            Err(e) => return Err(e.into()),
        }
        let store = &self.inner.store;
        store.delete_expiry(&row.event_id).await?;
        store.delete_message_by_event(&row.event_id).await?;
        Ok(())
    }
}
