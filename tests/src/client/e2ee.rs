//! End-to-end encryption for test users, as Element X does it: matrix-sdk-crypto's OlmMachine
//! (in memory) on the user's own device, fed by /sync (to-device events, device lists, key
//! counts) and sending its own requests with the user's access token. With it on, /sync
//! decrypts encrypted timeline events before tests see them (marked `"fb_encrypted": true`;
//! failures are kept encrypted and marked `"fb_undecryptable": "<reason>"`), and
//! [`TestUser::send_encrypted`] sends like an encrypting client.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use matrix_sdk_crypto::types::requests::ToDeviceRequest;
use matrix_sdk_crypto::{
    DecryptionSettings, EncryptionSettings, EncryptionSyncChanges, OlmMachine, TrustRequirement,
};
use reqwest::Method;
use ruma::{OwnedEventId, OwnedRoomId, RoomId};
use ruma16::api::{
    Metadata, OutgoingRequest,
    auth_scheme::{AuthScheme, SendAccessToken},
    client::sync::sync_events::DeviceLists,
    path_builder::VersionHistory,
};
use ruma16::serde::Raw;
use ruma16::{OneTimeKeyAlgorithm, UInt};
use serde_json::{Value, json};

use super::{TestUser, field};

/// A test user's crypto: its device's OlmMachine.
#[derive(Debug)]
pub(crate) struct ClientCrypto {
    machine: OlmMachine,
    /// One batch of the machine's requests at a time.
    requests: tokio::sync::Mutex<()>,
}

fn settings() -> DecryptionSettings {
    DecryptionSettings {
        sender_device_trust_requirement: TrustRequirement::Untrusted,
    }
}

fn raw<T>(v: &Value) -> Result<Raw<T>> {
    Ok(Raw::from_json(serde_json::value::to_raw_value(v)?))
}

impl TestUser {
    /// Gives this user an encrypting device (the one its access token belongs to) and uploads
    /// its keys. Call before the user joins encrypted rooms.
    pub async fn enable_e2ee(&self) -> Result<()> {
        let who = self
            .call(Method::GET, &["account", "whoami"], &[], None)
            .await?;
        let device: String = field(&who, "device_id")?;
        let user = ruma16::UserId::parse(self.user_id.as_str())?;
        let machine = OlmMachine::new(&user, device.as_str().into()).await;
        self.crypto
            .set(Arc::new(ClientCrypto {
                machine,
                requests: tokio::sync::Mutex::new(()),
            }))
            .map_err(|_| anyhow!("encryption already enabled for {}", self.user_id))?;
        self.crypto_requests().await
    }

    /// The Olm device ID of this user's encrypting device.
    pub fn e2ee_device(&self) -> Option<String> {
        self.crypto.get().map(|c| c.machine.device_id().to_string())
    }

    fn machine(&self) -> Result<&OlmMachine> {
        Ok(&self
            .crypto
            .get()
            .ok_or_else(|| anyhow!("{} has no encryption; call enable_e2ee", self.user_id))?
            .machine)
    }

