//! IRCv3 end to end: a real InspIRCd with its IRCv3 modules (scripts/start-ircd.sh), a real
//! Synapse, the bridge in-process, a Matrix client and a raw IRC client that asks for
//! `message-tags`, `server-time` and `echo-message` itself.

#[path = "irc/support.rs"]
#[allow(dead_code)] // each test file uses a different part
mod support;

use ferrybridge_tests::text_body;
use serde_json::json;
use support::{RawIrc, Setup, T, join_channel, refused_in_moderated_channel};

const CAPS: &str = "message-tags server-time echo-message";

/// The value of tag `name` in a raw line's tag section (unescaped enough for msgids).
fn tag(line: &str, name: &str) -> Option<String> {
    let tags = line.strip_prefix('@')?.split(' ').next()?;
    tags.split(';').find_map(|t| match t.split_once('=') {
        Some((k, v)) if k == name => Some(v.to_owned()),
        _ => None,
    })
}

/// Milliseconds since the epoch of a `time` tag (the bridge's parser, tested on its own).
fn millis(time: &str) -> u64 {
    ferrybridge_irc::tags::parse_time(time).expect("a server-time stamp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reactions_and_echoes_both_ways() {
    let setup = Setup::start().await.unwrap();
    let mut bob = RawIrc::connect_caps(setup.ircd.port, "bob", CAPS)
        .await
        .unwrap();
    bob.join("#v3").await.unwrap();
    let (alice, dm) = setup.user("alice").await.unwrap();
    let room = join_channel(&alice, &dm, "#v3").await.unwrap();

    // Both connections negotiated what the server offers.
    let net = setup.irc.networks.get("localhost").unwrap();
    let puppet = net.puppet(&alice.user_id).expect("alice's puppet");
    for cap in ["message-tags", "server-time", "echo-message"] {
        assert!(
            puppet.has_cap(cap),
            "puppet lacks {cap}: {:?}",
            puppet.state().caps
        );
    }
    assert!(
        !puppet.has_cap("away-notify"),
        "puppets skip what only the bot uses"
    );
    let bot = net.bot.get().expect("bot");
    for cap in [
        "extended-join",
        "account-notify",
        "away-notify",
        "echo-message",
    ] {
        assert!(bot.has_cap(cap), "bot lacks {cap}: {:?}", bot.state().caps);
    }

    // Matrix → IRC, confirmed by its echo (which carries the server's msgid).
    let hello = alice.send_text(&room, "hello v3").await.unwrap();
    let line = bob
        .expect(|l| l.contains("PRIVMSG #v3 :hello v3"))
        .await
        .unwrap();
    let hello_msgid = tag(&line, "msgid").expect("a msgid");

    // IRC → Matrix: a reply to alice's message names her Matrix event.
    bob.send(&format!(
        "@+draft/reply={hello_msgid} PRIVMSG #v3 :hi alice"
    ))
    .await
    .unwrap();
    let hi = alice
        .wait_for(&room, T, |e| text_body(e) == Some("hi alice"))
        .await
        .unwrap();
    assert_eq!(hi["sender"], "@_irc_localhost_bob:localhost");
    assert_eq!(
        hi["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        hello.as_str(),
        "{hi}"
    );
    // bob's own echo tells him the msgid of his line.
    let echo = bob
        .expect(|l| l.contains("PRIVMSG #v3 :hi alice"))
        .await
        .unwrap();
    let hi_msgid = tag(&echo, "msgid").expect("a msgid on the echo");

    // IRC → Matrix reaction.
    bob.send(&format!(
        "@+draft/react=👍;+draft/reply={hello_msgid} TAGMSG #v3"
    ))
    .await
    .unwrap();
    let reaction = alice
        .wait_for(&room, T, |e| e["type"] == "m.reaction")
        .await
        .unwrap();
    assert_eq!(reaction["sender"], "@_irc_localhost_bob:localhost");
    assert_eq!(
        reaction["content"]["m.relates_to"]["event_id"],
        hello.as_str()
    );
    assert_eq!(reaction["content"]["m.relates_to"]["key"], "👍");

    // Matrix → IRC reply: tagged with the msgid of bob's line.
    let hi_event = hi["event_id"].as_str().unwrap();
    alice
        .send_json(
            &room,
            "m.room.message",
            json!({
                "msgtype": "m.text",
                "body": "sure thing",
                "m.relates_to": {"m.in_reply_to": {"event_id": hi_event}},
            }),
        )
        .await
        .unwrap();
    let line = bob
        .expect(|l| l.contains("PRIVMSG #v3 :") && l.contains("sure thing"))
        .await
        .unwrap();
    assert_eq!(
        tag(&line, "+draft/reply").as_deref(),
        Some(hi_msgid.as_str()),
        "{line}"
    );

    // Matrix → IRC reaction: a TAGMSG naming bob's line.
    alice
        .send_json(
            &room,
            "m.reaction",
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": hi_event, "key": "🎉"}}),
        )
        .await
        .unwrap();
    let line = bob
        .expect(|l| l.contains("TAGMSG") && l.contains("+draft/react=🎉"))
        .await
        .unwrap();
    assert_eq!(
        tag(&line, "+draft/reply").as_deref(),
        Some(hi_msgid.as_str())
    );

    // No echo of alice's own lines came back into the room as her ghost's message.
    let echoed = alice
        .seen_events(&room)
        .into_iter()
        .filter(|e| {
            matches!(text_body(e), Some("hello v3") | Some("sure thing"))
                && e["sender"] != alice.user_id.as_str()
        })
        .count();
    assert_eq!(echoed, 0, "an echo was relayed back");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_both_ways_and_server_time_stamps() {
    let setup = Setup::start().await.unwrap();
    let mut carl = RawIrc::connect_caps(setup.ircd.port, "carl", CAPS)
        .await
        .unwrap();
    carl.join("#typing").await.unwrap();
    let (dana, dm) = setup.user("dana").await.unwrap();
    let room = join_channel(&dana, &dm, "#typing").await.unwrap();

    // server-time: the Matrix event carries the time the IRC server stamped on the line.
    carl.send("PRIVMSG #typing :what time is it").await.unwrap();
    let echo = carl
        .expect(|l| l.contains("PRIVMSG #typing :what time is it"))
        .await
        .unwrap();
    let stamped = millis(&tag(&echo, "time").expect("a time tag"));
    let ev = dana
        .wait_for(&room, T, |e| text_body(e) == Some("what time is it"))
        .await
        .unwrap();
    assert_eq!(ev["origin_server_ts"].as_u64(), Some(stamped), "{ev}");

    // IRC → Matrix typing, and its end.
    let ghost = "@_irc_localhost_carl:localhost";
    carl.send("@+typing=active TAGMSG #typing").await.unwrap();
    dana.wait_for_typing(&room, ghost, true, T).await.unwrap();
    carl.send("@+typing=done TAGMSG #typing").await.unwrap();
    dana.wait_for_typing(&room, ghost, false, T).await.unwrap();

    // Matrix → IRC typing from dana's puppet: `active`, repeated (IRC forgets a typist after
    // 6 s without one), then `done`.
    let user = dana.user_id.to_string();
    let from_dana = |l: &str| l.contains("TAGMSG") && l.contains("dana[m]!");
    for (typing, value, times) in [(true, "active", 2), (false, "done", 1)] {
        dana.call(
            reqwest::Method::PUT,
            &["rooms", room.as_str(), "typing", &user],
            &[],
            Some(&json!({"typing": typing, "timeout": 30000})),
        )
        .await
        .unwrap();
        for _ in 0..times {
            let line = carl
                .expect(|l| from_dana(l) && tag(l, "+typing").as_deref() == Some(value))
                .await
                .unwrap();
            assert!(line.contains("TAGMSG #typing") || line.contains("TAGMSG :#typing"));
        }
    }
    // After `done` no more `active`.
    let mark = carl.seen.len();
    carl.send("PING :after-typing").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    carl.send("PING :later").await.unwrap();
    carl.expect(|l| l.contains("PONG") && l.contains("later"))
        .await
        .unwrap();
    let repeated = carl.seen[mark..]
        .iter()
        .filter(|l| from_dana(l) && l.contains("+typing=active"))
        .count();
    assert_eq!(repeated, 0, "active after done: {:?}", &carl.seen[mark..]);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_message_still_reports_refusals() {
    let setup = Setup::start().await.unwrap();
    let mut op = RawIrc::connect_caps(setup.ircd.port, "op", CAPS)
        .await
        .unwrap();
    op.join("#hush").await.unwrap();
    let (erin, dm) = setup.user("erin").await.unwrap();
    let room = join_channel(&erin, &dm, "#hush").await.unwrap();
    let net = setup.irc.networks.get("localhost").unwrap();
    assert!(net.puppet(&erin.user_id).unwrap().has_cap("echo-message"));
    // Refused (404): no echo comes, the numeric is the verdict and becomes a notice.
    refused_in_moderated_channel(&mut op, &erin, &room, "#hush")
        .await
        .unwrap();
    // Allowed again: the next message is confirmed by its echo, no notice.
    op.send("MODE #hush -m").await.unwrap();
    op.expect(|l| l.contains("MODE #hush") && l.contains("-m"))
        .await
        .unwrap();
    erin.send_text(&room, "and now?").await.unwrap();
    op.expect(|l| l.contains("PRIVMSG #hush :and now?"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    erin.sync_once(std::time::Duration::from_millis(500))
        .await
        .unwrap();
    let notices = erin
        .seen_events(&room)
        .into_iter()
        .filter(|e| text_body(e).is_some_and(|b| b.contains("not delivered")))
        .count();
    assert_eq!(notices, 1, "only the refused message got a notice");
    setup.stop().await;
}
