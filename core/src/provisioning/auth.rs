//! Who is calling: the shared secret plus the `user_id` it acts for, or a user's own OpenID
//! token checked with the bridge's homeserver. Either way the caller ends up as one Matrix user
//! with the permission level the bridge gives them; everything after that is checked as it
//! would be for the same user talking to the bot.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use ruma::{OwnedUserId, UserId};
use serde::Deserialize;

use super::ProvisioningState;
use crate::appservice::MatrixError;
use crate::seam::PermissionLevel;

/// How long a checked OpenID token is trusted without asking the homeserver again.
const OPENID_TRUST: Duration = Duration::from_secs(300);

/// The Matrix user a request acts for, and their level.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: OwnedUserId,
    pub level: PermissionLevel,
}

#[derive(Deserialize)]
struct UserParam {
    user_id: Option<String>,
}

/// OpenID tokens the homeserver vouched for, with when.
#[derive(Default)]
pub(super) struct OpenIdCache {
    checked: Mutex<HashMap<String, (OwnedUserId, Instant)>>,
}

impl OpenIdCache {
    fn get(&self, token: &str) -> Option<OwnedUserId> {
        let mut map = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, at)| at.elapsed() < OPENID_TRUST);
        map.get(token).map(|(user, _)| user.clone())
    }

    fn put(&self, token: &str, user: &OwnedUserId) {
        let mut map = self.checked.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(token.to_owned(), (user.clone(), Instant::now()));
    }
}

impl FromRequestParts<ProvisioningState> for Caller {
    type Rejection = MatrixError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ProvisioningState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                MatrixError::unauthorized(
                    "missing `Authorization: Bearer <secret or OpenID token>`",
                )
                .with_code("M_MISSING_TOKEN")
            })?
            .to_owned();
        let Query(param) = Query::<UserParam>::try_from_uri(&parts.uri)
            .map_err(|e| MatrixError::invalid_param(format!("bad query string: {e}")))?;
        let user = match param.user_id.as_deref() {
            Some(raw) => Some(UserId::parse(raw).map_err(|e| {
                MatrixError::invalid_param(format!("`user_id` is not a Matrix user ID: {e}"))
            })?),
            None => None,
        };
        let secret = &state.config.shared_secret;
        let user = if !secret.is_empty()
            && crate::appservice::tokens_match(secret.as_bytes(), token.as_bytes())
        {
            user.ok_or_else(|| {
                MatrixError::invalid_param("`user_id` is required with the shared secret")
            })?
        } else if state.config.openid {
            let vouched = state.openid_user(&token).await?;
            if user.as_ref().is_some_and(|u| *u != vouched) {
                return Err(MatrixError::forbidden(
                    "the OpenID token belongs to another user than `user_id`",
                ));
            }
            vouched
        } else {
            return Err(
                MatrixError::forbidden("wrong provisioning secret").with_code("M_UNKNOWN_TOKEN")
            );
        };
        let level = state.core.host.permissions().level_of(&user);
        if level < PermissionLevel::User {
            return Err(MatrixError::forbidden(format!(
                "{user} may not use this bridge"
            )));
        }
        Ok(Caller { user, level })
    }
}

impl ProvisioningState {
    /// The user an OpenID token belongs to, asked of the bridge's homeserver (its federation
    /// `openid/userinfo` endpoint) and remembered for a while.
    async fn openid_user(&self, token: &str) -> Result<OwnedUserId, MatrixError> {
        if let Some(user) = self.openid.get(token) {
            return Ok(user);
        }
        let refused =
            || MatrixError::forbidden("unknown OpenID token").with_code("M_UNKNOWN_TOKEN");
        let mut url = self.homeserver.clone();
        url.set_path("/_matrix/federation/v1/openid/userinfo");
        url.query_pairs_mut().append_pair("access_token", token);
        let response = self.http.get(url).send().await.map_err(|e| {
            tracing::warn!(error = %e, "cannot reach the homeserver to check an OpenID token");
            MatrixError::unknown("cannot check the OpenID token now; try again")
        })?;
        if !response.status().is_success() {
            return Err(refused());
        }
        #[derive(Deserialize)]
        struct UserInfo {
            sub: OwnedUserId,
        }
        let info: UserInfo = response.json().await.map_err(|_| refused())?;
        if info.sub.server_name().as_str() != self.domain {
            return Err(refused());
        }
        self.openid.put(token, &info.sub);
        Ok(info.sub)
    }
}
