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
    let waited = ferrybridge_tests::wait_until(T, || async {
        crowd_ghosts(user, room, tag)
            .await
            .is_ok_and(|g| g.len() == n)
    })
    .await;
    if waited.is_err() {
        // Say who is there, so a failure shows which ghost did not come or go.
        let now = crowd_ghosts(user, room, tag).await.unwrap_or_default();
        anyhow::bail!(
            "wanted {n} `{tag}` ghosts in {room}, have {}: {now:?}",
            now.len()
        );
    }
    Ok(())
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

/// `lazy`: a nick named in a line gets its ghost joined, whether IRC or Matrix named it; the
/// rest of the crowd stays out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lazy_ghosts_join_when_mentioned() -> Result<()> {
    let setup = Setup::start_tuned(|server| server.membership.mode = SyncMode::Lazy).await?;
    let mut crowd = crowd(setup.ircd.port, "men", "#named").await?;
    let user = ferrybridge_tests::register_user(&setup.synapse, "namer", false).await?;
    let room = user.join("#_irc_localhost_#named:localhost").await?;
    crowd[0]
        .send("PRIVMSG #named :men3: have you met MEN4?")
        .await?;
    user.wait_for(&room, T, |e| {
        e["content"]["body"] == "men3: have you met MEN4?"
    })
    .await?;
    let ghost = |n: usize| format!("@_irc_localhost_men{n}:localhost");
    assert_eq!(
        crowd_ghosts(&user, &room, "men").await?,
        vec![ghost(0), ghost(3), ghost(4)],
        "the speaker and the two nicks it named"
    );
    // From Matrix: the user's puppet says it on IRC, and the named nick's ghost joins.
    user.send_text(&room, "men1, and you?").await?;
    crowd[1]
        .expect(|l| l.contains("PRIVMSG #named :men1, and you?"))
        .await?;
    wait_ghosts(&user, &room, "men", 4).await?;
    assert!(crowd_ghosts(&user, &room, "men").await?.contains(&ghost(1)));
    drop(crowd);
    setup.stop().await;
    Ok(())
}

/// `half`: who spoke is kept in the store, so a ghost that spoke before a bridge restart leaves
/// with its PART after it; a speaker that quit while the bridge was down leaves when the bot
/// is back; and rows go with the nicks that leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_speakers_survive_a_restart() -> Result<()> {
    use ferrybridge_irc::membership::KV_SPOKE;
    let mut setup = Setup::start_tuned(|server| {
        server.membership.mode = SyncMode::Half;
        server.membership.joins_per_second = 50.0;
    })
    .await?;
    let mut half = crowd(setup.ircd.port, "keep", "#keep").await?;
    let user = ferrybridge_tests::register_user(&setup.synapse, "keeper", false).await?;
    let room = user.join("#_irc_localhost_#keep:localhost").await?;
    wait_ghosts(&user, &room, "keep", CROWD).await?;
    let bot_joined = |l: &str| l.starts_with(":ferrybridge!") && l.contains(" JOIN ");
    half[1].expect(bot_joined).await?;
    for (i, c) in half.iter_mut().enumerate().take(3).skip(1) {
        let text = format!("keep{i} was here");
        c.send(&format!("PRIVMSG #keep :{text}")).await?;
        user.wait_for(&room, T, |e| e["content"]["body"] == text.as_str())
            .await?;
    }
    let rows = |setup: &Setup| {
        let host = setup.irc.host().clone();
        async move {
            let rows = host.store().kv_list(KV_SPOKE, "localhost ").await?;
            anyhow::Ok(rows.into_iter().map(|(k, _)| k).collect::<Vec<_>>())
        }
    };
    assert_eq!(
        rows(&setup).await?,
        vec!["localhost #keep keep1", "localhost #keep keep2"]
    );

    // keep2 quits while the bridge is down; keep1 stays.
    setup.stop_bridge().await;
    half[2].send("QUIT :bye").await?;
    setup.start_bridge().await?;
    half[1].expect(bot_joined).await?;
    wait_ghosts(&user, &room, "keep", CROWD - 1).await?;
    assert!(
        !crowd_ghosts(&user, &room, "keep")
            .await?
            .contains(&"@_irc_localhost_keep2:localhost".to_owned())
    );
    // Let the bot's member list be mirrored before anyone leaves.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // After the restart: the silent keep0's PART is not mirrored, keep1's is.
    half[0].send("PART #keep").await?;
    half[1].send("PART #keep").await?;
    wait_ghosts(&user, &room, "keep", CROWD - 2).await?;
    let left = crowd_ghosts(&user, &room, "keep").await?;
    assert!(
        left.contains(&"@_irc_localhost_keep0:localhost".to_owned()),
        "{left:?}"
    );
    assert!(
        !left.contains(&"@_irc_localhost_keep1:localhost".to_owned()),
        "{left:?}"
    );
    ferrybridge_tests::wait_until(T, || async {
        rows(&setup).await.is_ok_and(|r| r.is_empty())
    })
    .await?;
    drop(half);
    setup.stop().await;
    Ok(())
}

