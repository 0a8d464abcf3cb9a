//! End-to-bridge encryption against the real Synapse, with a real encrypting client
//! (matrix-sdk-crypto's OlmMachine behind `TestUser`), through the loopback echo network:
//! the bot in an encrypted DM, an encrypted portal both ways across a bridge restart, a second
//! device, undecryptable events, and encryption turned off.

use std::time::Duration;

use anyhow::Result;
use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::Config;
use ferrybridge_tests::bot_chat::{is_notice_containing, replies_to, sender};
use ferrybridge_tests::echo::{EchoBridge, EchoConfig};
use ferrybridge_tests::{BridgeEnv, TestUser, text_body};
use ruma::{OwnedRoomId, RoomId};
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

async fn env(tune: impl FnOnce(&mut Config<EchoConfig>)) -> Result<BridgeEnv<EchoBridge>> {
    BridgeEnv::start_tuned(
        &<EchoConfig as ferrybridge_core::config::NetworkConfig>::example_yaml(),
        None,
        tune,
        EchoBridge::init,
    )
    .await
}

fn encrypted_on(config: &mut Config<EchoConfig>) {
    config.encryption.allow = true;
    config.encryption.default = true;
    config.encryption.key_wait_seconds = 3;
}

fn was_encrypted(ev: &Value) -> bool {
    ev["fb_encrypted"] == true
}

/// An encrypted command; returns the bot's (encrypted) notice replying to it.
async fn command(user: &TestUser, room: &RoomId, text: &str) -> Result<String> {
    let id = user.send_encrypted_text(room, text).await?;
    let ev = user
        .wait_for(room, T, |ev| {
            ev["content"]["msgtype"] == "m.notice" && replies_to(ev, &id)
        })
        .await?;
    anyhow::ensure!(was_encrypted(&ev), "the bot answered in plaintext: {ev}");
    Ok(text_body(&ev).unwrap_or_default().to_owned())
}

/// An encrypted DM with the bot, as Element X opens it; returns once the bot greeted.
async fn encrypted_bot_dm(env: &BridgeEnv<EchoBridge>, user: &TestUser) -> Result<OwnedRoomId> {
    let dm = user.create_encrypted_dm(&env.bot()).await?;
    let greeting = user
        .wait_for(&dm, T, |ev| is_notice_containing(ev, "help"))
        .await?;
    anyhow::ensure!(was_encrypted(&greeting), "plaintext greeting: {greeting}");
    Ok(dm)
}

async fn wait_encrypted_echo(user: &TestUser, room: &RoomId, body: &str) -> Result<Value> {
    let want = format!("echo: {body}");
    let ev = user
        .wait_for(room, T, |ev| text_body(ev) == Some(want.as_str()))
        .await?;
    anyhow::ensure!(was_encrypted(&ev), "plaintext echo: {ev}");
    Ok(ev)
}

#[tokio::test]
async fn encrypted_bot_dm_help_login_secret_and_cancel() -> Result<()> {
    let env = env(encrypted_on).await?;
    let alice = env.user("alice").await?;
    alice.enable_e2ee().await?;
    let dm = encrypted_bot_dm(&env, &alice).await?;

    let help = command(&alice, &dm, "help").await?;
    assert!(
        help.contains("login") && help.contains("open"),
        "help: {help}"
    );

    let wait_notice = |needle: &'static str| {
        let (alice, dm) = (&alice, &dm);
        async move {
            let ev = alice
                .wait_for(dm, T, |ev| is_notice_containing(ev, needle))
                .await?;
            anyhow::ensure!(was_encrypted(&ev), "plaintext notice: {ev}");
            Ok::<_, anyhow::Error>(ev)
        }
    };
    alice.send_encrypted_text(&dm, "login").await?;
    wait_notice("phone number").await?;
    alice.send_encrypted_text(&dm, "+4412345678").await?;
    wait_notice("code").await?;
    alice.send_encrypted_text(&dm, "12345").await?;
    wait_notice("password").await?;
    let secret = alice.send_encrypted_text(&dm, "hunter2").await?;
    let redaction = alice
        .wait_for(&dm, T, |ev| ev["type"] == "m.room.redaction")
        .await?;
    let redacted = redaction["content"]["redacts"]
        .as_str()
        .or(redaction["redacts"].as_str())
        .unwrap_or_default();
    assert_eq!(redacted, secret.as_str(), "the secret is redacted");
    wait_notice("Successfully logged in as +4412345678").await?;
    assert_eq!(command(&alice, &dm, "logout").await?, "Logged out.");

    // `cancel` ends a login waiting for input.
    alice.send_encrypted_text(&dm, "login").await?;
    wait_notice("phone number").await?;
    alice.send_encrypted_text(&dm, "cancel").await?;
    wait_notice("Login cancelled").await?;
    Ok(())
}

