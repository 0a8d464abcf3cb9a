//! Encryption at rest for secrets users give the bridge (IRC passwords, session keys).
//!
//! Each value is sealed with ChaCha20-Poly1305 under the bridge's [`SecretKey`] and a fresh
//! random 12-byte nonce, and stored as `base64(nonce || ciphertext || tag)`. The owning user and
//! the secret's name are bound as associated data, so a ciphertext copied into another row (or
//! another user's row) fails to decrypt instead of leaking one user's secret to another.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ruma::OwnedUserId;

use super::{Store, StoreError};

/// Nonce length of ChaCha20-Poly1305.
const NONCE_LEN: usize = 12;
/// Authentication tag length of ChaCha20-Poly1305.
const TAG_LEN: usize = 16;
/// Domain separation for the associated data, so the format can change later.
const AAD_CONTEXT: &[u8] = b"ferrybridge secret v1";

/// A 32-byte key for encrypting secrets; from the config's `secrets_key` or `secrets_key_file`.
#[derive(Clone)]
pub struct SecretKey(pub [u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Why a secret key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretKeyError {
    #[error("secrets key is not valid base64: {0}")]
    Base64(#[source] base64::DecodeError),
    #[error(
        "secrets key must be 32 bytes (44 base64 characters), got {0} bytes; \
         generate one with `openssl rand -base64 32`"
    )]
    WrongLength(usize),
    #[error("cannot read secrets key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secrets key file {path}: {source}")]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<SecretKeyError>,
    },
}

