//! The IRC bridge end to end: a real Synapse, a real InspIRCd + Atheme, the bridge in-process,
//! a real Matrix client and raw IRC clients.

#[path = "irc/support.rs"]
#[allow(dead_code)] // each test file uses a different part
mod support;

use ferrybridge_tests::text_body;
use support::{RawIrc, Setup, T, command, join_channel, refused_in_moderated_channel};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_messages_both_ways() {
    let setup = Setup::start().await.unwrap();
    let mut bob = RawIrc::connect(setup.ircd.port, "bob").await.unwrap();
    bob.join("#test").await.unwrap();

    let (alice, dm) = setup.user("alice").await.unwrap();
    let room = join_channel(&alice, &dm, "#test").await.unwrap();

    // Matrix → IRC, from alice's puppet.
    alice.send_text(&room, "hello irc").await.unwrap();
    let line = bob
        .expect(|l| l.contains("PRIVMSG #test :hello irc"))
        .await
        .unwrap();
    assert!(line.starts_with(":alice[m]!"), "{line}");

    // IRC → Matrix, from bob's ghost.
    bob.send("PRIVMSG #test :hi matrix").await.unwrap();
    let ev = alice
        .wait_for(&room, T, |e| text_body(e) == Some("hi matrix"))
        .await
        .unwrap();
    assert_eq!(ev["sender"], "@_irc_localhost_bob:localhost");

    // The room is reachable by its alias too.
    let by_alias = alice
        .resolve_alias("#_irc_localhost_#test:localhost")
        .await
        .unwrap();
    assert_eq!(by_alias, room);

    // !nick changes the puppet's nick; bob sees it.
    let reply = command(&alice, &dm, "!nick Alicia").await.unwrap();
    assert!(reply.contains("Alicia"), "{reply}");
    bob.expect(|l| l.contains("NICK") && l.contains("Alicia"))
        .await
        .unwrap();

    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alias_join_creates_portal() {
    let setup = Setup::start().await.unwrap();
    let mut bob = RawIrc::connect(setup.ircd.port, "bobby").await.unwrap();
    bob.join("#aliased").await.unwrap();
    let (carol, _dm) = setup.user("carol").await.unwrap();
    let room = carol
        .join("#_irc_localhost_#aliased:localhost")
        .await
        .unwrap();
    // The bot joins the channel; bob's ghost shows up and his lines arrive.
    bob.expect(|l| l.contains("JOIN") && l.contains("ferrybridge"))
        .await
        .unwrap();
    bob.send("PRIVMSG #aliased :anyone here?").await.unwrap();
    carol
        .wait_for(&room, T, |e| text_body(e) == Some("anyone here?"))
        .await
        .unwrap();
    // carol talks: her puppet connects and joins.
    carol.send_text(&room, "yes, me").await.unwrap();
    bob.expect(|l| l.contains("PRIVMSG #aliased :yes, me"))
        .await
        .unwrap();
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderated_channel_gives_a_notice() {
    let setup = Setup::start().await.unwrap();
    let mut op = RawIrc::connect(setup.ircd.port, "op").await.unwrap();
    op.join("#quiet").await.unwrap();
    let (dave, dm) = setup.user("dave").await.unwrap();
    let room = join_channel(&dave, &dm, "#quiet").await.unwrap();
    refused_in_moderated_channel(&mut op, &dave, &room, "#quiet")
        .await
        .unwrap();
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_messages_both_ways() {
    let setup = Setup::start().await.unwrap();
    let mut eve = RawIrc::connect(setup.ircd.port, "eve").await.unwrap();
    let (frank, dm) = setup.user("frank").await.unwrap();
    // frank connects (through !nick with no argument nothing connects, so join a channel).
    join_channel(&frank, &dm, "#pm").await.unwrap();
    // A burst of PMs opens one room.
    for i in 0..3 {
        eve.send(&format!("PRIVMSG frank[m] :psst {i}"))
            .await
            .unwrap();
    }
    let room = frank.wait_for_invite(T).await.unwrap();
    frank.join(room.as_str()).await.unwrap();
    for i in 0..3 {
        let body = format!("psst {i}");
        let ev = frank
            .wait_for(&room, T, |e| text_body(e) == Some(body.as_str()))
            .await
            .unwrap();
        assert_eq!(ev["sender"], "@_irc_localhost_eve:localhost");
    }
    let direct: Vec<_> = frank
        .joined_rooms()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r != &dm)
        .collect();
    assert_eq!(direct.len(), 2, "the #pm portal and one DM: {direct:?}");
    frank.send_text(&room, "hello eve").await.unwrap();
    eve.expect(|l| l.contains("PRIVMSG eve :hello eve"))
        .await
        .unwrap();
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storepass_username_reconnect_uses_sasl() {
    let setup = Setup::start().await.unwrap();
    // Register an account with NickServ from a raw client.
    let mut reg = RawIrc::connect(setup.ircd.port, "gina_acct").await.unwrap();
    reg.send("PRIVMSG NickServ :REGISTER s3cretpass gina@example.com")
        .await
        .unwrap();
    reg.expect(|l| l.contains("NickServ") && l.contains("registered"))
        .await
        .unwrap();
    reg.send("QUIT").await.unwrap();

    let (gina, dm) = setup.user("gina").await.unwrap();
    join_channel(&gina, &dm, "#auth").await.unwrap();
    let r = command(&gina, &dm, "!username gina_acct").await.unwrap();
    assert!(r.contains("gina_acct"), "{r}");
    let r = command(&gina, &dm, "!storepass s3cretpass").await.unwrap();
    assert!(r.contains("Stored"), "{r}");
    command(&gina, &dm, "!reconnect").await.unwrap();
    // whois shows the account once logged in.
    let mut ok = false;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let r = command(&gina, &dm, "!whois gina[m]").await.unwrap();
        if r.contains("logged in as gina_acct") {
            ok = true;
            break;
        }
    }
    assert!(ok, "SASL login did not happen");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puppets_reconnect_and_rejoin_after_server_restart() {
    let mut setup = Setup::start().await.unwrap();
    let (hank, dm) = setup.user("hank").await.unwrap();
    let room = join_channel(&hank, &dm, "#restart").await.unwrap();
    setup.ircd.restart().await.unwrap();
    let mut ivy = RawIrc::connect(setup.ircd.port, "ivy").await.unwrap();
    ivy.join("#restart").await.unwrap();
    // hank's puppet comes back into the channel by itself, with its nick (before or after ivy).
    let already_back = ivy
        .seen
        .iter()
        .any(|l| l.contains(" 353 ") && l.contains("hank[m]"));
    if !already_back {
        ivy.expect(|l| l.starts_with(":hank[m]!") && l.contains("JOIN"))
            .await
            .unwrap();
    }
    hank.send_text(&room, "back again").await.unwrap();
    if let Err(e) = ivy
        .expect(|l| l.contains("PRIVMSG #restart :back again"))
        .await
    {
        let events = hank.messages(&room, 10).await.unwrap_or_default();
        let bodies: Vec<_> = events.iter().filter_map(|e| text_body(e)).collect();
        panic!("{e}\nroom: {bodies:#?}");
    }
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_cmd_listrooms_whois_feature_active_and_refusals() {
    let setup = Setup::start().await.unwrap();
    let mut op = RawIrc::connect(setup.ircd.port, "keeper").await.unwrap();
    op.join("#keyed").await.unwrap();
    op.send("MODE #keyed +k sesame").await.unwrap();
    op.expect(|l| l.contains("MODE #keyed") && l.contains("+k"))
        .await
        .unwrap();
    let (jack, dm) = setup.user("jack").await.unwrap();

    let r = command(&jack, &dm, "!join #secret").await.unwrap();
    assert!(r.contains("excluded"), "{r}");
    let r = command(&jack, &dm, "!join #keyed").await.unwrap();
    assert!(r.contains("key"), "{r}");
    let r = command(&jack, &dm, "!join #keyed sesame").await.unwrap();
    assert!(r.contains("Joined #keyed"), "{r}");
    jack.wait_for_invite(T).await.unwrap();

    let r = command(&jack, &dm, "!listrooms").await.unwrap();
    assert!(
        r.contains("#keyed") && r.contains("https://matrix.to/#/"),
        "{r}"
    );
    let r = command(&jack, &dm, "!whois keeper").await.unwrap();
    assert!(r.contains("keeper is keeper@"), "{r}");
    let r = command(&jack, &dm, "!whois @jack:localhost").await.unwrap();
    assert!(r.contains("jack[m]"), "{r}");
    let r = command(&jack, &dm, "!whois nobody_here").await.unwrap();
    assert!(r.contains("not on"), "{r}");
    let r = command(&jack, &dm, "!active").await.unwrap();
    assert!(r.contains("active as jack[m]"), "{r}");
    let r = command(&jack, &dm, "!feature mentions false")
        .await
        .unwrap();
    assert!(r.contains("now false"), "{r}");
    let r = command(&jack, &dm, "!nick").await.unwrap();
    assert!(r.contains("localhost: jack[m]"), "{r}");
    let r = command(&jack, &dm, "!nick keeper").await.unwrap();
    assert!(r.contains("in use"), "{r}");
    let r = command(&jack, &dm, "!cmd quit").await.unwrap();
    assert!(r.contains("uppercase"), "{r}");
    let r = command(&jack, &dm, "!cmd QUIT :bye").await.unwrap();
    assert!(r.contains("cannot be sent"), "{r}");
    // Success is silent; the raw command reaches IRC.
    jack.send_text(&dm, "!cmd PRIVMSG keeper :raw hello")
        .await
        .unwrap();
    op.expect(|l| l.contains("PRIVMSG keeper :raw hello"))
        .await
        .unwrap();
    let r = command(&jack, &dm, "!quit").await.unwrap();
    assert!(r.contains("Disconnected"), "{r}");
    op.expect(|l| l.starts_with(":jack[m]!") && l.contains("QUIT"))
        .await
        .unwrap();
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_power_and_displayname_follow() {
    let setup = Setup::start().await.unwrap();
    let mut lee = RawIrc::connect(setup.ircd.port, "lee").await.unwrap();
    lee.join("#mod").await.unwrap();
    lee.send("TOPIC #mod :the first topic").await.unwrap();
    let (kim, dm) = setup.user("kim").await.unwrap();
    let room = join_channel(&kim, &dm, "#mod").await.unwrap();
    // lee created the channel, so is an operator: his ghost gets power 50.
    let lee_ghost = "@_irc_localhost_lee:localhost";
    ferrybridge_tests::wait_until(T, || async {
        kim.get_state(&room, "m.room.power_levels", "")
            .await
            .is_ok_and(|pl| pl["users"][lee_ghost] == 50)
    })
    .await
    .unwrap();
    lee.send("TOPIC #mod :a new topic").await.unwrap();
    ferrybridge_tests::wait_until(T, || async {
        kim.get_state(&room, "m.room.topic", "")
            .await
            .is_ok_and(|t| t["topic"] == "a new topic")
    })
    .await
    .unwrap();
    // A display name change becomes a NICK.
    kim.set_displayname("Kimberly").await.unwrap();
    lee.expect(|l| l.starts_with(":kim[m]!") && l.contains("NICK") && l.contains("Kimberly[m]"))
        .await
        .unwrap();
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_started_dm_with_a_ghost() {
    let setup = Setup::start().await.unwrap();
    let mut olga = RawIrc::connect(setup.ircd.port, "olga").await.unwrap();
    let (oscar, _dm) = setup.user("oscar").await.unwrap();
    let ghost: ruma::OwnedUserId = "@_irc_localhost_olga:localhost".try_into().unwrap();
    let room = oscar.create_dm(&ghost).await.unwrap();
    oscar
        .wait_for(&room, T, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == ghost.as_str()
                && e["content"]["membership"] == "join"
        })
        .await
        .unwrap();
    oscar.send_text(&room, "hi olga").await.unwrap();
    let line = match olga.expect(|l| l.contains("PRIVMSG olga :hi olga")).await {
        Ok(l) => l,
        Err(e) => panic!("{e}: room events {:#?}", oscar.messages(&room, 20).await),
    };
    assert!(line.starts_with(":oscar[m]!"), "{line}");
    olga.send("PRIVMSG oscar[m] :hi oscar").await.unwrap();
    let ev = oscar
        .wait_for(&room, T, |e| text_body(e) == Some("hi oscar"))
        .await
        .unwrap();
    assert_eq!(ev["sender"], ghost.as_str());
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formatting_emotes_replies_and_long_messages() {
    let setup = Setup::start().await.unwrap();
    let mut pat = RawIrc::connect(setup.ircd.port, "pat").await.unwrap();
    pat.join("#fmt").await.unwrap();
    let (quinn, dm) = setup.user("quinn").await.unwrap();
    let room = join_channel(&quinn, &dm, "#fmt").await.unwrap();

    // IRC → Matrix: bold becomes HTML, ACTION an emote.
    pat.send("PRIVMSG #fmt :this is \x02bold\x02")
        .await
        .unwrap();
    let ev = quinn
        .wait_for(&room, T, |e| text_body(e) == Some("this is bold"))
        .await
        .unwrap();
    let html = ev["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(html.contains("bold</"), "{html}");
    pat.send("PRIVMSG #fmt :\x01ACTION waves\x01")
        .await
        .unwrap();
    let ev = quinn
        .wait_for(&room, T, |e| text_body(e) == Some("waves"))
        .await
        .unwrap();
    assert_eq!(ev["content"]["msgtype"], "m.emote");

    // A puppet's nick becomes a mention of its Matrix user.
    pat.send("PRIVMSG #fmt :quinn[m]: look here").await.unwrap();
    let ev = quinn
        .wait_for(&room, T, |e| text_body(e) == Some("quinn[m]: look here"))
        .await
        .unwrap();
    let html = ev["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(
        html.contains("https://matrix.to/#/@quinn:localhost"),
        "{html}"
    );
    // ... unless the user switched the `mentions` feature off.
    let r = command(&quinn, &dm, "!feature mentions false")
        .await
        .unwrap();
    assert!(r.contains("now false"), "{r}");
    pat.send("PRIVMSG #fmt :quinn[m]: quietly").await.unwrap();
    let ev = quinn
        .wait_for(&room, T, |e| text_body(e) == Some("quinn[m]: quietly"))
        .await
        .unwrap();
    let html = ev["content"]["formatted_body"].as_str().unwrap_or_default();
    assert!(!html.contains("matrix.to"), "{html}");
    assert!(
        !ev["content"]["m.mentions"].to_string().contains("@quinn"),
        "{ev}"
    );

    // Matrix → IRC: HTML bold, emote, a reply as `nick: text`.
    quinn
        .send_json(
            &room,
            "m.room.message",
            serde_json::json!({"msgtype": "m.text", "body": "so *strong*",
                "format": "org.matrix.custom.html", "formatted_body": "so <strong>strong</strong>"}),
        )
        .await
        .unwrap();
    pat.expect(|l| l.contains("PRIVMSG #fmt :so \x02strong"))
        .await
        .unwrap();
    quinn
        .send_json(
            &room,
            "m.room.message",
            serde_json::json!({"msgtype": "m.emote", "body": "nods"}),
        )
        .await
        .unwrap();
    pat.expect(|l| l.contains("PRIVMSG #fmt :\x01ACTION nods\x01"))
        .await
        .unwrap();
    quinn
        .send_json(
            &room,
            "m.room.message",
            serde_json::json!({"msgtype": "m.text", "body": "> <@_irc_localhost_pat:localhost> waves\n\nhello back",
                "m.relates_to": {"m.in_reply_to": {"event_id": ev["event_id"]}}}),
        )
        .await
        .unwrap();
    pat.expect(|l| l.contains("PRIVMSG #fmt :pat: hello back"))
        .await
        .unwrap();

    // Media goes out as a link.
    quinn
        .send_json(
            &room,
            "m.room.message",
            serde_json::json!({"msgtype": "m.image", "body": "cat.png",
                "url": "mxc://localhost/abcdef", "info": {"size": 2048, "mimetype": "image/png"}}),
        )
        .await
        .unwrap();
    let line = pat
        .expect(|l| l.contains("PRIVMSG #fmt :cat.png (2 KiB) http"))
        .await
        .unwrap();
    assert!(line.contains("abcdef"), "{line}");

    // Past the line limit (3): a preview and a link to the full text.
    let long: Vec<String> = (1..=8).map(|i| format!("line number {i}")).collect();
    quinn.send_text(&room, &long.join("\n")).await.unwrap();
    pat.expect(|l| l.contains("PRIVMSG #fmt :line number 1"))
        .await
        .unwrap();
    let link = pat
        .expect(|l| l.contains("PRIVMSG #fmt :(full message: http"))
        .await
        .unwrap();
    assert!(
        !pat.seen.iter().any(|l| l.contains("line number 4")),
        "{link}"
    );
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plumb_kick_and_unlink() {
    let setup = Setup::start().await.unwrap();
    let mut rita = RawIrc::connect(setup.ircd.port, "rita").await.unwrap();
    rita.join("#plumbed").await.unwrap();
    let (admin, dm) = setup.user("admin").await.unwrap();
    let room = admin
        .create_room(serde_json::json!({"name": "Our room", "invite": ["@ircbot:localhost"]}))
        .await
        .unwrap();
    admin
        .wait_for(&room, T, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == "@ircbot:localhost"
                && e["content"]["membership"] == "join"
        })
        .await
        .unwrap();
    let r = command(&admin, &dm, &format!("!plumb {room} localhost #plumbed"))
        .await
        .unwrap();
    assert!(r.contains("Bridged"), "{r}");
    rita.expect(|l| l.starts_with(":ferrybridge!") && l.contains("JOIN"))
        .await
        .unwrap();
    rita.send("PRIVMSG #plumbed :hello plumbed room")
        .await
        .unwrap();
    admin
        .wait_for(&room, T, |e| text_body(e) == Some("hello plumbed room"))
        .await
        .unwrap();
    admin.send_text(&room, "hello rita").await.unwrap();
    rita.expect(|l| l.contains("PRIVMSG #plumbed :hello rita"))
        .await
        .unwrap();
    // The room keeps its own name.
    let name = admin.get_state(&room, "m.room.name", "").await.unwrap();
    assert_eq!(name["name"], "Our room");

    // A Matrix kick of the ghost becomes a KICK by the kicker's puppet (made operator first).
    rita.send("MODE #plumbed +o admin[m]").await.unwrap();
    rita.expect(|l| l.contains("MODE #plumbed") && l.contains("admin[m]"))
        .await
        .unwrap();
    admin
        .call(
            reqwest::Method::POST,
            &["rooms", room.as_str(), "kick"],
            &[],
            Some(&serde_json::json!({"user_id": "@_irc_localhost_rita:localhost", "reason": "behave"})),
        )
        .await
        .unwrap();
    rita.expect(|l| l.starts_with(":admin[m]!") && l.contains("KICK #plumbed rita :behave"))
        .await
        .unwrap();

    let r = command(&admin, &dm, &format!("!unlink {room} localhost #plumbed"))
        .await
        .unwrap();
    assert!(r.contains("Unlinked"), "{r}");
    // The bot left the channel (rita, kicked, sees the names list on rejoining).
    rita.join("#plumbed").await.unwrap();
    let names = rita
        .seen
        .iter()
        .rev()
        .find(|l| l.contains(" 353 "))
        .unwrap();
    assert!(!names.contains("ferrybridge"), "{names}");
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_puppets_are_disconnected() {
    let setup = Setup::start_tuned(|s| s.idle_timeout_secs = 3)
        .await
        .unwrap();
    let mut sam = RawIrc::connect(setup.ircd.port, "sam").await.unwrap();
    sam.join("#idle").await.unwrap();
    let (tom, dm) = setup.user("tom").await.unwrap();
    join_channel(&tom, &dm, "#idle").await.unwrap();
    sam.expect(|l| l.starts_with(":tom[m]!") && l.contains("QUIT") && l.contains("Idle"))
        .await
        .unwrap();
    tom.wait_for(&dm, T, |e| {
        text_body(e).is_some_and(|b| b.contains("without activity"))
    })
    .await
    .unwrap();
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nickserv_password_mode_identifies() {
    let setup = Setup::start_tuned(|s| {
        s.password_mode = ferrybridge_irc::config::PasswordMode::Nickserv;
    })
    .await
    .unwrap();
    let mut reg = RawIrc::connect(setup.ircd.port, "wes_acct").await.unwrap();
    reg.send("PRIVMSG NickServ :REGISTER n1ckpass wes@example.com")
        .await
        .unwrap();
    reg.expect(|l| l.contains("NickServ") && l.contains("registered"))
        .await
        .unwrap();
    reg.send("QUIT").await.unwrap();
    let (wes, dm) = setup.user("wes").await.unwrap();
    command(&wes, &dm, "!username wes_acct").await.unwrap();
    command(&wes, &dm, "!storepass n1ckpass").await.unwrap();
    command(&wes, &dm, "!reconnect").await.unwrap();
    // NickServ's answer reaches the user in the bot DM.
    wes.wait_for(&dm, T, |e| {
        text_body(e).is_some_and(|b| b.contains("NickServ") && b.contains("identified"))
    })
    .await
    .unwrap();
    setup.stop().await;
}
