//! Channel history through IRCv3 `draft/chathistory`, end to end through a real Synapse. No
//! IRC server that can be installed here offers chathistory (InspIRCd 3 has none), so the IRC
//! side is a small scripted server in this file: registration with `CAP LS 302`, JOIN/NAMES,
//! PING, and `CHATHISTORY LATEST` answered from a list of lines as a `chathistory` batch.
//! Shown: a new portal gets the channel's last lines with their server times, a restarted
//! bridge gets what was said while it was down (asked by the msgid of the newest line it has),
//! and so does a bridge whose connection dropped and came back; each line once and in order,
//! and history never goes back to IRC. And a Matrix message replayed after a crash that came
//! between its send and the bookkeeping is looked for in the history and not said twice.

#[path = "irc/support.rs"]
#[allow(dead_code)] // each test file uses a different part
mod support;

use std::sync::{Arc, Mutex};

use anyhow::Result;
use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::NetworkConfig;
use ferrybridge_core::store::{SecretKey, Store};
use ferrybridge_irc::{IrcBridge, IrcConfig};
use ferrybridge_tests::{BridgeEnv, TestUser, text_body, wait_until};
use ruma::RoomId;
use support::{T, join_channel, user_with_dm};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// One line of the channel's history: `(msgid, time in ms, nick, text)`.
type Line = (String, u64, String, String);

/// The scripted server's shared state: the channel's history, the `CHATHISTORY` requests it
/// got, and every PRIVMSG a client sent.
#[derive(Default)]
struct Script {
    history: Mutex<Vec<Line>>,
    requests: Mutex<Vec<String>>,
    said: Mutex<Vec<String>>,
}

impl Script {
    fn add(&self, id: &str, at: u64, nick: &str, text: &str) {
        self.history
            .lock()
            .unwrap()
            .push((id.into(), at, nick.into(), text.into()));
    }

    /// The batch answering `CHATHISTORY LATEST|AFTER <chan> <bound> <limit>`: the newest
    /// `limit` lines after the bound, or the oldest.
    fn answer(&self, chan: &str, bound: &str, limit: usize, oldest: bool) -> String {
        let history = self.history.lock().unwrap();
        let start = match bound.split_once('=') {
            Some(("msgid", id)) => history.iter().position(|l| l.0 == id).map_or(0, |i| i + 1),
            Some(("timestamp", t)) => {
                let after = ferrybridge_irc::tags::parse_time(t).unwrap_or(0);
                history.iter().take_while(|l| l.1 <= after).count()
            }
            _ => 0,
        };
        let lines = &history[start..];
        let lines = match oldest {
            true => &lines[..lines.len().min(limit)],
            false => &lines[lines.len().saturating_sub(limit)..],
        };
        let mut out = format!(":srv BATCH +h1 chathistory {chan}\r\n");
        for (id, at, nick, text) in lines {
            let time = ferrybridge_irc::tags::format_time(*at);
            out.push_str(&format!(
                "@batch=h1;msgid={id};time={time} :{nick}!u@irc.test PRIVMSG {chan} :{text}\r\n"
            ));
        }
        out.push_str(":srv BATCH -h1\r\n");
        out
    }
}