#[tokio::test]
async fn encrypted_portal_both_ways_across_a_restart_and_a_second_device() -> Result<()> {
    let mut env = env(encrypted_on).await?;
    let alice = env.user("alice").await?;
    alice.enable_e2ee().await?;
    let dm = encrypted_bot_dm(&env, &alice).await?;
    let reply = command(&alice, &dm, "open lobby").await?;
    assert!(reply.starts_with("Invited you to"), "{reply}");
    let room = alice.wait_for_invite(T).await?;
    alice.join(room.as_str()).await?;
    let encryption = alice.get_state(&room, "m.room.encryption", "").await?;
    assert_eq!(
        encryption["algorithm"], "m.megolm.v1.aes-sha2",
        "encryption.default"
    );
    let levels = alice.get_state(&room, "m.room.power_levels", "").await?;
    assert_eq!(levels["events"]["m.room.encryption"], 100);

    // A message, a reply to it and an edit, each echoed by the ghost, encrypted.
    let hello = alice.send_encrypted_text(&room, "hello").await?;
    let echo = wait_encrypted_echo(&alice, &room, "hello").await?;
    assert!(replies_to(&echo, &hello), "echo replies: {echo}");
    let ghost = sender(&echo).to_owned();
    alice
        .send_encrypted(
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
    assert!(was_encrypted(&edit), "plaintext edit: {edit}");

    // The bridge restarts: the same Olm account and Megolm sessions come back from its database.
    env.stop().await;
    env.run(EchoBridge::init).await?;
    alice.send_encrypted_text(&room, "after restart").await?;
    wait_encrypted_echo(&alice, &room, "after restart").await?;

    // A second device of alice's logs in later: it gets the keys of new messages.
    let phone = alice.new_device(&env.synapse).await?;
    phone.enable_e2ee().await?;
    phone.sync_once(Duration::from_millis(100)).await?;
    alice.send_encrypted_text(&room, "for both devices").await?;
    wait_encrypted_echo(&alice, &room, "for both devices").await?;
    let seen = phone
        .wait_for(&room, T, |ev| {
            text_body(ev) == Some("echo: for both devices")
        })
        .await?;
    assert!(was_encrypted(&seen), "{seen}");
    Ok(())
}

#[tokio::test]
async fn undecryptable_and_bogus_events_get_a_notice() -> Result<()> {
    let env = env(encrypted_on).await?;
    let alice = env.user("alice").await?;
    alice.enable_e2ee().await?;
    let dm = encrypted_bot_dm(&env, &alice).await?;
    // Ciphertext of a session the bridge never got a key for.
    let lost = alice
        .send_json(
            &dm,
            "m.room.encrypted",
            json!({
                "algorithm": "m.megolm.v1.aes-sha2", "sender_key": "c2VuZGVy",
                "ciphertext": "AwgAEhAA", "session_id": "nosuchsession", "device_id": "X",
            }),
        )
        .await?;
    // An algorithm nobody knows, and content that is not even a valid encrypted event.
    let unknown = alice
        .send_json(&dm, "m.room.encrypted", json!({"algorithm": "m.rot13"}))
        .await?;
    let garbage = alice
        .send_json(&dm, "m.room.encrypted", json!({"ciphertext": 42}))
        .await?;
    for event in [&lost, &unknown, &garbage] {
        alice
            .wait_for(&dm, T, |ev| {
                is_notice_containing(ev, "Could not decrypt") && replies_to(ev, event)
            })
            .await?;
    }
    // The room's queue is not stuck: a good command still works.
    assert!(command(&alice, &dm, "help").await?.contains("login"));
    Ok(())
}

#[tokio::test]
async fn encryption_off_answers_in_plaintext() -> Result<()> {
    let env = env(|_| {}).await?;
    let alice = env.user("alice").await?;
    alice.enable_e2ee().await?;
    let dm = alice.create_encrypted_dm(&env.bot()).await?;
    alice
        .wait_for(&dm, T, |ev| is_notice_containing(ev, "help"))
        .await?;
    let sent = alice.send_encrypted_text(&dm, "help").await?;
    let notice = alice
        .wait_for(&dm, T, |ev| {
            is_notice_containing(ev, "cannot read encrypted messages") && replies_to(ev, &sent)
        })
        .await?;
    assert!(!was_encrypted(&notice), "{notice}");
    Ok(())
}

#[tokio::test]
async fn lost_crypto_state_is_rebuilt_and_portals_keep_working() -> Result<()> {
    let mut env = env(encrypted_on).await?;
    let alice = env.user("alice").await?;
    alice.enable_e2ee().await?;
    let dm = encrypted_bot_dm(&env, &alice).await?;
    assert!(command(&alice, &dm, "help").await?.contains("login"));

    // The bridge's crypto rows are lost (a database restored from before encryption was on):
    // the homeserver still has the old device keys, which the bridge no longer holds.
    env.stop().await;
    let key = ferrybridge_core::store::SecretKey::from_base64(&env.config.bridge.secrets_key)?;
    let store = ferrybridge_core::store::Store::connect(&env.config.database.uri, 1, key).await?;
    store.crypto_reset().await?;
    store.close().await;
    env.run(EchoBridge::init).await?;

    // New keys are made and published. A message alice's client encrypted before it saw them
    // gets the "could not decrypt" notice, never silence; once it has, both ways work again.
    for attempt in 0.. {
        let reply = command(&alice, &dm, "help").await?;
        if reply.contains("login") {
            break;
        }
        assert!(reply.contains("Could not decrypt"), "{reply}");
        assert!(attempt < 3, "the bridge's new keys never reached alice");
    }
    Ok(())
}

#[tokio::test]
async fn malformed_encryption_data_in_transactions_changes_nothing() -> Result<()> {
    let env = env(encrypted_on).await?;
    let alice = env.user("alice").await?;
    alice.enable_e2ee().await?;
    let dm = encrypted_bot_dm(&env, &alice).await?;
    let bot = env.bot();
    let to_bot = |event: Value| {
        let mut event = event;
        event["to_user_id"] = json!(bot);
        event["to_device_id"] = json!("FERRYBRIDGE");
        event
    };
    let huge = "A".repeat(2 * 1024 * 1024);
    let bodies = [
        // Olm ciphertext that is not Olm, an unknown algorithm, a key event in the clear, a
        // 2 MiB "key", and things that are not events at all.
        json!({"events": [], "de.sorunome.msc2409.to_device": [
            to_bot(json!({"type": "m.room.encrypted", "sender": "@mallory:localhost",
                "content": {"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": "bm90IGEga2V5",
                            "ciphertext": {"junk": {"type": 0, "body": "bm90IG9sbQ"}}}})),
            to_bot(json!({"type": "m.room.encrypted", "sender": "@mallory:localhost",
                "content": {"algorithm": "m.rot13", "ciphertext": "uryyb"}})),
            to_bot(json!({"type": "m.room_key", "sender": "@mallory:localhost",
                "content": {"algorithm": "m.megolm.v1.aes-sha2", "room_id": dm, "session_id": "x", "session_key": "y"}})),
            to_bot(json!({"type": "m.room.encrypted", "sender": "@mallory:localhost",
                "content": {"algorithm": "m.olm.v1.curve25519-aes-sha2", "sender_key": huge,
                            "ciphertext": {}}})),
            to_bot(json!({"type": 5})),
            json!("not an event"),
        ]}),
        // Key counts and device lists of the wrong shapes.
        json!({"events": [],
            "org.matrix.msc3202.device_one_time_keys_count": {bot.as_str(): {"FERRYBRIDGE": {"signed_curve25519": "many"}}},
            "org.matrix.msc3202.device_lists": {"changed": "everyone", "left": [1, 2]},
            "org.matrix.msc3202.device_unused_fallback_key_types": []}),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let (status, answer) = env
            .put_txn(&format!("bad-crypto-{i}"), Some(env.hs_token()), body)
            .await?;
        assert_eq!(status, 200, "transaction {i}: {answer}");
    }
    // Nothing was damaged: the encrypted DM still works both ways.
    assert!(command(&alice, &dm, "help").await?.contains("login"));
    Ok(())
}

#[tokio::test]
async fn require_refuses_unencrypted_portals_with_a_notice() -> Result<()> {
    let env = env(|c| {
        c.encryption.allow = true;
        c.encryption.require = true;
    })
    .await?;
    let alice = env.user("alice").await?;
    alice.enable_e2ee().await?;
    let dm = encrypted_bot_dm(&env, &alice).await?;
    let reply = command(&alice, &dm, "open lobby").await?;
    assert!(reply.starts_with("Invited you to"), "{reply}");
    let room = alice.wait_for_invite(T).await?;
    alice.join(room.as_str()).await?;
    // encryption.default is off: the portal is not encrypted, so nothing is bridged from it.
    let sent = alice.send_text(&room, "in the clear").await?;
    alice
        .wait_for(&room, T, |ev| {
            is_notice_containing(ev, "only bridges encrypted rooms") && replies_to(ev, &sent)
        })
        .await?;
    // Turning encryption on takes power level 100, which portal members do not have.
    let turned_on = alice
        .put_state(
            &room,
            "m.room.encryption",
            "",
            json!({"algorithm": "m.megolm.v1.aes-sha2"}),
        )
        .await;
    assert!(turned_on.is_err(), "a member turned encryption on");
    Ok(())
}