/// Who is logged in and who is away, from `extended-join`, `account-notify` and `away-notify`:
/// kept for a nick with a ghost (an away one shows as `unavailable` on Matrix, with its away
/// message), not for the silent crowd of a `lazy` channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_away_of_ghosts() -> Result<()> {
    let setup = Setup::start_tuned(|server| {
        server
            .membership
            .channels
            .insert("#quiet".into(), SyncMode::Lazy);
    })
    .await?;
    let user = ferrybridge_tests::register_user(&setup.synapse, "looker", false).await?;
    let room = user.join("#_irc_localhost_#seen:localhost").await?;
    user.join("#_irc_localhost_#quiet:localhost").await?;
    let net = setup.irc.networks["localhost"].clone();
    // The bot is in both channels before anyone joins them, so it sees every JOIN.
    ferrybridge_tests::wait_until(T, || async {
        net.bot
            .get()
            .is_some_and(|b| b.in_channel("#seen") && b.in_channel("#quiet"))
    })
    .await?;
    let mut dora = RawIrc::connect(setup.ircd.port, "dora").await?;
    dora.send("PRIVMSG NickServ :REGISTER sekrit-pass dora@example.com")
        .await?;
    dora.expect(|l| l.contains(" 900 ")).await?;
    dora.join("#seen").await?;
    dora.join("#quiet").await?;
    let mut quiet = RawIrc::connect(setup.ircd.port, "hush").await?;
    quiet.join("#quiet").await?;
    quiet.send("AWAY :not here").await?;
    ferrybridge_tests::wait_until(T, || async {
        ferrybridge_irc::status::of(&net, "Dora")
            .is_some_and(|s| s.account.as_deref() == Some("dora"))
    })
    .await?;

    dora.send("AWAY :gone fishing").await?;
    let ghost = "@_irc_localhost_dora:localhost";
    let presence = |want: &'static str, msg: &'static str| {
        let user = &user;
        async move {
            ferrybridge_tests::wait_until(T, || async {
                user.call(
                    reqwest::Method::GET,
                    &["presence", ghost, "status"],
                    &[],
                    None,
                )
                .await
                .is_ok_and(|p| {
                    p["presence"] == want && p["status_msg"].as_str().unwrap_or("") == msg
                })
            })
            .await
        }
    };
    presence("unavailable", "gone fishing").await?;
    let dora_status = ferrybridge_irc::status::of(&net, "dora").unwrap_or_default();
    assert_eq!(dora_status.away.as_deref(), Some("gone fishing"));
    dora.send("AWAY").await?;
    presence("online", "").await?;
    // Logging out is heard too.
    dora.send("PRIVMSG NickServ :LOGOUT").await?;
    ferrybridge_tests::wait_until(T, || async {
        ferrybridge_irc::status::of(&net, "dora").is_none()
    })
    .await?;
    // The silent nick of the lazy channel has no ghost, so nothing is kept of it.
    assert_eq!(ferrybridge_irc::status::of(&net, "hush"), None);
    assert!(user.joined_members(&room).await?.iter().any(|m| m == ghost));
    drop((dora, quiet));
    setup.stop().await;
    Ok(())
}

/// `matrix_to_irc: lazy`: a Matrix user who joins a portal gets no IRC connection until they
/// first talk there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_members_join_irc_when_they_speak() -> Result<()> {
    use ferrybridge_irc::membership::MatrixToIrc;
    let setup = Setup::start_tuned(|server| {
        server.membership.matrix_to_irc = MatrixToIrc::Lazy;
    })
    .await?;
    let mut watcher = RawIrc::connect(setup.ircd.port, "onlooker").await?;
    watcher.join("#idle").await?;
    let user = ferrybridge_tests::register_user(&setup.synapse, "reader", false).await?;
    let room = user.join("#_irc_localhost_#idle:localhost").await?;
    let net = setup.irc.networks["localhost"].clone();
    // The bot is in the channel once the portal exists; the reader's join has been handled
    // by the time a line from IRC comes through the same portal.
    watcher
        .expect(|l| l.starts_with(":ferrybridge!") && l.contains(" JOIN "))
        .await?;
    watcher.send("PRIVMSG #idle :anyone?").await?;
    user.wait_for(&room, T, |e| e["content"]["body"] == "anyone?")
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(net.puppet(&user.user_id).is_none(), "no IRC connection yet");
    user.send_text(&room, "now I speak").await?;
    let join = watcher
        .expect(|l| l.contains(" JOIN ") && l.contains("reader"))
        .await?;
    watcher
        .expect(|l| l.contains("PRIVMSG #idle :now I speak"))
        .await?;
    assert!(join.starts_with(":reader"), "{join}");
    drop(watcher);
    setup.stop().await;
    Ok(())
}
