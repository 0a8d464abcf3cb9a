//! Membership sync modes against the real InspIRCd and Synapse: a `full` channel's crowd all
//! get joined ghosts; in a `lazy` channel only the nick that speaks does; in a `half` channel
//! everyone joins but only a nick that spoke leaves with its PART.

#[path = "irc/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::Duration;

use anyhow::Result;
use ferrybridge_irc::membership::SyncMode;
use ferrybridge_tests::TestUser;
use ruma::RoomId;
use support::{RawIrc, Setup};

const T: Duration = Duration::from_secs(30);
const CROWD: usize = 6;

/// The crowd's ghosts among `room`'s joined members (nicks `<tag>N`).
async fn crowd_ghosts(user: &TestUser, room: &RoomId, tag: &str) -> Result<Vec<String>> {
    let prefix = format!("@_irc_localhost_{tag}");
    let mut ghosts: Vec<String> = user
        .joined_members(room)
        .await?
        .into_iter()
        .map(|m| m.to_string())
        .filter(|m| m.starts_with(&prefix))
        .collect();
    ghosts.sort();
    Ok(ghosts)
}

async fn wait_ghosts(user: &TestUser, room: &RoomId, tag: &str, n: usize) -> Result<()> {
    ferrybridge_tests::wait_until(T, || async {
        crowd_ghosts(user, room, tag)
            .await
            .is_ok_and(|g| g.len() == n)
    })
    .await
}

/// `CROWD` IRC users `<tag>0`… in `channel`, there before any Matrix user.
async fn crowd(port: u16, tag: &str, channel: &str) -> Result<Vec<RawIrc>> {
    let mut clients = Vec::new();
    for i in 0..CROWD {
        let mut c = RawIrc::connect(port, &format!("{tag}{i}")).await?;
        c.join(channel).await?;
        clients.push(c);
    }
    Ok(clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_lazy_and_half_channels() -> Result<()> {
    let setup = Setup::start_tuned(|server| {
        server
            .membership
            .channels
            .insert("#lazy".into(), SyncMode::Lazy);
        server
            .membership
            .channels
            .insert("#half".into(), SyncMode::Half);
        server.membership.joins_per_second = 50.0;
    })
    .await?;
    let mut full = crowd(setup.ircd.port, "full", "#full").await?;
    let mut lazy = crowd(setup.ircd.port, "lazy", "#lazy").await?;
    let mut half = crowd(setup.ircd.port, "half", "#half").await?;
    let user = ferrybridge_tests::register_user(&setup.synapse, "watcher", false).await?;
    let full_room = user.join("#_irc_localhost_#full:localhost").await?;
    let lazy_room = user.join("#_irc_localhost_#lazy:localhost").await?;
    let half_room = user.join("#_irc_localhost_#half:localhost").await?;

    // full: the whole crowd, from the member list.
    wait_ghosts(&user, &full_room, "full", CROWD).await?;
    full[0].send("PRIVMSG #full :hello full").await?;

    // half: the whole crowd too.
    wait_ghosts(&user, &half_room, "half", CROWD).await?;

    // lazy: nobody until someone speaks, then only them. The lazy channel's member list came
    // before the half one's was fully mirrored, so by now it would have been too.
    assert_eq!(
        crowd_ghosts(&user, &lazy_room, "lazy").await?,
        Vec::<String>::new()
    );
    lazy[2].send("PRIVMSG #lazy :first words").await?;
    user.wait_for(&lazy_room, T, |e| e["content"]["body"] == "first words")
        .await?;
    assert_eq!(
        crowd_ghosts(&user, &lazy_room, "lazy").await?,
        vec!["@_irc_localhost_lazy2:localhost".to_owned()]
    );
    // ... and a PART there is not mirrored.
    lazy[2].send("PART #lazy").await?;

    // half: a silent nick's PART is not mirrored; a speaker's is.
    half[0].send("PART #half").await?;
    half[1].send("PRIVMSG #half :bye all").await?;
    user.wait_for(&half_room, T, |e| e["content"]["body"] == "bye all")
        .await?;
    half[1].send("PART #half").await?;
    wait_ghosts(&user, &half_room, "half", CROWD - 1).await?;
    let left = crowd_ghosts(&user, &half_room, "half").await?;
    assert!(
        left.contains(&"@_irc_localhost_half0:localhost".to_owned()),
        "{left:?}"
    );
    assert!(
        !left.contains(&"@_irc_localhost_half1:localhost".to_owned()),
        "{left:?}"
    );

    // The lazy PART (sent before the half ones, queued the same way) changed nothing.
    assert_eq!(crowd_ghosts(&user, &lazy_room, "lazy").await?.len(), 1);
    drop((full, lazy, half));
    setup.stop().await;
    Ok(())
}

/// RFC 1459 casemapping (InspIRCd's): `Rob[1]` and `rob{1}` are one IRC user and so one ghost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc1459_equivalent_nicks_are_one_ghost() -> Result<()> {
    let setup = Setup::start().await?;
    let mut first = RawIrc::connect(setup.ircd.port, "Rob[1]").await?;
    first.join("#Fold").await?;
    let user = ferrybridge_tests::register_user(&setup.synapse, "folder", false).await?;
    let room = user.join("#_irc_localhost_#fold:localhost").await?;
    first.send("PRIVMSG #Fold :from brackets").await?;
    let one = user
        .wait_for(&room, T, |e| e["content"]["body"] == "from brackets")
        .await?;
    first.send("QUIT").await?;
    let mut second = RawIrc::connect(setup.ircd.port, "rob{1}").await?;
    second.join("#Fold").await?;
    second.send("PRIVMSG #fold :from braces").await?;
    let two = user
        .wait_for(&room, T, |e| e["content"]["body"] == "from braces")
        .await?;
    assert_eq!(one["sender"], two["sender"], "one ghost");
    assert!(
        one["sender"]
            .as_str()
            .is_some_and(|s| s.starts_with("@_irc_localhost_rob"))
    );
    drop(second);
    setup.stop().await;
    Ok(())
}
