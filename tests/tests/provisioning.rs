//! The provisioning API end to end against a real Synapse: a whole WhatsApp QR login (fake
//! WhatsApp) driven over HTTP, the caller's portals, logout, OpenID tokens from Synapse, and a
//! plumb and an unlink (echo network) held to the bot's permission rules; every kind of bad
//! authentication refused.

mod whatsapp_common;

use anyhow::Result;
use ferrybridge_core::bridge::Bridge;
use ferrybridge_tests::echo::EchoBridge;
use ferrybridge_tests::{BridgeEnv, TestUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use whatsapp_common::*;

const PREFIX: &str = "/_ferrybridge/provision/v1";

/// One API call: `(status, body)`. `token` goes in the Authorization header, `user` in the
/// query.
async fn api(
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    user: Option<&str>,
    body: Option<Value>,
) -> Result<(StatusCode, Value)> {
    let mut url = reqwest::Url::parse(&format!("{base}{PREFIX}{path}"))?;
    if let Some(user) = user {
        url.query_pairs_mut().append_pair("user_id", user);
    }
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// Calls made with the shared secret, acting for a user.
struct WithSecret {
    base: String,
    secret: String,
}

impl WithSecret {
    async fn call(
        &self,
        method: Method,
        path: &str,
        user: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value)> {
        api(
            &self.base,
            method,
            path,
            Some(&self.secret),
            Some(user),
            body,
        )
        .await
    }
}

/// An OpenID token for `user` from Synapse.
async fn openid_token(user: &TestUser) -> Result<String> {
    let r = user
        .call(
            Method::POST,
            &["user", user.user_id.as_str(), "openid", "request_token"],
            &[],
            Some(&json!({})),
        )
        .await?;
    Ok(r["access_token"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_qr_login_driven_over_http_and_bad_auth_refused() -> Result<()> {
    let sessions = tempfile::tempdir()?;
    let wa = world();
    let env = BridgeEnv::start_tuned(
        &yaml(sessions.path()),
        None,
        |c| c.provisioning.openid = true,
        bridge(sessions.path(), &wa),
    )
    .await?;
    let base = env.appservice_url();
    let secret = env.config.provisioning.shared_secret.clone();
    let with_secret = WithSecret {
        base: base.clone(),
        secret: secret.clone(),
    };
    let alice = env.user("alice").await?;
    let me = alice.user_id.as_str();

    // Refusals: no token, a wrong one, the secret without a user, a user with no rights, a
    // token Synapse never issued, a malformed user ID.
    let (s, b) = api(&base, Method::GET, "/whoami", None, Some(me), None).await?;
    assert_eq!(
        (s, b["errcode"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("M_MISSING_TOKEN"))
    );
    let (s, b) = api(
        &base,
        Method::GET,
        "/whoami",
        Some("not-the-secret"),
        Some(me),
        None,
    )
    .await?;
    assert_eq!(
        (s, b["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_UNKNOWN_TOKEN"))
    );
    let (s, _) = api(&base, Method::GET, "/whoami", Some(&secret), None, None).await?;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, b) = with_secret
        .call(Method::GET, "/whoami", "@eve:elsewhere.example", None)
        .await?;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, _) = with_secret
        .call(Method::GET, "/whoami", "not a user", None)
        .await?;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Alice's own OpenID token works without the secret, and only for her.
    let token = openid_token(&alice).await?;
    let (s, b) = api(&base, Method::GET, "/whoami", Some(&token), None, None).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["user_id"], me);
    assert_eq!(b["network"]["id"], "whatsapp");
    assert_eq!(b["logins"], json!([]));
    let (s, _) = api(
        &base,
        Method::GET,
        "/whoami",
        Some(&token),
        Some("@bob:localhost"),
        None,
    )
    .await?;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Bad bodies change nothing.
    let (s, b) = with_secret
        .call(Method::POST, "/login", me, Some(json!({"args": 5})))
        .await?;
    assert_eq!(
        (s, b["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_BAD_JSON"))
    );

    // The whole QR login: the code, its rotation, the scan.
    let (s, b) = with_secret.call(Method::POST, "/login", me, None).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["step"]["type"], "qr", "{b}");
    let first = b["step"]["payload"].as_str().unwrap_or_default().to_owned();
    let id = b["login_id"].as_str().unwrap_or_default().to_owned();
    assert!(!first.is_empty() && !id.is_empty(), "{b}");
    let (s, _) = with_secret
        .call(
            Method::POST,
            &format!("/login/{id}/wait"),
            "@bob:localhost",
            None,
        )
        .await?;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "someone else's login is not found"
    );
    let (s, _) = with_secret
        .call(
            Method::POST,
            &format!("/login/{id}/input"),
            me,
            Some(json!({"input": "x"})),
        )
        .await?;
    assert_eq!(s, StatusCode::CONFLICT, "a QR login asks for no input");
    wa.rotate_qr().await;
    let (_, b) = with_secret
        .call(Method::POST, &format!("/login/{id}/wait"), me, None)
        .await?;
    assert_eq!(b["step"]["type"], "qr", "{b}");
    assert_ne!(b["step"]["payload"], first.as_str(), "the rotated code");
    assert!(wa.scan(ME).await, "a pairing was waiting");
    let (_, b) = with_secret
        .call(Method::POST, &format!("/login/{id}/wait"), me, None)
        .await?;
    assert_eq!(b["step"]["type"], "done", "{b}");
    let account = b["step"]["account"].as_str().unwrap_or_default().to_owned();
    assert!(account.starts_with(ME), "{b}");

    let (_, b) = with_secret.call(Method::GET, "/whoami", me, None).await?;
    assert_eq!(
        b["logins"],
        json!([{ "login": 1, "account": ME }]),
        "whoami names the number"
    );
    // WhatsApp links several accounts: a second `/login` starts another (cancelled here).
    assert_eq!(b["multiple_logins"], true, "{b}");
    let (s, b) = with_secret.call(Method::POST, "/login", me, None).await?;
    assert_eq!(s, StatusCode::OK, "another login: {b}");
    assert_eq!(b["step"]["type"], "qr", "{b}");
    let second = b["login_id"].as_str().unwrap_or_default().to_owned();
    let (s, _) = with_secret
        .call(Method::DELETE, &format!("/login/{second}"), me, None)
        .await?;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = with_secret.call(Method::GET, "/portals", me, None).await?;
    assert_eq!(s, StatusCode::OK);
    assert!(b["portals"].is_array(), "{b}");

    // Logout names a login when it names one at all: a bad or unknown one changes nothing.
    let (s, b) = with_secret
        .call(Method::POST, "/logout", me, Some(json!({ "login": 0 })))
        .await?;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = with_secret
        .call(Method::POST, "/logout", me, Some(json!({ "login": 2 })))
        .await?;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");

    // Logout, once.
    let (s, _) = with_secret.call(Method::POST, "/logout", me, None).await?;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = with_secret.call(Method::POST, "/logout", me, None).await?;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A started login can be cancelled.
    let (_, b) = with_secret.call(Method::POST, "/login", me, None).await?;
    let id = b["login_id"].as_str().unwrap_or_default().to_owned();
    let (s, _) = with_secret
        .call(Method::DELETE, &format!("/login/{id}"), me, None)
        .await?;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = with_secret
        .call(Method::POST, &format!("/login/{id}/wait"), me, None)
        .await?;
    assert_eq!(s, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn plumb_and_unlink_over_http_follow_the_bots_rules() -> Result<()> {
    let yaml = <ferrybridge_tests::echo::EchoConfig as ferrybridge_core::config::NetworkConfig>::example_yaml();
    let env = BridgeEnv::start(&yaml, None, EchoBridge::init).await?;
    let with_secret = WithSecret {
        base: env.appservice_url(),
        secret: env.config.provisioning.shared_secret.clone(),
    };
    let admin = env.user("admin").await?;
    let alice = env.user("alice").await?;
    let room = admin
        .create_room(json!({"name": "Our room", "preset": "public_chat"}))
        .await?;
    // `/plumb` or `/unlink` of the room to the echo chat `town`, acting for `user`.
    let room_call = |path: &'static str, user: &ruma::UserId| {
        let (user, body) = (user.to_string(), json!({"room_id": room, "args": ["town"]}));
        let with_secret = &with_secret;
        async move {
            with_secret
                .call(Method::POST, path, &user, Some(body))
                .await
        }
    };
    let plumb = |user| room_call("/plumb", user);
    let unlink = |user| room_call("/unlink", user);
    // Alice is a user, not an admin: plumbing is not hers to do.
    let (s, b) = plumb(&alice.user_id).await?;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    // The bot must be in the room first, as with the command.
    let (s, b) = plumb(&admin.user_id).await?;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        b["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Invite me"),
        "{b}"
    );
    admin.invite(&room, &env.bot()).await?;
    ferrybridge_tests::wait_until(std::time::Duration::from_secs(30), || async {
        admin
            .joined_members(&room)
            .await
            .is_ok_and(|m| m.contains(&env.bot()))
    })
    .await?;
    let (s, b) = plumb(&admin.user_id).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Bridged"),
        "{b}"
    );
    admin.send_text(&room, "hello town").await?;
    ferrybridge_tests::echo::wait_echo(&admin, &room, "hello town").await?;

    // Unlink: a plain member is refused as the bot would refuse her; the admin may.
    alice.join(room.as_str()).await?;
    let (s, b) = unlink(&alice.user_id).await?;
    assert!(s.is_client_error(), "{s} {b}");
    assert!(
        b["error"]
            .as_str()
            .unwrap_or_default()
            .contains("moderator"),
        "{b}"
    );
    let (s, b) = unlink(&admin.user_id).await?;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Unlinked"),
        "{b}"
    );
    let (s, b) = with_secret
        .call(
            Method::POST,
            "/unlink",
            admin.user_id.as_str(),
            Some(json!({"room": "x"})),
        )
        .await?;
    assert_eq!(
        (s, b["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_BAD_JSON"))
    );
    Ok(())
}
