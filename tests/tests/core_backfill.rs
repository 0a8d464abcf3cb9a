//! The core's backfill rules, through a real Synapse with the echo network's scripted history:
//! a new portal gets the newest `initial_messages` of it, in order, at their original times,
//! once; a restart asks for what came after the newest message; a plumbed room gets none; a
//! network whose history fails leaves the portal working; `enabled: false` asks for nothing.

use std::time::Duration;

use anyhow::Result;
use ferrybridge_core::bridge::{BackfillReason, Bridge};
use ferrybridge_tests::bot_chat::{bot_dm, command};
use ferrybridge_tests::echo::{EchoBridge, EchoConfig, wait_echo};
use ferrybridge_tests::{BridgeEnv, TestUser, text_body, wait_until};
use ruma::RoomId;
use serde_json::json;

const T: Duration = Duration::from_secs(30);

async fn env(
    network: &str,
    tune: impl FnOnce(&mut ferrybridge_core::config::Config<EchoConfig>),
) -> Result<BridgeEnv<EchoBridge>> {
    BridgeEnv::start_tuned(network, None, tune, EchoBridge::init).await
}

/// `(body, origin_server_ts)` of the room's messages starting with `prefix`, oldest first.
async fn stories(user: &TestUser, room: &RoomId, prefix: &str) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = user
        .messages(room, 100)
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|ev| {
            let body = text_body(ev)?.to_owned();
            body.starts_with(prefix)
                .then(|| (body, ev["origin_server_ts"].as_u64().unwrap_or(0)))
        })
        .collect();
    found.reverse();
    found
}

#[tokio::test]
async fn a_new_portal_gets_the_newest_history_once_and_a_restart_asks_for_the_rest() -> Result<()> {
    let mut env = env("  history: 5\n", |c| c.bridge.backfill.initial_messages = 3).await?;
    let server = env.synapse.server_name().to_owned();
    let alice = env.user("alice").await?;
    let room = alice.join(&format!("#_echo_tales:{server}")).await?;
    let _ = wait_until(T, || async {
        stories(&alice, &room, "story").await.len() >= 3
    })
    .await;
    let got = stories(&alice, &room, "story").await;
    let bodies: Vec<&str> = got.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(
        bodies,
        ["story 3", "story 4", "story 5"],
        "the newest 3, in order"
    );
    assert!(
        got.windows(2).all(|w| w[1].1 - w[0].1 == 60_000),
        "their own times, a minute apart: {got:?}"
    );
    let network = env.network().expect("running");
    let asked = network.backfills();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(
        (asked[0].reason, asked[0].after.clone(), asked[0].limit),
        (BackfillReason::Created, None, 3)
    );

    // Live traffic after it; then a restart asks for what came after the newest message.
    alice.send_text(&room, "now").await?;
    wait_echo(&alice, &room, "now").await?;
    env.stop().await;
    env.run(EchoBridge::init).await?;
    let network = env.network().expect("running");
    wait_until(T, || async { !network.backfills().is_empty() }).await?;
    let again = &network.backfills()[0];
    assert_eq!(again.reason, BackfillReason::CatchUp);
    let anchor = again.after.clone().expect("an anchor");
    assert!(
        anchor.id.as_str().starts_with("echo-of-"),
        "the newest message is the echo of `now`: {anchor:?}"
    );
    assert_eq!(again.limit, 500);
    assert_eq!(
        stories(&alice, &room, "story").await.len(),
        3,
        "nothing twice"
    );
    Ok(())
}

#[tokio::test]
async fn plumbed_rooms_get_no_history_and_a_failing_archive_changes_nothing() -> Result<()> {
    let env = env("  history: 4\n  history_fails: true\n", |_| {}).await?;
    let server = env.synapse.server_name().to_owned();
    let alice = env.user("alice").await?;
    // The network's history fails: the portal is made and works.
    let room = alice.join(&format!("#_echo_broken:{server}")).await?;
    alice.send_text(&room, "still here").await?;
    wait_echo(&alice, &room, "still here").await?;
    assert!(stories(&alice, &room, "story").await.is_empty());

    // A plumbed room keeps its own history: the network is not even asked.
    let admin = env.user("admin").await?;
    let dm = bot_dm(&env, &admin).await?;
    let existing = admin
        .create_room(json!({"name": "Ours", "preset": "public_chat"}))
        .await?;
    admin.invite(&existing, &env.bot()).await?;
    wait_until(T, || async {
        admin
            .joined_members(&existing)
            .await
            .is_ok_and(|m| m.contains(&env.bot()))
    })
    .await?;
    let before = env.network().expect("running").backfills().len();
    let plumbed = command(&admin, &dm, &format!("plumb {existing} town")).await?;
    assert!(plumbed.starts_with("Bridged"), "{plumbed}");
    admin.send_text(&existing, "hello town").await?;
    wait_echo(&admin, &existing, "hello town").await?;
    assert_eq!(env.network().expect("running").backfills().len(), before);
    Ok(())
}

#[tokio::test]
async fn backfill_off_asks_for_nothing() -> Result<()> {
    let env = env("  history: 4\n", |c| c.bridge.backfill.enabled = false).await?;
    let server = env.synapse.server_name().to_owned();
    let alice = env.user("alice").await?;
    let room = alice.join(&format!("#_echo_quiet:{server}")).await?;
    alice.send_text(&room, "hi").await?;
    wait_echo(&alice, &room, "hi").await?;
    assert!(env.network().expect("running").backfills().is_empty());
    assert!(stories(&alice, &room, "story").await.is_empty());
    Ok(())
}