/// Serves IRC clients on a free port until the test ends; `live` lines go to every client
/// in the channel.
async fn serve(script: Arc<Script>, live: broadcast::Sender<String>) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (script, mut live) = (script.clone(), live.subscribe());
            tokio::spawn(async move {
                let (r, mut w) = socket.into_split();
                let mut lines = BufReader::new(r).lines();
                let mut nick = String::from("*");
                let mut joined = false;
                loop {
                    let out = tokio::select! {
                        line = lines.next_line() => match line {
                            Ok(Some(line)) => reply(&script, &line, &mut nick, &mut joined),
                            _ => return,
                        },
                        Ok(line) = live.recv() => match line.as_str() {
                            // The server drops every client (a restart, a netsplit).
                            "DROP" => return,
                            _ if joined => line,
                            _ => continue,
                        },
                    };
                    if !out.is_empty() && w.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(port)
}

/// The server's answer to one client line.
fn reply(script: &Script, line: &str, nick: &mut String, joined: &mut bool) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    match words.first().copied().unwrap_or_default() {
        "CAP" if words.get(1) == Some(&"LS") => {
            ":srv CAP * LS :batch draft/chathistory message-tags server-time\r\n".into()
        }
        "CAP" if words.get(1) == Some(&"REQ") => {
            let asked = line.split_once(':').map_or("", |(_, c)| c);
            format!(":srv CAP {nick} ACK :{asked}\r\n")
        }
        "CAP" if words.get(1) == Some(&"END") => format!(
            ":srv 001 {nick} :Welcome\r\n:srv 005 {nick} CHATHISTORY=50 CASEMAPPING=rfc1459 :are supported\r\n:srv 422 {nick} :No MOTD\r\n"
        ),
        "NICK" => {
            *nick = words
                .get(1)
                .unwrap_or(&"x")
                .trim_start_matches(':')
                .to_owned();
            String::new()
        }
        "PING" => format!(":srv PONG srv {}\r\n", words.get(1).unwrap_or(&"x")),
        "JOIN" => {
            *joined = true;
            let chan = words.get(1).unwrap_or(&"#x");
            format!(
                ":{nick}!u@irc.test JOIN {chan}\r\n:srv 353 {nick} = {chan} :{nick} alice\r\n:srv 366 {nick} {chan} :End of /NAMES list.\r\n"
            )
        }
        "NAMES" => {
            let chan = words.get(1).unwrap_or(&"#x");
            format!(":srv 353 {nick} = {chan} :{nick} alice\r\n:srv 366 {nick} {chan} :End\r\n")
        }
        "CHATHISTORY" => {
            script.requests.lock().unwrap().push(line.to_owned());
            let (chan, bound) = (words.get(2).unwrap_or(&"#x"), words.get(3).unwrap_or(&"*"));
            let limit = words.get(4).and_then(|n| n.parse().ok()).unwrap_or(50);
            script.answer(chan, bound, limit, words.get(1) == Some(&"AFTER"))
        }
        "PRIVMSG" => {
            let mut said = script.said.lock().unwrap();
            said.push(line.to_owned());
            // Kept in the channel's history like everyone's lines.
            if let Some((_, text)) = line.split_once(" :") {
                let id = format!("s{}", said.len());
                drop(said);
                script.add(&id, now_ms(), nick, text);
            }
            String::new()
        }
        _ => String::new(),
    }
}

/// The bodies of `room`'s messages starting with `prefix`, oldest first, with their times.
async fn seen(user: &TestUser, room: &RoomId, prefix: &str) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = user
        .messages(room, 100)
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|ev| {
            let body = text_body(ev)?.to_owned();
            let ts = ev["origin_server_ts"].as_u64()?;
            body.starts_with(prefix).then_some((body, ts))
        })
        .collect();
    found.reverse();
    found
}

