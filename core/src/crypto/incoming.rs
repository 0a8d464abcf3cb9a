//! A transaction's encryption fields into the machine: to-device events for the bot's device
//! (room keys, key requests), device list changes, and the bot device's one-time key counts.
//! The appservice sees these for every user in its namespace; only the bot's device has keys,
//! so everything addressed elsewhere is ignored.

use std::collections::BTreeMap;

use matrix_sdk_crypto::{DecryptionSettings, EncryptionSyncChanges, TrustRequirement};
use ruma16::api::client::sync::sync_events::DeviceLists;
use ruma16::{OneTimeKeyAlgorithm, UInt};
use serde::Deserialize;

use super::{Crypto, CryptoError, convert};
use crate::appservice::DeviceData;

/// Where a to-device event was sent (MSC2409 adds these to each event).
#[derive(Deserialize)]
struct Addressed {
    to_user_id: Option<String>,
    to_device_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl Crypto {
    /// Hands a transaction's encryption fields to the machine. Errors are the store's: the
    /// transaction is then refused, and the homeserver sends it again.
    pub async fn receive(&self, data: DeviceData) -> Result<(), CryptoError> {
        let bot = self.inner.bot.as_str();
        let device = self.inner.device.as_str();
        let mut to_device = Vec::new();
        for event in &data.to_device {
            let Ok(addr) = serde_json::from_str::<Addressed>(event.get()) else {
                continue;
            };
            let for_us = addr.to_user_id.as_deref() == Some(bot)
                && addr.to_device_id.as_deref().is_none_or(|d| d == device);
            if !for_us {
                continue;
            }
            self.inner.seen.saw_to_device();
            if addr.kind.as_deref() == Some(super::selftest::PROBE) {
                continue;
            }
            to_device.push(convert::raw_text(event.get())?);
        }
        let lists = data
            .device_lists
            .and_then(|raw| lenient::<DeviceLists>(raw.get(), "device lists"))
            .unwrap_or_default();
        let counts: BTreeMap<OneTimeKeyAlgorithm, UInt> = data
            .one_time_key_counts
            .and_then(|raw| lenient::<PerDevice<BTreeMap<String, u64>>>(raw.get(), "key counts"))
            .and_then(|mut all| all.remove(bot)?.remove(device))
            .map(|counts| {
                counts
                    .into_iter()
                    .filter_map(|(alg, n)| {
                        Some((OneTimeKeyAlgorithm::from(alg.as_str()), UInt::new(n)?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let fallback: Option<Vec<OneTimeKeyAlgorithm>> = data
            .unused_fallback_key_types
            .and_then(|raw| lenient::<PerDevice<Vec<String>>>(raw.get(), "fallback keys"))
            .and_then(|mut all| all.remove(bot)?.remove(device))
            .map(|types| {
                types
                    .iter()
                    .map(|t| OneTimeKeyAlgorithm::from(t.as_str()))
                    .collect()
            });
        if !counts.is_empty() {
            self.inner.seen.saw_key_counts();
        }
        if to_device.is_empty()
            && lists.changed.is_empty()
            && lists.left.is_empty()
            && counts.is_empty()
            && fallback.is_none()
        {
            return Ok(());
        }
        let changes = EncryptionSyncChanges {
            to_device_events: to_device,
            changed_devices: &lists,
            one_time_keys_counts: &counts,
            unused_fallback_keys: fallback.as_deref(),
            next_batch_token: None,
        };
        let settings = DecryptionSettings {
            sender_device_trust_requirement: TrustRequirement::Untrusted,
        };
        let (_events, room_keys) = self
            .inner
            .machine
            .receive_sync_changes(changes, &settings)
            .await?;
        if !room_keys.is_empty() {
            tracing::debug!(keys = room_keys.len(), "room keys received");
            self.inner.keys.send_modify(|n| *n += 1);
        }
        // Key uploads, key queries for changed devices, answers to key requests.
        self.inner.wake.notify_one();
        Ok(())
    }
}

type PerDevice<T> = BTreeMap<String, BTreeMap<String, T>>;

/// Parses a field, logging (not failing) when it does not fit.
fn lenient<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Option<T> {
    match serde_json::from_str(json) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring malformed {what} in a transaction");
            None
        }
    }
}
