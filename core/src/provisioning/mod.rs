//! The provisioning API: what integration managers and web front-ends use instead of the bot.
//! Served under the appservice listener at [`PREFIX`] when `provisioning` is configured, and
//! described in `docs/provisioning.openapi.yaml`.
//!
//! Every request acts for one Matrix user ([`auth::Caller`]) and is held to what that user could
//! do through the bot: logins run the network's own step machine ([`logins`]); plumbing and
//! unlinking run the bot's own commands ([`portals`]). Errors are Matrix-style JSON
//! (`errcode`, `error`).

mod auth;
mod logins;
mod portals;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::appservice::MatrixError;
use crate::config::ProvisioningConfig;
use crate::context::Core;
use auth::Caller;
pub use logins::LoginError;

/// Where the API lives on the appservice listener.
pub const PREFIX: &str = "/_ferrybridge/provision/v1";

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct ProvisioningState {
    core: Core,
    config: ProvisioningConfig,
    logins: logins::LoginSessions,
    openid: Arc<auth::OpenIdCache>,
    http: reqwest::Client,
    /// The bridge's homeserver, which vouches for OpenID tokens.
    homeserver: url::Url,
    domain: String,
}

/// The API's routes (an empty router when `provisioning` is off).
pub(crate) fn routes(core: Core, config: &ProvisioningConfig, homeserver: url::Url) -> Router {
    if !config.enabled() {
        return Router::new();
    }
    let state = ProvisioningState {
        domain: core.host.domain().to_owned(),
        core,
        config: config.clone(),
        logins: Default::default(),
        openid: Default::default(),
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default(),
        homeserver,
    };
    let api = Router::new()
        .route("/whoami", get(whoami))
        .route("/login", post(login_start))
        .route("/login/{id}/input", post(login_input))
        .route("/login/{id}/wait", post(login_wait))
        .route("/login/{id}", axum::routing::delete(login_cancel))
        .route("/logout", post(logout))
        .route("/portals", get(list_portals))
        .route(
            "/plumb",
            post(|State(s), c, b| room_command(s, c, b, "plumb")),
        )
        .route(
            "/unlink",
            post(|State(s), c, b| room_command(s, c, b, "unlink")),
        )
        .with_state(state);
    Router::new().nest(PREFIX, api)
}

/// A JSON body, or a Matrix-style error naming what is wrong; an empty body reads as `{}`.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, MatrixError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice::<Value>(bytes)
        .map_err(|e| MatrixError::not_json(format!("the body is not JSON: {e}")))?;
    serde_json::from_slice(bytes).map_err(|e| MatrixError::bad_json(e.to_string()))
}

fn login_error(e: LoginError) -> MatrixError {
    match e {
        LoginError::Unknown => MatrixError::not_found(e.to_string()),
        LoginError::Busy(_) | LoginError::Asking | LoginError::NotAsking => {
            MatrixError::new(axum::http::StatusCode::CONFLICT, "M_UNKNOWN", e.to_string())
        }
    }
}