impl SecretKey {
    /// Parses a base64 key (standard or URL-safe alphabet, padding optional, surrounding
    /// whitespace ignored) as written in the config.
    pub fn from_base64(text: &str) -> Result<Self, SecretKeyError> {
        let text = text.trim();
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok());
        let bytes = match bytes {
            Some(bytes) => bytes,
            // Report the error of the canonical alphabet.
            None => STANDARD.decode(text).map_err(SecretKeyError::Base64)?,
        };
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SecretKeyError::WrongLength(bytes.len()))?;
        Ok(Self(key))
    }

    /// Reads a file holding the base64 key (a trailing newline is fine); warns if other users
    /// can read it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, SecretKeyError> {
        let path = path.as_ref();
        if crate::private_fs::is_exposed(path).unwrap_or(false) {
            tracing::warn!(
                file = %path.display(),
                "the secrets key file is readable by other users: chmod 600 it"
            );
        }
        let text = std::fs::read_to_string(path).map_err(|source| SecretKeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_base64(&text).map_err(|e| SecretKeyError::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// A fresh random key from the operating system's RNG (for `generate-registration`).
    pub fn generate() -> Self {
        Self(ChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// The key as standard padded base64, the form [`SecretKey::from_base64`] reads.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }

    /// Seals `plaintext` for the row (`user`, `name`); returns the stored text.
    pub(crate) fn seal(
        &self,
        user: &str,
        name: &str,
        plaintext: &[u8],
    ) -> Result<String, StoreError> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(user, name);
        let sealed = self.cipher().encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        );
        // ChaCha20-Poly1305 only refuses messages over ~256 GiB.
        let sealed =
            sealed.map_err(|_| StoreError::Encode(format!("secret {name:?} too large")))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// Opens a value stored by [`SecretKey::seal`] for the same row.
    pub(crate) fn open(&self, user: &str, name: &str, stored: &str) -> Result<Vec<u8>, StoreError> {
        let bytes = STANDARD
            .decode(stored)
            .map_err(|e| StoreError::Corrupt(format!("secret {name:?} of {user}: {e}")))?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(StoreError::Corrupt(format!(
                "secret {name:?} of {user}: {} bytes is too short",
                bytes.len()
            )));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let aad = associated_data(user, name);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Decrypt)
    }
}

/// Length-prefixed (user, name) so no two different rows share associated data.
fn associated_data(user: &str, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_CONTEXT.len() + 16 + user.len() + name.len());
    aad.extend_from_slice(AAD_CONTEXT);
    for part in [user, name] {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

impl Store {
    /// Stores (or replaces) a secret of `user`, encrypted with the store's key.
    pub async fn set_secret(
        &self,
        user: &OwnedUserId,
        name: &str,
        plaintext: &[u8],
    ) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("set_secret");
        let sealed = self.key().seal(user.as_str(), name, plaintext)?;
        sqlx::query(
            "INSERT INTO secrets (mxid, name, ciphertext) VALUES ($1, $2, $3) \
             ON CONFLICT (mxid, name) DO UPDATE SET ciphertext = excluded.ciphertext",
        )
        .bind(user.as_str())
        .bind(name)
        .bind(sealed)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A secret of `user`, decrypted; [`StoreError::Decrypt`] if the key changed.
    pub async fn get_secret(
        &self,
        user: &OwnedUserId,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let _timer = crate::metrics::db_timer("get_secret");
        let stored: Option<String> =
            sqlx::query_scalar("SELECT ciphertext FROM secrets WHERE mxid = $1 AND name = $2")
                .bind(user.as_str())
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        stored
            .map(|s| self.key().open(user.as_str(), name, &s))
            .transpose()
    }

    pub async fn delete_secret(&self, user: &OwnedUserId, name: &str) -> Result<(), StoreError> {
        let _timer = crate::metrics::db_timer("delete_secret");
        sqlx::query("DELETE FROM secrets WHERE mxid = $1 AND name = $2")
            .bind(user.as_str())
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        let key = SecretKey::generate();
        let again = SecretKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.0, again.0);
        // URL-safe, unpadded, and with whitespace are accepted too.
        let url = URL_SAFE_NO_PAD.encode(key.0);
        assert_eq!(
            SecretKey::from_base64(&format!(" {url}\n")).unwrap().0,
            key.0
        );
    }

    #[test]
    fn bad_keys_are_clear_errors() {
        let err = SecretKey::from_base64("not base64!!").unwrap_err();
        assert!(matches!(err, SecretKeyError::Base64(_)), "{err}");
        let err = SecretKey::from_base64(&STANDARD.encode([1u8; 16])).unwrap_err();
        assert!(matches!(err, SecretKeyError::WrongLength(16)), "{err}");
        assert!(err.to_string().contains("32 bytes"));
        let err = SecretKey::from_base64("").unwrap_err();
        assert!(matches!(err, SecretKeyError::WrongLength(0)), "{err}");
    }

    #[test]
    fn key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let key = SecretKey::generate();
        std::fs::write(&path, format!("{}\n", key.to_base64())).unwrap();
        assert_eq!(SecretKey::from_file(&path).unwrap().0, key.0);

        let missing = SecretKey::from_file(dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, SecretKeyError::Read { .. }), "{missing}");
        std::fs::write(&path, "short").unwrap();
        let bad = SecretKey::from_file(&path).unwrap_err();
        assert!(bad.to_string().contains("key"), "{bad}");
        assert!(matches!(bad, SecretKeyError::InFile { .. }), "{bad}");
    }

    #[test]
    fn debug_hides_the_key() {
        let key = SecretKey([7; 32]);
        assert_eq!(format!("{key:?}"), "SecretKey(..)");
    }

    #[test]
    fn seal_and_open() {
        let key = SecretKey::generate();
        let sealed = key.seal("@a:x", "pw", b"hunter2").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key.open("@a:x", "pw", &sealed).unwrap(), b"hunter2");
        // Fresh nonce each time.
        assert_ne!(sealed, key.seal("@a:x", "pw", b"hunter2").unwrap());
        // Bound to the row.
        assert!(matches!(
            key.open("@b:x", "pw", &sealed),
            Err(StoreError::Decrypt)
        ));
        assert!(matches!(
            key.open("@a:x", "other", &sealed),
            Err(StoreError::Decrypt)
        ));
        // Wrong key.
        assert!(matches!(
            SecretKey::generate().open("@a:x", "pw", &sealed),
            Err(StoreError::Decrypt)
        ));
        // Garbage.
        assert!(matches!(
            key.open("@a:x", "pw", "%%%"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            key.open("@a:x", "pw", "AAAA"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
