//! Encryption at rest for secrets users give the bridge (IRC passwords, session keys).
//! OWNER: store helper.

/// A 32-byte key for encrypting secrets; from the config's `secrets_key` or `secrets_key_file`.
#[derive(Clone)]
pub struct SecretKey(pub [u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}
