//! The core end to end, against a real Synapse, through the loopback echo network: the bot DM,
//! commands, portals, messages with replies/edits/reactions/redactions both ways, failure
//! notices, logins, aliases, DMs with ghosts, plumbing, restarts and replayed transactions.

use std::time::Duration;

use anyhow::Result;
use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::events::MatrixEventKind;
use ferrybridge_tests::bot_chat::{bot_dm, command, is_notice_containing, replies_to, sender};
use ferrybridge_tests::echo::{EchoBridge, EchoConfig, open_portal, wait_echo};
use ferrybridge_tests::{BridgeEnv, text_body};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

/// The echo network, configured by the `network:` section of the test's config.
fn echo_net() -> impl ferrybridge_tests::Builder<EchoBridge> {
    EchoBridge::init
}

async fn env() -> Result<BridgeEnv<EchoBridge>> {
    BridgeEnv::start(
        &<EchoConfig as ferrybridge_core::config::NetworkConfig>::example_yaml(),
        None,
        echo_net(),
    )
    .await
}

#[tokio::test]
async fn bot_dm_commands_portal_messages_and_restart() -> Result<()> {
    let mut env = env().await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;

    let help = command(&alice, &dm, "help").await?;
    assert!(
        help.contains("open") && help.contains("login") && help.contains("version"),
        "help: {help}"
    );
    assert!(!help.contains("plumb"), "plumb is for admins only: {help}");
    let unknown = command(&alice, &dm, "frobnicate").await?;
    assert!(
        unknown.contains("Unknown command `frobnicate`") && unknown.contains("help"),
        "{unknown}"
    );
    let usage = command(&alice, &dm, "!open").await?;
    assert!(usage.contains("Usage: `open <chat>`"), "{usage}");
    let version = command(&alice, &dm, "BRIDGEVERSION").await?;
    assert!(version.starts_with("ferrybridge-echo "), "{version}");

    let room = open_portal(&alice, &dm, "lobby").await?;
    let ghost = format!("@_echo_echo:{}", env.synapse.server_name());

    // A message comes back from the ghost, as a reply to it.
    let hello = alice.send_text(&room, "hello").await?;
    let echo = wait_echo(&alice, &room, "hello").await?;
    assert_eq!(sender(&echo), ghost);
    assert!(replies_to(&echo, &hello), "echo is a reply: {echo}");
    let echo_id = echo["event_id"].as_str().unwrap_or_default().to_owned();
    let member = alice.get_state(&room, "m.room.member", &ghost).await?;
    assert_eq!(member["displayname"], "echo (Echo)");

    // An edit maps to an edit of the echo.
    alice
        .send_json(
            &room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "* hello again",
                "m.new_content": {"msgtype": "m.text", "body": "hello again"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": hello},
            }),
        )
        .await?;
    let edit = alice
        .wait_for(&room, T, |ev| {
            ev["content"]["m.relates_to"]["rel_type"] == "m.replace" && sender(ev) == ghost
        })
        .await?;
    assert_eq!(
        edit["content"]["m.relates_to"]["event_id"],
        echo_id.as_str()
    );
    assert_eq!(
        edit["content"]["m.new_content"]["body"],
        "echo: hello again"
    );

    // A reaction to my message comes back as the ghost's reaction to it.
    alice
        .send_json(
            &room,
            "m.reaction",
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": hello, "key": "👍"}}),
        )
        .await?;
    let reaction = alice
        .wait_for(&room, T, |ev| {
            ev["type"] == "m.reaction" && sender(ev) == ghost
        })
        .await?;
    assert_eq!(
        reaction["content"]["m.relates_to"]["event_id"],
        hello.as_str()
    );
    assert_eq!(reaction["content"]["m.relates_to"]["key"], "👍");

    // Redacting my message redacts the echo.
    alice.redact(&room, &hello, None).await?;
    let redaction = alice
        .wait_for(&room, T, |ev| {
            ev["type"] == "m.room.redaction" && sender(ev) == ghost
        })
        .await?;
    let redacted = redaction["content"]["redacts"]
        .as_str()
        .or(redaction["redacts"].as_str())
        .unwrap_or_default();
    assert_eq!(redacted, echo_id);

    // Media goes out as a link that works without a Matrix account.
    let host = env.host().expect("running");
    let png = bytes::Bytes::from_static(b"\x89PNG\r\n\x1a\nnot really a picture");
    let mxc = host
        .matrix()
        .upload(png.clone(), "image/png", Some("cat.png"))
        .await?;
    alice
        .send_json(
            &room,
            "m.room.message",
            json!({"msgtype": "m.image", "body": "cat.png", "url": mxc}),
        )
        .await?;
    let link_echo = alice
        .wait_for(&room, T, |ev| {
            text_body(ev).is_some_and(|b| b.starts_with("echo: http"))
        })
        .await?;
    let link = text_body(&link_echo)
        .unwrap_or_default()
        .trim_start_matches("echo: ")
        .to_owned();
    assert!(
        link.contains("/_ferrybridge/media/") && link.ends_with("/cat.png"),
        "{link}"
    );
    let fetched = reqwest::get(&link).await?;
    assert_eq!(fetched.status().as_u16(), 200);
    assert_eq!(fetched.bytes().await?, png);
    let forged = link.replace("/_ferrybridge/media/", "/_ferrybridge/media/x");
    assert_eq!(reqwest::get(&forged).await?.status().as_u16(), 404);

    // What the network can't deliver is said, not dropped.
    let failing = alice.send_text(&room, "this will fail").await?;
    let notice = alice
        .wait_for(&room, T, |ev| is_notice_containing(ev, "not delivered"))
        .await?;
    assert!(replies_to(&notice, &failing), "{notice}");
    assert_eq!(sender(&notice), env.bot().as_str());
    // ... also when the network's verdict comes after it queued the message.
    let late = alice.send_text(&room, "this will fail later").await?;
    let notice = alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "not delivered") && replies_to(ev, &late)
        })
        .await?;
    assert_eq!(sender(&notice), env.bot().as_str());

    // After a restart, the portal and the message map are still there.
    env.stop().await;
    env.run(echo_net()).await?;
    let after = alice.send_text(&room, "after restart").await?;
    let echo = wait_echo(&alice, &room, "after restart").await?;
    assert!(replies_to(&echo, &after));
    let again = command(&alice, &dm, "open lobby").await?;
    assert_eq!(
        again,
        format!("Invited you to {room}."),
        "no second portal for the same chat"
    );
    Ok(())
}