    /// A direct chat with `with` that is encrypted from its creation, as Element X makes it.
    pub async fn create_encrypted_dm(&self, with: &ruma::UserId) -> Result<OwnedRoomId> {
        self.create_room(json!({
            "preset": "trusted_private_chat", "is_direct": true, "invite": [with],
            "initial_state": [{"type": "m.room.encryption", "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
        }))
        .await
    }

    /// Sends an event encrypted for every device of every joined member, like an encrypting
    /// client (the room key is shared first).
    pub async fn send_encrypted(
        &self,
        room: &RoomId,
        event_type: &str,
        content: Value,
    ) -> Result<OwnedEventId> {
        let machine = self.machine()?;
        let room16 = ruma16::RoomId::parse(room.as_str())?;
        let members: Vec<ruma16::OwnedUserId> = self
            .joined_members(room)
            .await?
            .iter()
            .map(|u| ruma16::UserId::parse(u.as_str()))
            .collect::<Result<_, _>>()?;
        let users = || members.iter().map(|u| &**u);
        machine.update_tracked_users(users()).await?;
        self.crypto_requests().await?;
        if let Some((id, request)) = machine.get_missing_sessions(users()).await? {
            let resp = self.send_ruma16(request).await?;
            machine.mark_request_as_sent(&id, &resp).await?;
        }
        for request in machine
            .share_room_key(&room16, users(), EncryptionSettings::default())
            .await?
        {
            self.send_to_device(&request.txn_id, &request).await?;
        }
        let encrypted = machine
            .encrypt_room_event_raw(&room16, event_type, &raw(&content)?)
            .await?;
        let body: Value = serde_json::from_str(encrypted.content.json().get())?;
        self.send_json(room, "m.room.encrypted", body).await
    }

    /// An encrypted `m.text` message.
    pub async fn send_encrypted_text(&self, room: &RoomId, text: &str) -> Result<OwnedEventId> {
        self.send_encrypted(
            room,
            "m.room.message",
            json!({"msgtype": "m.text", "body": text}),
        )
        .await
    }

    /// Sends a file the way an encrypting client does: encrypted with a fresh key, the
    /// ciphertext uploaded, the key in the message's `file` (which is itself encrypted).
    pub async fn send_encrypted_file(
        &self,
        room: &RoomId,
        msgtype: &str,
        name: &str,
        mime: &str,
        data: &[u8],
    ) -> Result<OwnedEventId> {
        use std::io::Read;
        let mut reader = std::io::Cursor::new(data);
        let mut encryptor = matrix_sdk_crypto::AttachmentEncryptor::new(&mut reader);
        let mut ciphertext = Vec::new();
        encryptor.read_to_end(&mut ciphertext)?;
        let mut file = serde_json::to_value(encryptor.finish())?;
        file["url"] = json!(self.upload(ciphertext, "application/octet-stream").await?);
        self.send_encrypted(
            room,
            "m.room.message",
            json!({"msgtype": msgtype, "body": name, "filename": name,
                   "info": {"mimetype": mime, "size": data.len()}, "file": file}),
        )
        .await
    }

    /// The bytes of a media event's file, decrypted with its `file` keys when it has them.
    pub async fn media_bytes(&self, event: &Value) -> Result<Vec<u8>> {
        use std::io::Read;
        let content = &event["content"];
        if let Some(url) = content["url"].as_str() {
            return Ok(self.download(url).await?.to_vec());
        }
        let file = &content["file"];
        let url = file["url"]
            .as_str()
            .ok_or_else(|| anyhow!("no file in {event}"))?;
        let ciphertext = self.download(url).await?;
        let info: matrix_sdk_crypto::MediaEncryptionInfo = serde_json::from_value(file.clone())?;
        let mut reader = std::io::Cursor::new(&ciphertext[..]);
        let mut decryptor = matrix_sdk_crypto::AttachmentDecryptor::new(&mut reader, info)?;
        let mut plain = Vec::new();
        decryptor.read_to_end(&mut plain)?;
        Ok(plain)
    }

    /// `POST /_matrix/media/v3/upload`; returns the `mxc://` URI.
    pub async fn upload(&self, data: Vec<u8>, mime: &str) -> Result<String> {
        let mut url = self.base.clone();
        url.set_path("/_matrix/media/v3/upload");
        let resp = self
            .http
            .post(url)
            .bearer_auth(&self.access_token)
            .header("content-type", mime)
            .body(data)
            .send()
            .await?;
        let r = super::check(resp, "upload").await?;
        field(&r, "content_uri")
    }

    /// Sends what the machine asks for until it asks for nothing.
    pub(crate) async fn crypto_requests(&self) -> Result<()> {
        let Some(crypto) = self.crypto.get() else {
            return Ok(());
        };
        let _one = crypto.requests.lock().await;
        crate::olm_http::pump(&crypto.machine, &self.olm_endpoint()).await
    }

    async fn send_to_device(&self, id: &ruma16::TransactionId, r: &ToDeviceRequest) -> Result<()> {
        crate::olm_http::to_device(self.machine()?, &self.olm_endpoint(), id, r).await
    }

    /// One request of the machine's ruma, with this user's token.
    async fn send_ruma16<R>(&self, request: R) -> Result<R::IncomingResponse>
    where
        R: OutgoingRequest + Metadata<PathBuilder = VersionHistory>,
        for<'b> R::Authentication: AuthScheme<Input<'b> = SendAccessToken<'b>>,
    {
        crate::olm_http::send(&self.olm_endpoint(), request).await
    }

    fn olm_endpoint(&self) -> crate::olm_http::Endpoint {
        crate::olm_http::Endpoint {
            http: self.http.clone(),
            base: self.base.as_str().trim_end_matches('/').to_owned(),
            token: self.access_token.clone(),
            query: Vec::new(),
        }
    }

    /// Feeds a /sync response's encryption parts to the machine (before its timeline is read).
    pub(crate) async fn crypto_sync(&self, r: &Value) -> Result<()> {
        let Some(crypto) = self.crypto.get() else {
            return Ok(());
        };
        let to_device = r["to_device"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .map(raw)
            .collect::<Result<Vec<_>>>()?;
        let lists: DeviceLists =
            serde_json::from_value(r["device_lists"].clone()).unwrap_or_default();
        let counts: BTreeMap<OneTimeKeyAlgorithm, UInt> =
            serde_json::from_value(r["device_one_time_keys_count"].clone()).unwrap_or_default();
        let fallback: Option<Vec<OneTimeKeyAlgorithm>> =
            serde_json::from_value(r["device_unused_fallback_key_types"].clone()).ok();
        crypto
            .machine
            .receive_sync_changes(
                EncryptionSyncChanges {
                    to_device_events: to_device,
                    changed_devices: &lists,
                    one_time_keys_counts: &counts,
                    unused_fallback_keys: fallback.as_deref(),
                    next_batch_token: None,
                },
                &settings(),
            )
            .await?;
        self.crypto_requests().await
    }

    /// The event as a user sees it: decrypted if it is encrypted and this user can.
    pub(crate) async fn readable(&self, room: &RoomId, mut ev: Value) -> Value {
        let Some(crypto) = self.crypto.get() else {
            return ev;
        };
        if ev["type"] != "m.room.encrypted" {
            return ev;
        }
        ev["room_id"] = json!(room);
        let decrypted = async {
            let room16 = ruma16::RoomId::parse(room.as_str())?;
            let d = crypto
                .machine
                .decrypt_room_event(&raw(&ev)?, &room16, &settings())
                .await?;
            Ok::<Value, anyhow::Error>(serde_json::from_str(d.event.json().get())?)
        }
        .await;
        match decrypted {
            Ok(mut d) => {
                d["room_id"] = json!(room);
                d["fb_encrypted"] = json!(true);
                d
            }
            Err(e) => {
                ev["fb_undecryptable"] = json!(e.to_string());
                ev
            }
        }
    }
}
