//! The core's lifecycle against a real Synapse, through the echo network: events left in the
//! inbox are replayed into a network that needs a moment to connect (delivered, not turned
//! into notices), a full room queue answers the homeserver 503 and delivers everything later,
//! and a clean shutdown parks what it could not finish in the inbox.

use std::time::Duration;

use anyhow::Result;
use ferrybridge_core::Bridge;
use ferrybridge_core::store::{SecretKey, Store};
use ferrybridge_tests::BridgeEnv;
use ferrybridge_tests::bot_chat::{bot_dm, is_notice_containing};
use ferrybridge_tests::echo::{EchoBridge, EchoConfig, open_portal, wait_echo};
use ferrybridge_tests::text_body;
use ruma::RoomId;
use serde_json::{Value, json};

fn yaml() -> String {
    <EchoConfig as ferrybridge_core::config::NetworkConfig>::example_yaml()
}

/// An `m.room.message` event as a homeserver would push it.
fn message(room: &RoomId, sender: &str, id: &str, body: &str) -> Value {
    json!({
        "type": "m.room.message",
        "room_id": room,
        "sender": sender,
        "event_id": format!("${id}"),
        "origin_server_ts": 1_700_000_000_000u64,
        "content": {"msgtype": "m.text", "body": body},
    })
}

/// The bodies of the echo ghost's messages in `room`, oldest first.
async fn echoes(user: &ferrybridge_tests::TestUser, room: &RoomId) -> Result<Vec<String>> {
    let mut bodies: Vec<String> = user
        .messages(room, 500)
        .await?
        .iter()
        .filter_map(|ev| text_body(ev).map(str::to_owned))
        .filter(|b| b.starts_with("echo: "))
        .collect();
    // `messages` pages backwards.
    bodies.reverse();
    Ok(bodies)
}

/// Opens the bridge's own database while it is stopped.
async fn store_of(env: &BridgeEnv<EchoBridge>) -> Result<Store> {
    let key = SecretKey::from_base64(&env.config.bridge.secrets_key)?;
    Ok(Store::connect(&env.config.database.uri, 2, key).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_replay_waits_for_a_network_that_is_still_connecting() -> Result<()> {
    let mut env = BridgeEnv::start(&yaml(), None, EchoBridge::init).await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    let room = open_portal(&alice, &dm, "replay").await?;
    alice.send_text(&room, "before").await?;
    wait_echo(&alice, &room, "before").await?;

    // Stopped: events recorded as if the homeserver had pushed them just before a crash.
    env.stop().await;
    let events: Vec<String> = (0..5)
        .map(|i| {
            message(
                &room,
                alice.user_id.as_str(),
                &format!("replay-{i}"),
                &format!("replayed {i}"),
            )
            .to_string()
        })
        .collect();
    store_of(&env)
        .await?
        .record_transaction("crash-txn", &events)
        .await?;

    // The network answers "not connected yet" for its first 3 seconds after start.
    env.config.network.connect_delay_ms = 3000;
    env.run(EchoBridge::init).await?;
    wait_echo(&alice, &room, "replayed 4").await?;
    let got = echoes(&alice, &room).await?;
    let want: Vec<String> = std::iter::once("echo: before".to_owned())
        .chain((0..5).map(|i| format!("echo: replayed {i}")))
        .collect();
    assert_eq!(got, want, "each replayed event once, in order");
    let notices = alice.messages(&room, 200).await?;
    assert!(
        !notices
            .iter()
            .any(|ev| is_notice_containing(ev, "not delivered")),
        "a replayed event became a failure notice"
    );
    let net = env.network().expect("running");
    assert_eq!(
        net.seen_count(),
        5,
        "the network got each replayed event once"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_queue_answers_503_and_loses_nothing() -> Result<()> {
    let yaml = "  delivery_ms: 200\n";
    let env = BridgeEnv::start_tuned(
        yaml,
        None,
        |c| c.limits.portal_queue_depth = 3,
        EchoBridge::init,
    )
    .await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    let room = open_portal(&alice, &dm, "flood").await?;
    // Once this echo is back, the room's queue is idle (membership events went through it).
    alice.send_text(&room, "idle").await?;
    wait_echo(&alice, &room, "idle").await?;
    let token = env.hs_token().to_owned();
    let sender = alice.user_id.to_string();
    let txn = |from: usize| {
        json!({"events": (from..from + 3)
            .map(|i| message(&room, &sender, &format!("flood-{i}"), &format!("flood {i}")))
            .collect::<Vec<_>>()})
    };

    let (status, _) = env.put_txn("flood-a", Some(&token), &txn(0)).await?;
    assert_eq!(status, 200, "an empty queue takes a transaction");
    let (status, body) = env.put_txn("flood-b", Some(&token), &txn(3)).await?;
    assert_eq!(status, 503, "a full queue is refused: {body}");
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    // The homeserver retries the refused transaction later; then it goes through.
    let mut status = 0;
    for _ in 0..100 {
        status = env.put_txn("flood-b", Some(&token), &txn(3)).await?.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status, 200,
        "the retried transaction is accepted once the queue drained"
    );
    wait_echo(&alice, &room, "flood 5").await?;
    let got = echoes(&alice, &room).await?;
    let want: Vec<String> = std::iter::once("echo: idle".to_owned())
        .chain((0..6).map(|i| format!("echo: flood {i}")))
        .collect();
    assert_eq!(got, want, "all six, once each, in order");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_shutdown_parks_unfinished_events_in_the_inbox() -> Result<()> {
    let yaml = "  delivery_ms: 400\n";
    let mut env = BridgeEnv::start_tuned(
        yaml,
        None,
        |c| c.limits.shutdown_grace_secs = 1,
        EchoBridge::init,
    )
    .await?;
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    let room = open_portal(&alice, &dm, "parked").await?;
    alice.send_text(&room, "idle").await?;
    wait_echo(&alice, &room, "idle").await?;
    let token = env.hs_token().to_owned();
    let events: Vec<Value> = (0..8)
        .map(|i| {
            message(
                &room,
                alice.user_id.as_str(),
                &format!("park-{i}"),
                &format!("park {i}"),
            )
        })
        .collect();
    let (status, _) = env
        .put_txn("park-txn", Some(&token), &json!({ "events": events }))
        .await?;
    assert_eq!(status, 200);
    // 8 × 400 ms of work: the shutdown finishes what has started and parks the rest in the
    // inbox (it does not start Matrix events once it has begun).
    tokio::time::sleep(Duration::from_millis(600)).await;
    env.stop().await;
    let left = store_of(&env).await?.pending_inbox().await?.len();
    assert!(left > 0 && left < 8, "{left} events parked");

    env.run(EchoBridge::init).await?;
    wait_echo(&alice, &room, "park 7").await?;
    let got = echoes(&alice, &room).await?;
    let want: Vec<String> = std::iter::once("echo: idle".to_owned())
        .chain((0..8).map(|i| format!("echo: park {i}")))
        .collect();
    assert_eq!(got, want, "every event once, in order, across the shutdown");
    Ok(())
}