/// PUTs a transaction straight to the appservice API.
async fn put_txn(
    env: &BridgeEnv<EchoBridge>,
    txn: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<(u16, Value)> {
    env.put_txn(txn, token, body).await
}

#[tokio::test]
async fn replayed_transactions_are_not_bridged_twice_and_tokens_are_checked() -> Result<()> {
    let mut env = env().await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    let room = open_portal(&alice, &dm, "replay").await?;

    let event = json!({
        "event_id": "$replayed-event-1", "room_id": room, "sender": alice.user_id,
        "type": "m.room.message", "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "replayed"},
    });
    let txn = json!({ "events": [event] });
    let token = env.hs_token().to_owned();
    assert_eq!(put_txn(&env, "txn-1", Some(&token), &txn).await?.0, 200);
    assert_eq!(
        put_txn(&env, "txn-1", Some(&token), &txn).await?.0,
        200,
        "a replay is acknowledged"
    );
    // The same event in another transaction is found in the message map.
    assert_eq!(put_txn(&env, "txn-2", Some(&token), &txn).await?.0, 200);
    // ... and after a restart too.
    env.stop().await;
    env.run(echo_net()).await?;
    assert_eq!(put_txn(&env, "txn-1", Some(&token), &txn).await?.0, 200);

    // The portal queue is ordered: once the marker's echo is in, any duplicate would be too.
    alice.send_text(&room, "marker").await?;
    wait_echo(&alice, &room, "marker").await?;
    let echoes = alice
        .messages(&room, 100)
        .await?
        .iter()
        .filter(|ev| text_body(ev) == Some("echo: replayed"))
        .count();
    assert_eq!(echoes, 1, "the replayed event was bridged exactly once");

    let (status, body) = put_txn(&env, "txn-3", None, &txn).await?;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_UNAUTHORIZED"))
    );
    let (status, body) = put_txn(&env, "txn-3", Some("wrong-token"), &txn).await?;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
    let (status, _) = put_txn(
        &env,
        "txn-3",
        Some(&token),
        &json!({"events": "not a list"}),
    )
    .await?;
    assert_eq!(status, 400);
    Ok(())
}