async fn whoami(State(state): State<ProvisioningState>, caller: Caller) -> Json<Value> {
    let host = &state.core.host;
    let logins = match state.core.capabilities.login {
        true => state.core.network.logins(&caller.user).await,
        false => Vec::new(),
    };
    Json(json!({
        "user_id": caller.user,
        "permission": format!("{:?}", caller.level).to_lowercase(),
        "network": { "id": host.network_id(), "name": host.network_name() },
        "login_supported": state.core.capabilities.login,
        "multiple_logins": state.core.capabilities.multiple_logins,
        "logins": logins
            .iter()
            .map(|l| json!({ "login": l.slot.get(), "account": l.account }))
            .collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StartLogin {
    /// Options as the bot's `login` command takes them (e.g. a phone number).
    #[serde(default)]
    args: Vec<String>,
}

async fn login_start(
    State(state): State<ProvisioningState>,
    caller: Caller,
    bytes: Bytes,
) -> Result<Json<Value>, MatrixError> {
    let request: StartLogin = body(&bytes)?;
    if !state.core.capabilities.login {
        return Err(MatrixError::not_found("this network has no logins"));
    }
    if let Some(account) = state.core.network.whoami(&caller.user).await
        && !state.core.capabilities.multiple_logins
    {
        return Err(MatrixError::new(
            axum::http::StatusCode::CONFLICT,
            "M_UNKNOWN",
            format!("already logged in as {account}; log out first"),
        ));
    }
    let process = state
        .core
        .network
        .start_login(&caller.user, &request.args)
        .await
        .map_err(|e| MatrixError::invalid_param(e.to_string()))?;
    let (id, step) = state
        .logins
        .start(&caller.user, process)
        .await
        .map_err(login_error)?;
    Ok(Json(json!({ "login_id": id, "step": step })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginInput {
    input: String,
}

async fn login_input(
    State(state): State<ProvisioningState>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, MatrixError> {
    let request: LoginInput = body(&bytes)?;
    let step = state
        .logins
        .input(&caller.user, &id, request.input)
        .await
        .map_err(login_error)?;
    Ok(Json(json!({ "login_id": id, "step": step })))
}

async fn login_wait(
    State(state): State<ProvisioningState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, MatrixError> {
    let step = state
        .logins
        .wait(&caller.user, &id)
        .await
        .map_err(login_error)?;
    Ok(Json(json!({ "login_id": id, "step": step })))
}

async fn login_cancel(
    State(state): State<ProvisioningState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, MatrixError> {
    state
        .logins
        .cancel(&caller.user, &id)
        .await
        .map_err(login_error)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Logout {
    /// Which login (`logins[].login` of `/whoami`); may be left out when there is one.
    #[serde(default)]
    login: Option<crate::ids::LoginSlot>,
}

async fn logout(
    State(state): State<ProvisioningState>,
    caller: Caller,
    bytes: Bytes,
) -> Result<Json<Value>, MatrixError> {
    let request: Logout = body(&bytes)?;
    let network = &state.core.network;
    let logins = match state.core.capabilities.login {
        true => network.logins(&caller.user).await,
        false => Vec::new(),
    };
    let slot = match (request.login, logins.as_slice()) {
        (_, []) => return Err(MatrixError::not_found("not logged in")),
        (Some(slot), _) => slot,
        (None, [one]) => one.slot,
        (None, _) => {
            return Err(MatrixError::invalid_param(
                "the caller has several logins: say which (`login`)",
            ));
        }
    };
    if !logins.iter().any(|l| l.slot == slot) {
        return Err(MatrixError::not_found(format!("no login {slot}")));
    }
    network
        .logout(&caller.user, slot)
        .await
        .map_err(|e| MatrixError::unknown(format!("logout failed: {e}")))?;
    if logins.len() == 1 {
        state
            .core
            .host
            .ghosts()
            .double_puppets()
            .unlink(&caller.user);
    }
    Ok(Json(json!({})))
}

async fn list_portals(
    State(state): State<ProvisioningState>,
    caller: Caller,
) -> Result<Json<Value>, MatrixError> {
    let portals = state.portals_of(&caller.user).await?;
    Ok(Json(json!({ "portals": portals })))
}

/// `/plumb` and `/unlink`: the bot command of that name, for the caller.
async fn room_command(
    state: ProvisioningState,
    caller: Caller,
    bytes: Bytes,
    name: &'static str,
) -> Result<Json<Value>, MatrixError> {
    let request = body(&bytes)?;
    let message = state.run_room_command(&caller, name, request).await?;
    Ok(Json(json!({ "message": message })))
}

#[cfg(test)]
mod tests {
    /// The OpenAPI description in `docs/` names every route served here.
    #[test]
    fn the_openapi_description_covers_every_route() {
        let doc = include_str!("../../../docs/provisioning.openapi.yaml");
        for path in [
            "/whoami:",
            "/login:",
            "/login/{id}/input:",
            "/login/{id}/wait:",
            "/login/{id}:",
            "/logout:",
            "/portals:",
            "/plumb:",
            "/unlink:",
        ] {
            assert!(
                doc.contains(&format!("\n  {path}\n")),
                "{path} is not described"
            );
        }
        assert!(
            doc.contains(super::PREFIX),
            "the servers entry names the prefix"
        );
    }

    #[test]
    fn bodies_are_checked_before_anything_runs() {
        use super::{StartLogin, body};
        let empty = axum::body::Bytes::from_static(b"");
        assert!(body::<StartLogin>(&empty).is_ok(), "an empty body is {{}}");
        let not_json = axum::body::Bytes::from_static(b"{oops");
        assert_eq!(
            body::<StartLogin>(&not_json).err().map(|e| e.errcode),
            Some("M_NOT_JSON")
        );
        let wrong = axum::body::Bytes::from_static(br#"{"args": "x"}"#);
        assert_eq!(
            body::<StartLogin>(&wrong).err().map(|e| e.errcode),
            Some("M_BAD_JSON")
        );
        let unknown = axum::body::Bytes::from_static(br#"{"argz": []}"#);
        assert_eq!(
            body::<StartLogin>(&unknown).err().map(|e| e.errcode),
            Some("M_BAD_JSON")
        );
    }
}
