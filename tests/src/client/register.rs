//! Test users through Synapse's shared-secret registration API.

use anyhow::{Result, anyhow};
use hmac::{KeyInit, Mac};
use ruma::OwnedUserId;
use serde_json::{Value, json};

use super::{TestUser, check, field, http_client};
use crate::Synapse;

/// Registers a user through Synapse's shared-secret admin API (nonce + HMAC-SHA1), which works
/// with registration disabled and without rate limits. The password is `<localpart>-password`.
pub async fn register_user(synapse: &Synapse, localpart: &str, admin: bool) -> Result<TestUser> {
    let http = http_client()?;
    let url = format!("{}/_synapse/admin/v1/register", synapse.base_url());
    let nonce_resp: Value = check(http.get(&url).send().await?, "GET nonce").await?;
    let nonce = nonce_resp["nonce"]
        .as_str()
        .ok_or_else(|| anyhow!("no nonce in {nonce_resp}"))?;
    let password = format!("{localpart}-password");
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(synapse.shared_secret().as_bytes())
        .map_err(|e| anyhow!("hmac key: {e}"))?;
    mac.update(nonce.as_bytes());
    mac.update(b"\0");
    mac.update(localpart.as_bytes());
    mac.update(b"\0");
    mac.update(password.as_bytes());
    mac.update(b"\0");
    mac.update(if admin { b"admin" } else { b"notadmin" });
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let body = json!({
        "nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": hex,
    });
    let resp: Value = check(
        http.post(&url).json(&body).send().await?,
        &format!("register {localpart}"),
    )
    .await?;
    let user_id: OwnedUserId = field(&resp, "user_id")?;
    let access_token: String = field(&resp, "access_token")?;
    TestUser::new(synapse, user_id, access_token, password, None)
}

impl TestUser {
    /// Logs this user in again with their password: a second device (a phone next to the
    /// laptop), with its own access token.
    pub async fn new_device(&self, synapse: &Synapse) -> Result<TestUser> {
        let http = http_client()?;
        let body = json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": self.user_id.as_str()},
            "password": self.password,
        });
        let resp: Value = check(
            http.post(format!("{}/_matrix/client/v3/login", synapse.base_url()))
                .json(&body)
                .send()
                .await?,
            &format!("login {}", self.user_id),
        )
        .await?;
        let token: String = field(&resp, "access_token")?;
        TestUser::new(
            synapse,
            self.user_id.clone(),
            token,
            self.password.clone(),
            None,
        )
    }
}