#[tokio::test]
async fn login_steps_cancel_and_secret_input() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    let wait_notice = |needle: &'static str| {
        let alice = &alice;
        let dm = &dm;
        async move {
            alice
                .wait_for(dm, T, |ev| is_notice_containing(ev, needle))
                .await
        }
    };

    let ping = command(&alice, &dm, "ping").await?;
    assert!(ping.contains("not logged in"), "{ping}");
    alice.send_text(&dm, "login").await?;
    wait_notice("phone number").await?;
    alice.send_text(&dm, "+4412345678").await?;
    wait_notice("code").await?;
    alice.send_text(&dm, "99999").await?;
    wait_notice("code").await?; // a wrong code asks again
    // While the login waits for input, `help` is input, but `cancel` is still a command.
    alice.send_text(&dm, "cancel").await?;
    wait_notice("Login cancelled").await?;

    alice.send_text(&dm, "login").await?;
    wait_notice("phone number").await?;
    alice.send_text(&dm, "+4412345678").await?;
    wait_notice("code").await?;
    alice.send_text(&dm, "12345").await?;
    wait_notice("password").await?;
    let secret = alice.send_text(&dm, "hunter2").await?;
    let redaction = alice
        .wait_for(&dm, T, |ev| ev["type"] == "m.room.redaction")
        .await?;
    let redacted = redaction["content"]["redacts"]
        .as_str()
        .or(redaction["redacts"].as_str())
        .unwrap_or_default();
    assert_eq!(
        redacted,
        secret.as_str(),
        "the password message is redacted"
    );
    wait_notice("Successfully logged in as +4412345678").await?;

    let ping = command(&alice, &dm, "ping").await?;
    assert_eq!(ping, "You are logged in as +4412345678.");
    let again = command(&alice, &dm, "login").await?;
    assert!(again.contains("already logged in"), "{again}");
    assert_eq!(command(&alice, &dm, "logout").await?, "Logged out.");
    Ok(())
}

#[tokio::test]
async fn alias_query_ghost_dm_and_plumbing() -> Result<()> {
    let env = env().await?;
    let server = env.synapse.server_name().to_owned();
    let alice = env.user("alice").await?;

    // Joining an alias in the bridge's namespace creates the portal.
    let plaza = alice.join(&format!("#_echo_plaza:{server}")).await?;
    alice.send_text(&plaza, "hi plaza").await?;
    wait_echo(&alice, &plaza, "hi plaza").await?;
    let name = alice.get_state(&plaza, "m.room.name", "").await?;
    assert_eq!(name["name"], "Echo plaza");
    let bridge = alice
        .get_state(&plaza, "m.bridge", "fi.ferrybridge://echo/plaza")
        .await?;
    assert_eq!(bridge["protocol"]["id"], "echo");

    // Inviting a ghost to a DM opens a private chat with that remote user.
    let bob = ruma::UserId::parse(format!("@_echo_bob:{server}"))?;
    let dm = alice.create_dm(&bob).await?;
    ferrybridge_tests::wait_until(T, || async {
        alice
            .joined_members(&dm)
            .await
            .is_ok_and(|m| m.contains(&bob))
    })
    .await?;
    alice.send_text(&dm, "hi bob").await?;
    let echo = wait_echo(&alice, &dm, "hi bob").await?;
    assert_eq!(sender(&echo), bob.as_str());

    // A remote user the network doesn't know gets a clear refusal, not silence.
    let nobody = ruma::UserId::parse(format!("@_echo_nobody:{server}"))?;
    let dm = alice.create_dm(&nobody).await?;
    alice
        .wait_for(&dm, T, |ev| {
            is_notice_containing(ev, "Cannot open a private chat")
        })
        .await?;

    // Plumbing: an admin links an existing room; a plain user may not unlink it.
    let admin = env.user("admin").await?;
    let admin_dm = bot_dm(&env, &admin).await?;
    let existing = admin
        .create_room(json!({"name": "Our room", "preset": "public_chat"}))
        .await?;
    let not_in = command(&admin, &admin_dm, &format!("plumb {existing} town")).await?;
    assert!(not_in.contains("Invite me"), "{not_in}");
    admin.invite(&existing, &env.bot()).await?;
    ferrybridge_tests::wait_until(T, || async {
        admin
            .joined_members(&existing)
            .await
            .is_ok_and(|m| m.contains(&env.bot()))
    })
    .await?;
    let plumbed = command(&admin, &admin_dm, &format!("plumb {existing} town")).await?;
    assert!(plumbed.starts_with("Bridged"), "{plumbed}");
    admin.send_text(&existing, "hello town").await?;
    wait_echo(&admin, &existing, "hello town").await?;
    let name = admin.get_state(&existing, "m.room.name", "").await?;
    assert_eq!(name["name"], "Our room", "a plumbed room keeps its name");

    let alice_dm = bot_dm(&env, &alice).await?;
    alice.join(existing.as_str()).await?;
    let refused = command(&alice, &alice_dm, &format!("unlink {existing} town")).await?;
    assert!(refused.contains("moderator"), "{refused}");
    let unlinked = command(&admin, &admin_dm, &format!("unlink {existing} town")).await?;
    assert!(unlinked.starts_with("Unlinked"), "{unlinked}");
    Ok(())
}

#[test]
fn echo_info_is_consistent() {
    assert_eq!(EchoBridge::info().id, "echo");
}

