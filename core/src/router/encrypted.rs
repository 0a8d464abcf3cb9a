//! Encrypted rooms, seen from the router: `m.room.encrypted` events are decrypted before
//! anything else looks at them (so commands, portal messages, edits and reactions work the same
//! in encrypted rooms), and what cannot be decrypted is answered with a notice to its sender:
//! never a silent drop. The crypto layer also learns of encryption being turned on and of
//! membership changes here (who gets the room key next).

use super::{RawEvent, Router};
use crate::crypto::Undecryptable;

const ENCRYPTED: &str = "m.room.encrypted";

impl Router {
    /// The event as the rest of the router should see it: decrypted if it was encrypted.
    /// `None` when it cannot be read (its sender has been told).
    pub(super) async fn readable(&self, event: RawEvent) -> Option<RawEvent> {
        if let Some(crypto) = &self.core.crypto {
            match event.kind.as_str() {
                "m.room.encryption" if event.state_key.as_deref() == Some("") => {
                    crypto.mark_encrypted(&event.room_id)
                }
                "m.room.member" => crypto.members_changed(&event.room_id),
                _ => {}
            }
        }
        // Our own (the bot's, the ghosts') encrypted events come back too: skipped later,
        // without paying for their decryption.
        if event.kind != ENCRYPTED || self.is_ours(&event.sender) {
            return Some(event);
        }
        let Some(crypto) = &self.core.crypto else {
            self.tell_encryption_off(&event).await;
            return None;
        };
        let json = match crypto.decrypt(&event.room_id, &event.json()).await {
            Ok(json) => json,
            Err(why) => {
                self.tell_undecryptable(&event, &why).await;
                return None;
            }
        };
        match RawEvent::from_decrypted(json, &event) {
            Ok(mut decrypted) => {
                // An encrypted file: the network gets a plaintext copy (see crypto::attachments).
                if let serde_json::Value::Object(content) = &decrypted.content
                    && content.contains_key("file")
                {
                    match crypto.plaintext_media(content.clone()).await {
                        Ok(plain) => decrypted.content = serde_json::Value::Object(plain),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot decrypt an attached file");
                            self.tell_sender(
                                &event,
                                &format!("⚠️ Could not decrypt your file; it was not bridged: {e}"),
                            )
                            .await;
                            return None;
                        }
                    }
                }
                Some(decrypted)
            }
            Err(e) => {
                let why = Undecryptable::Invalid(format!("decrypted event is malformed: {e}"));
                self.tell_undecryptable(&event, &why).await;
                None
            }
        }
    }

    /// With `encryption.require`, a message in an unencrypted portal is refused with a notice.
    pub(super) async fn refused_plaintext(&self, event: &RawEvent) -> bool {
        let Some(crypto) = &self.core.crypto else {
            return false;
        };
        if !crypto.config().require
            || !event.is_message()
            || crypto.is_encrypted(&event.room_id).await
        {
            return false;
        }
        self.tell_sender(
            event,
            "⚠️ This bridge only bridges encrypted rooms; your message was not bridged. Turn on \
             encryption in this room's settings.",
        )
        .await;
        true
    }

    async fn tell_undecryptable(&self, event: &RawEvent, why: &Undecryptable) {
        tracing::warn!(sender = %event.sender, reason = %why, "cannot decrypt event");
        crate::metrics::undecryptable();
        self.tell_sender(
            event,
            "⚠️ Could not decrypt your message; it was not bridged. Send it again: your \
             client will share its key with the bridge.",
        )
        .await;
    }

    async fn tell_encryption_off(&self, event: &RawEvent) {
        tracing::info!(sender = %event.sender, "encrypted event, but encryption is off");
        self.tell_sender(
            event,
            "⚠️ This bridge cannot read encrypted messages (encryption is turned off in its \
             config), so your message was not bridged. Use an unencrypted room, or ask the \
             bridge's admin to enable encryption.",
        )
        .await;
    }
}
