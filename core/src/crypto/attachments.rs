//! Encrypted attachments (the `file` object of media events in encrypted rooms).
//!
//! - In (remote → Matrix): a file for an encrypted room is encrypted before upload; the
//!   ciphertext's `mxc://` is remembered with its key, and when the message naming it is
//!   encrypted, its `url` becomes the `file` object (key, IV, hash) clients decrypt with.
//! - Out (Matrix → remote): a `file` is downloaded, decrypted and uploaded again in plaintext,
//!   and the event then names that copy as an ordinary `url`. Every network works unchanged
//!   (IRC and XMPP users get links to it, Telegram and WhatsApp re-upload it); the price is a
//!   plaintext copy in the homeserver's media repository, which the bridge's admin runs anyway.

use std::io::{Cursor, Read};
use std::sync::Mutex;

use bytes::Bytes;
use matrix_sdk_crypto::{AttachmentDecryptor, AttachmentEncryptor, MediaEncryptionInfo};
use ruma::{OwnedMxcUri, RoomId};
use serde_json::{Map, Value};

use super::{Crypto, CryptoError};
use crate::lru::LruMap;

/// Uploads remembered until the message naming them is sent.
const REMEMBERED: usize = 1_000;

/// Keys of files uploaded encrypted, by the ciphertext's URI.
pub(super) struct Uploads(Mutex<LruMap<OwnedMxcUri, Value>>);

impl Default for Uploads {
    fn default() -> Self {
        Self(Mutex::new(LruMap::new(REMEMBERED)))
    }
}

/// Encrypts `data`; returns the ciphertext and the `file` object without its `url`.
pub(crate) fn encrypt(data: &[u8]) -> Result<(Vec<u8>, Value), CryptoError> {
    let mut reader = Cursor::new(data);
    let mut encryptor = AttachmentEncryptor::new(&mut reader);
    let mut ciphertext = Vec::with_capacity(data.len());
    encryptor
        .read_to_end(&mut ciphertext)
        .map_err(|e| CryptoError::State(format!("encrypting a file: {e}")))?;
    let info = serde_json::to_value(encryptor.finish())
        .map_err(|e| CryptoError::State(format!("file keys: {e}")))?;
    Ok((ciphertext, info))
}

/// Decrypts a downloaded file with the keys of its `file` object (hash checked).
pub(crate) fn decrypt(ciphertext: &[u8], file: &Value) -> Result<Vec<u8>, CryptoError> {
    let info: MediaEncryptionInfo = serde_json::from_value(file.clone())
        .map_err(|e| CryptoError::State(format!("the file's keys are malformed: {e}")))?;
    let mut reader = Cursor::new(ciphertext);
    let mut decryptor = AttachmentDecryptor::new(&mut reader, info)
        .map_err(|e| CryptoError::State(format!("cannot decrypt the file: {e}")))?;
    let mut plaintext = Vec::with_capacity(ciphertext.len());
    decryptor
        .read_to_end(&mut plaintext)
        .map_err(|e| CryptoError::State(format!("cannot decrypt the file: {e}")))?;
    Ok(plaintext)
}

impl Crypto {
    /// Uploads `data` encrypted when `room` is encrypted; `None` when it is not (upload it as
    /// it is).
    pub(crate) async fn upload_for(
        &self,
        room: &RoomId,
        data: &Bytes,
        filename: Option<&str>,
    ) -> Result<Option<OwnedMxcUri>, CryptoError> {
        if !self.is_encrypted(room).await {
            return Ok(None);
        }
        let (ciphertext, info) = encrypt(data)?;
        let mxc = self
            .inner
            .client
            .upload(ciphertext.into(), "application/octet-stream", filename)
            .await?;
        let mut uploads = self
            .inner
            .uploads
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        uploads.insert(mxc.clone(), info);
        Ok(Some(mxc))
    }

    /// Turns the `url` of media uploaded by [`Crypto::upload_for`] into its `file` object,
    /// in the content and in an edit's `m.new_content`.
    pub(super) fn attach_keys(&self, content: &mut Value) {
        let Some(map) = content.as_object_mut() else {
            return;
        };
        self.attach_to(map);
        if let Some(Value::Object(new)) = map.get_mut("m.new_content") {
            self.attach_to(new);
        }
    }

    fn attach_to(&self, map: &mut Map<String, Value>) {
        let Some(url) = map.get("url").and_then(Value::as_str) else {
            return;
        };
        let info = {
            let mut uploads = self
                .inner
                .uploads
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            uploads.get(url).cloned()
        };
        if let Some(Value::Object(mut file)) = info {
            if let Some(url) = map.remove("url") {
                file.insert("url".into(), url);
            }
            map.insert("file".into(), Value::Object(file));
        }
    }

    /// The content with its encrypted `file` replaced by a plaintext copy's `url` (see the
    /// module notes). Content without a `file` is returned as it is.
    pub(crate) async fn plaintext_media(
        &self,
        mut content: Map<String, Value>,
    ) -> Result<Map<String, Value>, CryptoError> {
        let Some(file) = content.get("file") else {
            return Ok(content);
        };
        let mxc = file
            .get("url")
            .and_then(Value::as_str)
            .map(OwnedMxcUri::from)
            .filter(|m| m.validate().is_ok())
            .ok_or_else(|| CryptoError::State("the file has no valid mxc:// url".into()))?;
        let (ciphertext, _) = self
            .inner
            .client
            .download(&mxc, self.inner.media_max_bytes)
            .await?;
        let plaintext = decrypt(&ciphertext, file)?;
        let mime = content
            .get("info")
            .and_then(|i| i.get("mimetype"))
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream")
            .to_owned();
        let name = content
            .get("filename")
            .or_else(|| content.get("body"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let copy = self
            .inner
            .client
            .upload(plaintext.into(), &mime, name.as_deref())
            .await?;
        content.remove("file");
        if let Some(Value::Object(info)) = content.get_mut("info") {
            info.remove("thumbnail_file");
        }
        content.insert("url".into(), copy.to_string().into());
        Ok(content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_tampering_is_caught() {
        let (ciphertext, info) = encrypt(b"a picture").unwrap();
        assert_ne!(ciphertext, b"a picture");
        assert_eq!(decrypt(&ciphertext, &info).unwrap(), b"a picture");
        let mut tampered = ciphertext.clone();
        tampered[0] ^= 1;
        assert!(decrypt(&tampered, &info).is_err(), "the hash is checked");
        assert!(decrypt(&ciphertext, &serde_json::json!({"v": "v2"})).is_err());
    }
}