#[tokio::test]
async fn postgres_backend_keeps_portals_across_restarts() -> Result<()> {
    let (db, _guard) = ferrybridge_tests::fresh_postgres_db().await?;
    let yaml = <EchoConfig as ferrybridge_core::config::NetworkConfig>::example_yaml();
    let mut env = BridgeEnv::start(&yaml, Some(db), echo_net()).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    let room = open_portal(&alice, &dm, "pg").await?;
    alice.send_text(&room, "before").await?;
    wait_echo(&alice, &room, "before").await?;

    env.stop().await;
    env.run(echo_net()).await?;
    alice.send_text(&room, "after").await?;
    wait_echo(&alice, &room, "after").await?;
    assert_eq!(
        command(&alice, &dm, "open pg").await?,
        format!("Invited you to {room}.")
    );
    Ok(())
}

#[tokio::test]
async fn typing_and_read_receipts_reach_the_network() -> Result<()> {
    let yaml = <EchoConfig as ferrybridge_core::config::NetworkConfig>::example_yaml();
    let env = BridgeEnv::start(&yaml, None, echo_net()).await?;
    let net = env.network().expect("running");
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    let room = open_portal(&alice, &dm, "typing").await?;
    alice.send_text(&room, "read me").await?;
    let echo = wait_echo(&alice, &room, "read me").await?;
    let echo_id = echo["event_id"].as_str().unwrap_or_default().to_owned();

    let user = alice.user_id.to_string();
    let typing = json!({"typing": true, "timeout": 30000});
    alice
        .call(
            reqwest::Method::PUT,
            &["rooms", room.as_str(), "typing", &user],
            &[],
            Some(&typing),
        )
        .await?;
    alice
        .call(
            reqwest::Method::POST,
            &["rooms", room.as_str(), "receipt", "m.read", &echo_id],
            &[],
            Some(&json!({})),
        )
        .await?;
    ferrybridge_tests::wait_until(T, || {
        let seen = net.seen();
        async move {
            let typing = seen.iter().any(|s| matches!(s.event.kind, MatrixEventKind::Typing { typing: true }));
            let receipt = seen
                .iter()
                .any(|s| matches!(&s.event.kind, MatrixEventKind::ReadReceipt { up_to } if up_to.as_str().starts_with("echo-of-")));
            typing && receipt
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_dm_only_bot_explains_and_leaves_group_rooms() -> Result<()> {
    let yaml = "  bot_in_groups: false\n";
    let env = BridgeEnv::start(yaml, None, echo_net()).await?;
    let alice = env.user("alice").await?;
    let group = alice.create_room(json!({"name": "not a DM"})).await?;
    alice.invite(&group, &env.bot()).await?;
    alice
        .wait_for(&group, T, |ev| {
            is_notice_containing(ev, "only take commands in a direct message")
        })
        .await?;
    alice
        .wait_for(&group, T, |ev| {
            ev["type"] == "m.room.member"
                && ev["state_key"] == env.bot().as_str()
                && ev["content"]["membership"] == "leave"
        })
        .await?;
    // A DM still works.
    let dm = bot_dm(&env, &alice).await?;
    assert!(command(&alice, &dm, "help").await?.contains("open"));
    Ok(())
}

#[tokio::test]
async fn a_poll_reaches_a_network_without_polls_as_text_and_votes_are_answered() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    let room = open_portal(&alice, &dm, "polls").await?;
    let start = "org.matrix.msc3381.poll.start";
    let poll = json!({
        start: {
            "question": {"org.matrix.msc1767.text": "Lunch?"},
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 1,
            "answers": [
                {"id": "p", "org.matrix.msc1767.text": "Pizza"},
                {"id": "s", "org.matrix.msc1767.text": "Soup"},
            ],
        },
        "org.matrix.msc1767.text": "Lunch?\n1. Pizza\n2. Soup",
    });
    let poll = alice.send_json(&room, start, poll).await?;
    wait_echo(&alice, &room, "Poll: Lunch?\n1. Pizza\n2. Soup").await?;
    let vote = json!({
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll},
        "org.matrix.msc3381.poll.response": {"answers": ["s"]},
    });
    let vote = alice
        .send_json(&room, "org.matrix.msc3381.poll.response", vote)
        .await?;
    let notice = alice
        .wait_for(&room, T, |ev| is_notice_containing(ev, "it has no polls"))
        .await?;
    assert!(replies_to(&notice, &vote), "{notice}");
    // A poll the bridge cannot read is refused with the reason, not passed on half.
    let broken = json!({start: {"question": {"org.matrix.msc1767.text": "Q"}, "answers": []}});
    alice.send_json(&room, start, broken).await?;
    alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "Your poll could not be read by the bridge")
        })
        .await?;
    Ok(())
}
