//! The Telegram login dialogue end to end through Synapse, on the fake network (and once on the
//! real grammers adapter with no route to Telegram).

mod telegram_common;

use std::time::{Duration, Instant};

use anyhow::Result;
use ferrybridge_core::bridge::Bridge;
use ferrybridge_telegram::TelegramBridge;
use telegram_common::*;

#[tokio::test]
async fn login_happy_path_ping_and_logout() -> Result<()> {
    let world = world();
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;

    let help = command(&alice, &dm, "help").await?;
    for cmd in [
        "login",
        "logout",
        "pm",
        "search",
        "list",
        "open",
        "sync",
        "delete-all-portals",
    ] {
        assert!(help.contains(cmd), "help lacks {cmd}: {help}");
    }
    assert!(
        command(&alice, &dm, "ping")
            .await?
            .contains("not logged in")
    );
    login(&alice, &dm).await?;
    assert_eq!(
        command(&alice, &dm, "ping").await?,
        "You are logged in as Alice (+4412345678).\nTelegram: connected."
    );
    // Telegram allows several logins: `login` again starts adding one (see telegram_logins).
    alice.send_text(&dm, "login").await?;
    wait_notice(&alice, &dm, "phone number").await?;
    alice.send_text(&dm, "cancel").await?;
    wait_notice(&alice, &dm, "Login cancelled").await?;
    assert_eq!(command(&alice, &dm, "logout").await?, "Logged out.");
    assert!(
        command(&alice, &dm, "ping")
            .await?
            .contains("not logged in")
    );
    Ok(())
}

/// An interrupted update stream (network trouble; the real adapter retries with backoff and
/// catches up) shows in `ping` and is announced once, and so is its end.
#[tokio::test]
async fn an_interrupted_update_stream_is_reported_and_its_recovery_too() -> Result<()> {
    use ferrybridge_telegram::network::TgUpdate;
    let world = world();
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    login(&alice, &dm).await?;
    let reason = "connection reset by peer".to_owned();
    world
        .inject(ME, TgUpdate::StreamInterrupted { reason })
        .await;
    wait_notice(
        &alice,
        &dm,
        "Disconnected from Telegram (connection reset by peer); reconnecting.",
    )
    .await?;
    let ping = command(&alice, &dm, "ping").await?;
    assert!(
        ping.contains("disconnected (connection reset by peer)"),
        "{ping}"
    );
    world.inject(ME, TgUpdate::StreamResumed).await;
    wait_notice(&alice, &dm, "Reconnected to Telegram.").await?;
    assert!(
        command(&alice, &dm, "ping")
            .await?
            .ends_with("Telegram: connected."),
    );
    Ok(())
}

#[tokio::test]
async fn wrong_code_then_cancel_then_login_again() -> Result<()> {
    let world = world();
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;

    alice.send_text(&dm, "login").await?;
    wait_notice(&alice, &dm, "phone number").await?;
    alice.send_text(&dm, "not a number").await?;
    wait_notice(&alice, &dm, "is not a phone number in international format").await?;
    alice.send_text(&dm, "+4499999999").await?;
    wait_notice(&alice, &dm, "does not accept +4499999999").await?;
    alice.send_text(&dm, PHONE).await?;
    wait_notice(&alice, &dm, "login code").await?;
    alice.send_text(&dm, "99999").await?;
    wait_notice(&alice, &dm, "That code is wrong.").await?;
    alice.send_text(&dm, "cancel").await?;
    wait_notice(&alice, &dm, "Login cancelled").await?;
    assert!(
        command(&alice, &dm, "ping")
            .await?
            .contains("not logged in")
    );

    login(&alice, &dm).await?;
    assert!(command(&alice, &dm, "ping").await?.contains("Alice"));
    Ok(())
}

