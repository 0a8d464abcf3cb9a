//! One appservice-managed device per puppet (the bot and each ghost), so the homeserver keeps
//! the transaction IDs of their sends in its database: a send retried across a homeserver
//! restart (the first attempt landed, the answer was lost) is answered with the first event
//! instead of posting twice. Synapse remembers appservice transaction IDs only in memory
//! unless the request names a device (the `device_id` query parameter, MSC4190-style devices
//! made with `PUT /devices/{id}` as the appservice). The same devices are what end-to-bridge
//! encryption will hang its keys on.
//!
//! A homeserver that cannot make such devices (404 or 400 on the `PUT`) is remembered and the
//! bridge sends without them, as before.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http::Method;
use ruma::{DeviceId, UserId};

use super::transport::Outgoing;
use super::{MatrixClient, MatrixError};

/// The device ID the bridge gives each of its users.
pub const BRIDGE_DEVICE: &str = "FERRYBRIDGE";

/// Which users have their device, and whether the homeserver makes them at all.
#[derive(Clone, Default)]
pub(crate) struct Devices {
    made: Arc<Mutex<HashSet<ruma::OwnedUserId>>>,
    unsupported: Arc<AtomicBool>,
}

impl Devices {
    /// No devices at all (as for a homeserver that cannot make them).
    pub(crate) fn none() -> Self {
        Self {
            made: Arc::default(),
            unsupported: Arc::new(AtomicBool::new(true)),
        }
    }

    fn has(&self, user: &UserId) -> bool {
        self.made.lock().map(|m| m.contains(user)).unwrap_or(false)
    }

    /// Forgets `user`'s device (the homeserver said it no longer exists).
    pub(crate) fn forget(&self, user: &UserId) {
        if let Ok(mut m) = self.made.lock() {
            m.remove(user);
        }
    }
}

impl MatrixClient {
    /// The device to send as `user` with: made on first use (one request per user and
    /// process), `None` where the homeserver does not support appservice devices or the
    /// request failed (the send then goes without, and the next one tries again).
    pub(crate) async fn device_for(&self, user: &UserId) -> Option<&'static DeviceId> {
        let device: &'static DeviceId = BRIDGE_DEVICE.into();
        if self.devices.unsupported.load(Ordering::Relaxed) {
            return None;
        }
        if self.devices.has(user) {
            return Some(device);
        }
        match self.make_device(user).await {
            Ok(()) => {
                if let Ok(mut m) = self.devices.made.lock() {
                    m.insert(user.to_owned());
                }
                Some(device)
            }
            Err(e) if matches!(e.status(), Some(400 | 404 | 405)) => {
                if !self.devices.unsupported.swap(true, Ordering::Relaxed) {
                    tracing::info!(error = %e, "the homeserver makes no appservice devices; sends are deduplicated only while it runs");
                }
                None
            }
            Err(e) => {
                tracing::warn!(%user, error = %e, "could not make the bridge device; sending without it");
                None
            }
        }
    }

    /// `PUT /_matrix/client/v3/devices/{BRIDGE_DEVICE}?user_id=…` (creates or updates).
    async fn make_device(&self, user: &UserId) -> Result<(), MatrixError> {
        self.make_named_device(user, BRIDGE_DEVICE).await
    }

    /// Makes (or updates) the device `device` of `user` (MSC4190): the bot's encryption device
    /// when it is not the bridge device.
    pub(crate) async fn make_named_device(
        &self,
        user: &UserId,
        device: &str,
    ) -> Result<(), MatrixError> {
        let url = self.url(&["_matrix", "client", "v3", "devices", device])?;
        let body = serde_json::json!({ "display_name": "ferrybridge" });
        self.send(Outgoing::json(Method::PUT, url, &body).asserting(Some(user)))
            .await?;
        Ok(())
    }

    /// Deletes the device `device` of `user` on the homeserver (its keys go with it). The
    /// bridge device is made again by the next [`MatrixClient::device_for`].
    pub(crate) async fn delete_device(
        &self,
        user: &UserId,
        device: &str,
    ) -> Result<(), MatrixError> {
        let url = self.url(&["_matrix", "client", "v3", "devices", device])?;
        self.send(
            Outgoing::json(Method::DELETE, url, &serde_json::json!({})).asserting(Some(user)),
        )
        .await?;
        if device == BRIDGE_DEVICE {
            self.devices.forget(user);
        }
        Ok(())
    }

    pub(crate) fn devices(&self) -> &Devices {
        &self.devices
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Method;
    use ruma::{OwnedRoomId, owned_room_id, user_id};
    use serde_json::json;

    use super::super::test_fake::start;
    use crate::events::MessageContent;
    use crate::matrix::MatrixClient;

    const SEND: &str = "/_matrix/client/v3/rooms/!room/send/m.room.message/*";

    fn room() -> OwnedRoomId {
        owned_room_id!("!room")
    }

    fn ok_event() -> (u16, serde_json::Value) {
        (200, json!({"event_id": "$sent:hs"}))
    }

    /// Two messages from the ghost `@_irc_a:hs`.
    async fn send_twice_as_ghost(client: &MatrixClient) {
        let ghost = client.as_user(user_id!("@_irc_a:hs"));
        for _ in 0..2 {
            ghost
                .send_message(&room(), &MessageContent::text("hi"), None, None)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn sends_go_as_the_bridge_device_made_once_per_user() {
        let (fake, client) = start().await;
        fake.on(
            Method::PUT,
            "/_matrix/client/v3/devices/FERRYBRIDGE",
            vec![(200, json!({}))],
        );
        fake.on(Method::PUT, SEND, vec![ok_event()]);
        send_twice_as_ghost(&client).await;
        let made = fake.seen_at("/_matrix/client/v3/devices/FERRYBRIDGE");
        assert_eq!(made.len(), 1, "one device request per user and process");
        assert!(
            made[0].query.contains("user_id=@_irc_a:hs"),
            "{}",
            made[0].query
        );
        let sends = fake.seen();
        assert_eq!(sends.len(), 2);
        assert!(
            sends
                .iter()
                .all(|s| s.query.contains("device_id=FERRYBRIDGE")),
            "{:?}",
            sends[0].query
        );
    }

    #[tokio::test]
    async fn without_appservice_devices_sends_go_without_and_a_lost_device_is_made_again() {
        // No device support (the fake answers 404): asked once, then never again.
        let (fake, client) = start().await;
        fake.on(Method::PUT, SEND, vec![ok_event()]);
        send_twice_as_ghost(&client).await;
        assert_eq!(fake.seen_all().len() - fake.seen().len(), 1);
        assert!(fake.seen().iter().all(|s| !s.query.contains("device_id")));

        // A device deleted behind our back: the send still goes, and the device is made again.
        let (fake, client) = start().await;
        fake.on(
            Method::PUT,
            "/_matrix/client/v3/devices/FERRYBRIDGE",
            vec![(200, json!({}))],
        );
        fake.on(
            Method::PUT,
            SEND,
            vec![
                (400, json!({"errcode": "M_UNKNOWN_DEVICE", "error": "gone"})),
                ok_event(),
            ],
        );
        send_twice_as_ghost(&client).await;
        assert_eq!(
            fake.seen_at("/_matrix/client/v3/devices/FERRYBRIDGE").len(),
            2
        );
    }
}
