//! Backfill through the XMPP bridge, against a real Prosody (its MUC archive, XEP-0313) and a
//! real Synapse: a new portal gets the room's history, a restarted bridge gets what the room
//! said while it was down, each message once, in order, with its archived timestamp, and none
//! of it goes back to the room.

use anyhow::{Context, Result};
use ferrybridge_core::bridge::Bridge;
use ferrybridge_tests::timeline::{bodies, texts, wait_texts};
use ferrybridge_tests::xmpp::{Occupant, Prosody, SECRET, T};
use ferrybridge_tests::{BridgeEnv, text_body, wait_until};
use ferrybridge_xmpp::XmppBridge;

fn said(prefix: &str, n: usize) -> Vec<(String, String)> {
    (1..=n)
        .map(|i| (format!("{prefix}-id-{i}"), format!("{prefix} {i}")))
        .collect()
}

#[tokio::test]
async fn a_new_portal_gets_the_rooms_history_once_and_in_order() -> Result<()> {
    let prosody = Prosody::start().await?;
    let env = BridgeEnv::start(&prosody.network_yaml(SECRET), None, XmppBridge::init).await?;
    let server = env.synapse.server_name().to_owned();
    let muc = "history@conference.localhost".to_owned();
    let alice = Occupant::join(prosody.c2s, "hist", "alice", std::slice::from_ref(&muc)).await?;

    // The room talks before any portal exists.
    alice.say(&muc, said("early", 3)).await?;
    // The archive has them (Alice's own copies came back).
    wait_until(T, || async {
        alice
            .bodies()
            .iter()
            .filter(|b| b.starts_with("early"))
            .count()
            == 3
    })
    .await
    .context("the room did not reflect the messages")?;

    let bob = env.user("bob").await?;
    let room = bob
        .join(&format!("#_xmpp_history_conference.localhost:{server}"))
        .await?;
    let got = wait_texts(&bob, &room, "early", 3).await?;
    assert_eq!(bodies(&got), ["early 1", "early 2", "early 3"]);
    let ghost = format!("@_xmpp_history=40conference.localhost/alice:{server}");
    let first = bob
        .messages(&room, 200)
        .await?
        .into_iter()
        .find(|ev| text_body(ev) == Some("early 1"))
        .context("early 1 is gone")?;
    assert_eq!(
        first["sender"],
        ghost.as_str(),
        "posted by the occupant's ghost"
    );
    // With the archive's timestamps: from before the room existed.
    let created = bob
        .messages(&room, 200)
        .await?
        .into_iter()
        .find(|ev| ev["type"] == "m.room.create")
        .context("no create event")?;
    let created_ts = created["origin_server_ts"].as_u64().unwrap_or(0);
    assert!(
        got.iter().all(|(_, ts)| *ts <= created_ts),
        "backfilled messages keep their time: {got:?}, room created at {created_ts}"
    );

    // Live messages follow, and nothing of the history went back to the room.
    alice.say(&muc, said("live", 1)).await?;
    bob.wait_for(&room, T, |ev| text_body(ev) == Some("live 1"))
        .await?;
    bob.send_text(&room, "marker").await?;
    wait_until(T, || async { alice.bodies().iter().any(|b| b == "marker") })
        .await
        .context("bob's marker did not reach the room")?;
    let echoed = alice
        .bodies()
        .iter()
        .filter(|b| b.starts_with("early"))
        .count();
    assert_eq!(echoed, 3, "history is not sent back to the room");
    let again = wait_texts(&bob, &room, "early", 3).await?;
    assert_eq!(
        bodies(&again),
        ["early 1", "early 2", "early 3"],
        "once each"
    );
    Ok(())
}

#[tokio::test]
async fn what_the_room_said_while_the_bridge_was_down_arrives_after_restart() -> Result<()> {
    let prosody = Prosody::start().await?;
    let mut env = BridgeEnv::start(&prosody.network_yaml(SECRET), None, XmppBridge::init).await?;
    let server = env.synapse.server_name().to_owned();
    let muc = "downtime@conference.localhost".to_owned();
    let alice = Occupant::join(prosody.c2s, "down", "alice", std::slice::from_ref(&muc)).await?;
    let bob = env.user("bob").await?;
    let room = bob
        .join(&format!("#_xmpp_downtime_conference.localhost:{server}"))
        .await?;
    // A conversation while the bridge is up (once bob's puppet is in the room).
    let puppet = format!("{muc}/bob");
    wait_until(T, || async { alice.presence_since(0, &puppet) })
        .await
        .context("bob's puppet did not join the room")?;
    alice.say(&muc, said("before", 2)).await?;
    let before = wait_texts(&bob, &room, "before", 2).await?;
    assert_eq!(bodies(&before), ["before 1", "before 2"]);

    env.stop().await;
    alice.say(&muc, said("while", 4)).await?;
    wait_until(T, || async {
        alice
            .bodies()
            .iter()
            .filter(|b| b.starts_with("while"))
            .count()
            == 4
    })
    .await
    .context("the room did not reflect the messages")?;
    env.run(XmppBridge::init).await?;

    let caught = wait_texts(&bob, &room, "while", 4).await?;
    assert_eq!(
        bodies(&caught),
        ["while 1", "while 2", "while 3", "while 4"],
        "every missed message once, in order"
    );
    assert!(
        caught.windows(2).all(|w| w[0].1 <= w[1].1),
        "archived timestamps, in order: {caught:?}"
    );
    // Live messages still flow, and the conversation from before is not repeated.
    alice.say(&muc, said("after", 1)).await?;
    bob.wait_for(&room, T, |ev| text_body(ev) == Some("after 1"))
        .await?;
    let before = texts(&bob, &room, "before").await?;
    assert_eq!(bodies(&before), ["before 1", "before 2"], "no duplicates");
    let all = texts(&bob, &room, "").await?;
    let order: Vec<&str> = bodies(&all)
        .into_iter()
        .filter(|b| b.starts_with("before") || b.starts_with("while") || b.starts_with("after"))
        .collect();
    assert_eq!(
        order,
        [
            "before 1", "before 2", "while 1", "while 2", "while 3", "while 4", "after 1"
        ]
    );
    Ok(())
}
