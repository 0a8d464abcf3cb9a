//! Does the homeserver give the bridge what encryption needs? Synapse sends to-device events
//! and one-time key counts to appservices only with experimental flags, and without them the
//! bridge would only ever answer "could not decrypt". So, at start, the bot sends a to-device
//! message to its own device and waits for it (and for its key counts) to come back in a
//! transaction; what is missing is said in one log line.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ruma16::api::client::to_device::send_event_to_device;
use ruma16::events::ToDeviceEventType;
use ruma16::serde::Raw;
use ruma16::to_device::DeviceIdOrAllDevices;

use super::Crypto;

/// The to-device event type of the probe.
pub(super) const PROBE: &str = "fi.ferrybridge.encryption_probe";

/// How long the probe waits for its echo.
const WAIT: Duration = Duration::from_secs(20);

/// What the homeserver has been seen to deliver.
#[derive(Default)]
pub(super) struct Seen {
    pub to_device: AtomicBool,
    pub key_counts: AtomicBool,
    pub changed: tokio::sync::Notify,
}

impl Seen {
    pub(super) fn saw_to_device(&self) {
        self.to_device.store(true, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    pub(super) fn saw_key_counts(&self) {
        self.key_counts.store(true, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    fn both(&self) -> bool {
        self.to_device.load(Ordering::Relaxed) && self.key_counts.load(Ordering::Relaxed)
    }
}

impl Crypto {
    /// Sends the probe and reports, once, what did not come back. Runs after the appservice
    /// listens (the answer arrives in a transaction).
    pub(crate) async fn probe_homeserver(self) {
        let seen = &self.inner.seen;
        let mut messages = std::collections::BTreeMap::new();
        let content = match serde_json::value::to_raw_value(&serde_json::json!({})) {
            Ok(c) => Raw::from_json(c),
            Err(_) => return,
        };
        messages.insert(
            self.inner.bot.clone(),
            std::collections::BTreeMap::from([(
                DeviceIdOrAllDevices::DeviceId(self.inner.device.clone()),
                content,
            )]),
        );
        let request = send_event_to_device::v3::Request::new_raw(
            ToDeviceEventType::from(PROBE),
            ruma16::TransactionId::new(),
            messages,
        );
        if let Err(e) = self.sender().send(request).await {
            tracing::warn!(error = %e, "encryption: could not send the start-up probe");
            return;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        while !seen.both() {
            let changed = seen.changed.notified();
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                break;
            }
        }
        match missing(seen) {
            None => tracing::info!(
                "encryption: the homeserver delivers to-device events and key counts"
            ),
            Some(what) => tracing::error!(
                "encryption will not work: the homeserver does not send the bridge {what} (see the README's encryption section)"
            ),
        }
    }
}

/// What the homeserver did not deliver, as one phrase naming the settings to turn on.
fn missing(seen: &Seen) -> Option<String> {
    let mut parts = Vec::new();
    if !seen.to_device.load(Ordering::Relaxed) {
        parts.push(
            "to-device events (homeserver: experimental_features.msc2409_to_device_messages_enabled; \
             registration: de.sorunome.msc2409.push_ephemeral)",
        );
    }
    if !seen.key_counts.load(Ordering::Relaxed) {
        parts.push(
            "one-time key counts (homeserver: experimental_features.msc3202_transaction_extensions; \
             registration: org.matrix.msc3202)",
        );
    }
    (!parts.is_empty()).then(|| parts.join(" nor "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_missing() {
        let seen = Seen::default();
        let all = missing(&seen).unwrap();
        assert!(all.contains("msc2409") && all.contains("msc3202"), "{all}");
        seen.saw_to_device();
        assert!(!missing(&seen).unwrap().contains("msc2409"));
        seen.saw_key_counts();
        assert_eq!(missing(&seen), None);
    }
}