#[tokio::test]
async fn expired_code_banned_number_and_flood_wait_are_explained() -> Result<()> {
    let world = world();
    world.flood_wait(PHONE, Duration::from_secs(125));
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;

    alice.send_text(&dm, "login").await?;
    wait_notice(&alice, &dm, "phone number").await?;
    alice.send_text(&dm, PHONE).await?;
    let flood = wait_notice(&alice, &dm, "Login failed").await?;
    assert!(flood.contains("wait 2 minutes 5 seconds"), "{flood}");

    alice.send_text(&dm, "login").await?;
    wait_notice(&alice, &dm, "phone number").await?;
    alice.send_text(&dm, "+4400000666").await?;
    let banned = wait_notice(&alice, &dm, "Login failed").await?;
    assert!(banned.contains("banned"), "{banned}");

    world.expire_code(PHONE);
    alice.send_text(&dm, "login").await?;
    wait_notice(&alice, &dm, "phone number").await?;
    alice.send_text(&dm, PHONE).await?;
    wait_notice(&alice, &dm, "login code").await?;
    alice.send_text(&dm, "12345").await?;
    let expired = wait_notice(&alice, &dm, "Login failed").await?;
    assert!(expired.contains("expired"), "{expired}");
    Ok(())
}

#[tokio::test]
async fn two_step_password_is_asked_and_redacted() -> Result<()> {
    let world = world();
    world.add_account(
        "+4477777777",
        user(4000, "Dana", "4477777777", "dana"),
        "55555",
        Some("hunter2"),
    );
    let env = env(&world).await?;
    let dana = env.user("dana").await?;
    let dm = bot_dm(&env, &dana).await?;

    dana.send_text(&dm, "login").await?;
    wait_notice(&dana, &dm, "phone number").await?;
    dana.send_text(&dm, "+4477777777").await?;
    wait_notice(&dana, &dm, "login code").await?;
    dana.send_text(&dm, "55555").await?;
    let ask = wait_notice(&dana, &dm, "two-step verification").await?;
    assert!(ask.contains("hint: the usual"), "{ask}");
    let wrong = dana.send_text(&dm, "wrong").await?;
    wait_notice(&dana, &dm, "That password is wrong.").await?;
    let secret = dana.send_text(&dm, "hunter2").await?;
    let mut redacted = vec![];
    for _ in 0..2 {
        let r = dana
            .wait_for(&dm, T, |ev| ev["type"] == "m.room.redaction")
            .await?;
        redacted.push(
            r["content"]["redacts"]
                .as_str()
                .or(r["redacts"].as_str())
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert!(redacted.contains(&wrong.to_string()), "{redacted:?}");
    assert!(redacted.contains(&secret.to_string()), "{redacted:?}");
    wait_notice(&dana, &dm, "Successfully logged in as Dana (+4477777777)").await?;
    Ok(())
}

#[tokio::test]
async fn restart_during_login_asks_to_start_over() -> Result<()> {
    let world = world();
    let mut env = env(&world).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    alice.send_text(&dm, "login").await?;
    wait_notice(&alice, &dm, "phone number").await?;
    alice.send_text(&dm, PHONE).await?;
    wait_notice(&alice, &dm, "login code").await?;

    env.stop().await;
    env.run(bridge(&world)).await?;
    wait_notice(&alice, &dm, "restarted while you were logging in").await?;
    login(&alice, &dm).await?;
    Ok(())
}

/// The real grammers adapter, pointed at a closed local port: the login ends with a clear
/// notice within the configured timeout instead of hanging.
#[tokio::test]
async fn real_adapter_without_route_to_telegram_fails_clearly() -> Result<()> {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let yaml = format!("{YAML}  server_address: 127.0.0.1:{closed}\n");
    let mut cfg = config();
    cfg.server_address = Some(format!("127.0.0.1:{closed}"));
    let env = ferrybridge_tests::BridgeEnv::start(&yaml, None, move |_, host| {
        TelegramBridge::init(cfg, host)
    })
    .await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    alice.send_text(&dm, "login").await?;
    wait_notice(&alice, &dm, "phone number").await?;
    let start = Instant::now();
    alice.send_text(&dm, PHONE).await?;
    let failed = wait_notice(&alice, &dm, "Login failed").await?;
    assert!(failed.contains("cannot reach Telegram"), "{failed}");
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "took {:?}",
        start.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn bot_invited_to_a_group_room_explains_and_leaves() -> Result<()> {
    let world = world();
    let env = env(&world).await?;
    let alice = env.user("alice").await?;
    let room = alice
        .create_room(serde_json::json!({"name": "Not a DM", "preset": "private_chat"}))
        .await?;
    alice.invite(&room, &env.bot()).await?;
    wait_notice(&alice, &room, "only take commands in a direct message").await?;
    ferrybridge_tests::wait_until(T, || async {
        alice
            .joined_members(&room)
            .await
            .is_ok_and(|m| !m.contains(&env.bot()))
    })
    .await?;
    Ok(())
}