async fn wait_seen(user: &TestUser, room: &RoomId, prefix: &str, n: usize) -> Vec<(String, u64)> {
    let _ = wait_until(T, || async { seen(user, room, prefix).await.len() >= n }).await;
    seen(user, room, prefix).await
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_portal_and_a_restarted_bridge_get_the_channels_history() -> Result<()> {
    let script = Arc::new(Script::default());
    let hour_ago = now_ms() - 3_600_000;
    for i in 1..=3u64 {
        script.add(
            &format!("h{i}"),
            hour_ago + i * 1000,
            "alice",
            &format!("old {i}"),
        );
    }
    let (live, _) = broadcast::channel(16);
    let port = serve(script.clone(), live.clone()).await?;
    let mut env = BridgeEnv::start_tuned(
        &IrcConfig::example_yaml(),
        None,
        |config| {
            config.bridge.personal_spaces = false;
            if let Some(server) = config.network.servers.get_mut("localhost") {
                server.address = "127.0.0.1".into();
                server.port = Some(port);
            }
        },
        IrcBridge::init,
    )
    .await?;

    // A new portal: the channel's last lines, at their server times.
    let (bob, dm) = user_with_dm(&env.synapse, "bob").await?;
    let room = join_channel(&bob, &dm, "#hist").await?;
    let old = wait_seen(&bob, &room, "old", 3).await;
    let want: Vec<(String, u64)> = (1..=3u64)
        .map(|i| (format!("old {i}"), hour_ago + i * 1000))
        .collect();
    assert_eq!(old, want, "in order, once, at the server's times");
    assert_eq!(
        script.requests.lock().unwrap().first().map(String::as_str),
        Some("CHATHISTORY LATEST #hist * 50")
    );

    // A live line, then the bridge is away while two more are said.
    let t = now_ms();
    script.add("l1", t, "alice", "live 1");
    let _ = live.send(format!(
        "@msgid=l1;time={} :alice!u@irc.test PRIVMSG #hist :live 1\r\n",
        ferrybridge_irc::tags::format_time(t)
    ));
    wait_seen(&bob, &room, "live", 1).await;
    env.stop().await;
    script.add("d1", t + 1000, "alice", "down 1");
    script.add("d2", t + 2000, "alice", "down 2");
    env.run(IrcBridge::init).await?;
    let down = wait_seen(&bob, &room, "down", 2).await;
    assert_eq!(
        down,
        [
            ("down 1".to_owned(), t + 1000),
            ("down 2".to_owned(), t + 2000)
        ]
    );
    assert!(
        script
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r == "CHATHISTORY LATEST #hist msgid=l1 50"),
        "asked for what came after the newest line: {:?}",
        script.requests.lock().unwrap()
    );

    // The bridge's connection drops; what is said until it is back comes after it reconnects.
    script.add("g1", t + 3000, "alice", "gap 1");
    let _ = live.send("DROP".into());
    let gap = wait_seen(&bob, &room, "gap", 1).await;
    assert_eq!(gap, [("gap 1".to_owned(), t + 3000)]);
    assert!(
        script
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r == "CHATHISTORY LATEST #hist msgid=d2 50"),
        "after the reconnect, what came after the newest line: {:?}",
        script.requests.lock().unwrap()
    );

    // Nothing twice, nothing sent back to IRC.
    assert_eq!(seen(&bob, &room, "old").await.len(), 3);
    assert_eq!(seen(&bob, &room, "live").await.len(), 1);
    assert_eq!(seen(&bob, &room, "down").await.len(), 2);
    let said = script.said.lock().unwrap().clone();
    assert!(
        said.iter()
            .all(|l| !l.contains("old") && !l.contains("down") && !l.contains("live")),
        "history went back to IRC: {said:?}"
    );
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_message_already_in_the_history_is_not_said_twice() -> Result<()> {
    let script = Arc::new(Script::default());
    let (live, _) = broadcast::channel(16);
    let port = serve(script.clone(), live.clone()).await?;
    let mut env = BridgeEnv::start_tuned(
        &IrcConfig::example_yaml(),
        None,
        |config| {
            config.bridge.personal_spaces = false;
            if let Some(server) = config.network.servers.get_mut("localhost") {
                server.address = "127.0.0.1".into();
                server.port = Some(port);
            }
        },
        IrcBridge::init,
    )
    .await?;
    let (bob, dm) = user_with_dm(&env.synapse, "bob").await?;
    let room = join_channel(&bob, &dm, "#crash").await?;
    let said = |text: &str| {
        let suffix = format!(" :{text}");
        let said = script.said.lock().unwrap();
        said.iter().filter(|l| l.ends_with(&suffix)).count()
    };
    let first = bob.send_text(&room, "sent before the crash").await?;
    wait_until(T, || {
        let n = said("sent before the crash");
        async move { n == 1 }
    })
    .await?;

    // As if the bridge had died after saying it but before its bookkeeping: the event is back
    // in the inbox and not in the message map. A second one never went out.
    env.stop().await;
    let events = bob.messages(&room, 50).await?;
    let sent = events
        .iter()
        .find(|ev| ev["event_id"].as_str() == Some(first.as_str()))
        .expect("the first message in the room")
        .to_string();
    let never = serde_json::json!({
        "type": "m.room.message",
        "event_id": "$never-sent",
        "room_id": room.as_str(),
        "sender": bob.user_id.as_str(),
        "origin_server_ts": now_ms(),
        "content": {"msgtype": "m.text", "body": "never sent"},
    })
    .to_string();
    let key = SecretKey::from_base64(&env.config.bridge.secrets_key)?;
    let store = Store::connect(&env.config.database.uri, 1, key).await?;
    store.delete_message_by_event(&first).await?;
    store
        .record_transaction("crash-txn", &[sent, never])
        .await?;
    store.close().await;

    env.run(IrcBridge::init).await?;
    wait_until(T, || {
        let n = said("never sent");
        async move { n == 1 }
    })
    .await?;
    // Anything said twice would have gone out before the second message.
    assert_eq!(
        said("sent before the crash"),
        1,
        "said again: requests {:?}, said {:?}",
        script.requests.lock().unwrap(),
        script.said.lock().unwrap()
    );
    let requests = script.requests.lock().unwrap().clone();
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.starts_with("CHATHISTORY AFTER #crash timestamp="))
            .count(),
        2,
        "each replayed message looked for: {requests:?}"
    );
    env.stop().await;
    Ok(())
}
