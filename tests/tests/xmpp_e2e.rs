//! The XMPP bridge end to end: a real Prosody (started by the project's script), a real
//! Synapse, and an XMPP user driven by raw XML over c2s (no tokio-xmpp client: the bridge's
//! `component` feature would change its namespace, see the crates notes).

mod xmpp_common;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::NetworkConfig;
use ferrybridge_tests::xmpp::{Prosody, SECRET, T, XmppClient};
use ferrybridge_tests::{BridgeEnv, text_body};
use ferrybridge_xmpp::conn::connect;
use ferrybridge_xmpp::{XmppBridge, XmppConfig};
use xmpp_common::{alice_in_lobby, dedent, env_fetching_locally, join_muc, sender, serve_once};

#[tokio::test]
async fn muc_messages_both_ways_and_dms_both_ways() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET);
    let env = BridgeEnv::start(&yaml, None, XmppBridge::init).await?;
    let server = env.synapse.server_name().to_owned();
    let mut alice = alice_in_lobby(&prosody).await?;

    // A Matrix user joins the MUC's alias: the portal appears, their puppet joins the MUC.
    let bob = env.user("bob").await?;
    let room = bob
        .join(&format!("#_xmpp_lobby_conference.localhost:{server}"))
        .await?;
    let seen = alice
        .wait_for("from='lobby@conference.localhost/bob'")
        .await?;
    assert!(seen.contains("<presence"), "{seen}");

    // A display name change is a nick change in the MUC.
    bob.set_displayname("Bobby").await?;
    let seen = alice
        .wait_for("from='lobby@conference.localhost/Bobby'")
        .await?;
    assert!(
        seen.contains("code='303'"),
        "the old nick goes with status 303: {seen}"
    );

    // Matrix → MUC.
    let hello = bob.send_text(&room, "hello from matrix").await?;
    let seen = alice.wait_for("hello from matrix").await?;
    assert!(
        seen.contains("from='lobby@conference.localhost/Bobby'"),
        "{seen}"
    );

    // MUC → Matrix, from the occupant's ghost; the reflection of bob's message is not echoed.
    alice
        .send("<message to='lobby@conference.localhost' type='groupchat' id='a1'><body>hi from xmpp</body></message>")
        .await?;
    let ghost = format!("@_xmpp_lobby=40conference.localhost/alice:{server}");
    let ev = bob
        .wait_for(&room, T, |ev| text_body(ev) == Some("hi from xmpp"))
        .await?;
    assert_eq!(sender(&ev), ghost);
    let echoes = bob
        .seen_events(&room)
        .into_iter()
        .filter(|ev| text_body(ev) == Some("hello from matrix"))
        .count();
    assert_eq!(echoes, 1, "bob's own message must not come back");

    // A correction from XMPP edits the Matrix message.
    alice
        .send("<message to='lobby@conference.localhost' type='groupchat' id='a2'><body>hi from XMPP!</body><replace xmlns='urn:xmpp:message-correct:0' id='a1'/></message>")
        .await?;
    let edit = bob
        .wait_for(&room, T, |ev| {
            ev["content"]["m.relates_to"]["rel_type"] == "m.replace"
        })
        .await?;
    assert_eq!(edit["content"]["m.new_content"]["body"], "hi from XMPP!");

    // Reactions both ways (XEP-0444).
    let hi_event = ev["event_id"].as_str().unwrap_or_default().to_owned();
    bob.send_json(
        &room,
        "m.reaction",
        serde_json::json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": hi_event, "key": "👍"}}),
    )
    .await?;
    let seen = alice.wait_for("</reactions>").await?;
    assert!(
        seen.contains("<reactions") && seen.contains("id='a1'") && seen.contains("👍"),
        "{seen}"
    );
    alice
        .send("<message to='lobby@conference.localhost' type='groupchat' id='a4'><reactions xmlns='urn:xmpp:reactions:0' id='a1'><reaction>🎉</reaction></reactions></message>")
        .await?;
    let reaction = bob
        .wait_for(&room, T, |ev| {
            ev["type"] == "m.reaction" && sender(ev) == ghost
        })
        .await?;
    assert_eq!(reaction["content"]["m.relates_to"]["key"], "🎉");
    assert_eq!(
        reaction["content"]["m.relates_to"]["event_id"],
        hi_event.as_str()
    );

    // A retraction from XMPP redacts it; a Matrix redaction retracts on XMPP.
    alice
        .send("<message to='lobby@conference.localhost' type='groupchat' id='a3'><retract xmlns='urn:xmpp:message-retract:1' id='a1'/><body>retracted</body></message>")
        .await?;
    bob.wait_for(&room, T, |ev| ev["type"] == "m.room.redaction")
        .await?;
    bob.redact(&room, &hello, None).await?;
    alice.wait_for("urn:xmpp:message-retract:1").await?;

    // The bot's `join` command is the other way in.
    join_muc(&mut alice, "lobby2@conference.localhost", "alice").await?;
    let mgmt = bob.create_dm(&env.bot()).await?;
    bob.wait_for(&mgmt, T, |ev| {
        text_body(ev).is_some_and(|b| b.contains("help"))
    })
    .await?;
    bob.send_text(&mgmt, "join lobby2@conference.localhost")
        .await?;
    let room2 = bob.wait_for_invite(T).await?;
    bob.join(room2.as_str()).await?;
    alice
        .wait_for("from='lobby2@conference.localhost/Bobby'")
        .await?;

    // XMPP → Matrix DM: a chat to bob's puppet JID invites bob to a DM with alice's ghost.
    let puppet = format!("bob_{server}@matrix.localhost");
    alice
        .send(&format!(
            "<message to='{puppet}' type='chat' id='d1'><body>psst bob</body></message>"
        ))
        .await?;
    let dm = bob.wait_for_invite(T).await?;
    bob.join(dm.as_str()).await?;
    let ev = bob
        .wait_for(&dm, T, |ev| text_body(ev) == Some("psst bob"))
        .await?;
    assert_eq!(sender(&ev), format!("@_xmpp_alice=40localhost:{server}"));
    let psst = ev["event_id"].as_str().context("event_id")?.to_owned();

    // Matrix → XMPP DM.
    bob.send_text(&dm, "hello alice").await?;
    let seen = alice.wait_for("hello alice").await?;
    assert!(seen.contains(&format!("from='{puppet}/bridge'")), "{seen}");

    // XEP-0393 styling becomes HTML on Matrix, and Matrix HTML becomes styling on XMPP.
    alice
        .send(&format!(
            "<message to='{puppet}' type='chat' id='d2'><body>*loud* &amp; `code`</body></message>"
        ))
        .await?;
    let ev = bob
        .wait_for(&dm, T, |ev| text_body(ev) == Some("*loud* & `code`"))
        .await?;
    assert_eq!(ev["content"]["format"], "org.matrix.custom.html", "{ev}");
    assert_eq!(
        ev["content"]["formatted_body"], "<strong>loud</strong> &amp; <code>code</code>",
        "{ev}"
    );
    bob.send_json(
        &dm,
        "m.room.message",
        serde_json::json!({
            "msgtype": "m.text",
            "body": "bold and gone",
            "format": "org.matrix.custom.html",
            "formatted_body": "<b>bold</b> and <del>gone</del>",
        }),
    )
    .await?;
    alice.wait_for("*bold* and ~gone~").await?;

    // Matrix typing becomes a chat state (XEP-0085), a read receipt a chat marker (XEP-0333).
    bob.call(
        reqwest::Method::PUT,
        &["rooms", dm.as_str(), "typing", bob.user_id.as_str()],
        &[],
        Some(&serde_json::json!({"typing": true, "timeout": 30000})),
    )
    .await?;
    alice.wait_for("<composing").await?;
    bob.call(
        reqwest::Method::POST,
        &["rooms", dm.as_str(), "receipt", "m.read", &psst],
        &[],
        Some(&serde_json::json!({})),
    )
    .await?;
    alice.wait_for("<displayed").await?;
    let marker = alice.wait_for("/>").await?;
    assert!(marker.contains("d1"), "{marker}");
    Ok(())
}

#[tokio::test]
async fn idle_stream_survives_and_puppets_return_after_restarts() -> Result<()> {
    let mut prosody = Prosody::start().await?;
    // Short keepalive: the stream would time out after 3 × 5 s of silence without pings.
    let yaml = prosody
        .network_yaml(SECRET)
        .replace("keepalive_secs: 10", "keepalive_secs: 5");
    let mut env = BridgeEnv::start(&yaml, None, XmppBridge::init).await?;
    component_connected(&env).await?;
    let server = env.synapse.server_name().to_owned();
    let mut alice = alice_in_lobby(&prosody).await?;
    let bob = env.user("bob").await?;
    let room = bob
        .join(&format!("#_xmpp_lobby_conference.localhost:{server}"))
        .await?;
    alice
        .wait_for("from='lobby@conference.localhost/bob'")
        .await?;

    tokio::time::sleep(Duration::from_secs(17)).await;
    bob.send_text(&room, "after a quiet while").await?;
    alice.wait_for("after a quiet while").await?;

    // The bridge restarts: bob's puppet is back in the room without doing anything.
    // (Puppets stay in the room while the bridge is down; the rejoin shows as a presence.)
    env.stop().await;
    env.run(XmppBridge::init).await?;
    alice
        .wait_for("from='lobby@conference.localhost/bob'")
        .await?;
    bob.send_text(&room, "after the bridge restart").await?;
    alice.wait_for("after the bridge restart").await?;

    // The XMPP server restarts: the bridge reconnects and the puppet rejoins.
    prosody.restart("p2").await?;
    // Sent while the component is down or reconnecting: the bridge answers "not connected",
    // which is retryable, and the core retries until the stream is back and bob's puppet has
    // rejoined (which recreates the room if alice is not there first).
    bob.send_text(&room, "sent while reconnecting").await?;
    let mut alice = XmppClient::login(prosody.c2s, "alice", "alicepass").await?;
    // With history: the message may reach the room before alice does.
    alice
        .send("<presence to='lobby@conference.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='20'/></x></presence>")
        .await?;
    alice.wait_for("sent while reconnecting").await?;
    component_connected(&env).await?;
    bob.send_text(&room, "after the server restart").await?;
    alice.wait_for("after the server restart").await?;
    alice
        .send("<message to='lobby@conference.localhost' type='groupchat' id='r1'><body>welcome back</body></message>")
        .await?;
    bob.wait_for(&room, T, |ev| text_body(ev) == Some("welcome back"))
        .await?;
    Ok(())
}

/// Waits until the bridge reports its component connection as up (its one own connection).
async fn component_connected(env: &BridgeEnv<XmppBridge>) -> Result<()> {
    let states = env.host().context("the bridge runs")?.connection_states();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let problems = states.own_problems();
        if problems.is_empty() && states.counts()["connected"] == 1 {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the component is not reported connected: {problems:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn nick_conflicts_vcards_kicks_and_leaving() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET);
    let env = BridgeEnv::start(&yaml, None, XmppBridge::init).await?;
    let server = env.synapse.server_name().to_owned();
    // Alice owns the room and took the nick "bob".
    let mut alice = XmppClient::login(prosody.c2s, "alice", "alicepass").await?;
    alice
        .send("<presence to='den@conference.localhost/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        .await?;
    alice.wait_for("status code='110'").await?;
    let mut carol = XmppClient::login(prosody.c2s, "carol", "carolpass").await?;
    carol
        .send("<presence to='den@conference.localhost/carol'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        .await?;
    carol.wait_for("status code='110'").await?;

    let bob = env.user("bob").await?;
    let room = bob
        .join(&format!("#_xmpp_den_conference.localhost:{server}"))
        .await?;
    alice
        .wait_for("from='den@conference.localhost/bob [matrix]'")
        .await?;

    // The puppet's vCard points at the Matrix user.
    alice
        .send(&format!("<iq to='bob_{server}@matrix.localhost' type='get' id='v1'><vCard xmlns='vcard-temp'/></iq>"))
        .await?;
    let seen = alice.wait_for("</iq>").await?;
    assert!(
        seen.contains(&format!("https://matrix.to/#/@bob:{server}")),
        "{seen}"
    );

    // Carol is a ghost in the Matrix room; when the owner kicks her, the ghost is kicked.
    let carol_ghost = format!("@_xmpp_den=40conference.localhost/carol:{server}");
    bob.wait_for(&room, T, |ev| {
        ev["type"] == "m.room.member"
            && ev["state_key"] == carol_ghost.as_str()
            && ev["content"]["membership"] == "join"
    })
    .await?;
    alice
        .send("<iq to='den@conference.localhost' type='set' id='k1'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='carol' role='none'><reason>bye</reason></item></query></iq>")
        .await?;
    carol.wait_for("status code='307'").await?;
    bob.wait_for(&room, T, |ev| {
        ev["type"] == "m.room.member"
            && ev["state_key"] == carol_ghost.as_str()
            && ev["content"]["membership"] == "leave"
    })
    .await?;

    // Leaving the Matrix room takes the puppet out of the MUC.
    bob.leave(&room).await?;
    let mut left = false;
    for _ in 0..10 {
        let seen = alice.wait_for("type='unavailable'").await? + &alice.wait_for(">").await?;
        let tag = &seen[seen.rfind("<presence").unwrap_or(0)..];
        if tag.contains("from='den@conference.localhost/bob [matrix]'") {
            left = true;
            break;
        }
    }
    assert!(left, "bob's puppet did not leave");
    Ok(())
}

#[tokio::test]
async fn xmpp_users_join_public_matrix_rooms_through_the_gateway() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET);
    let env = BridgeEnv::start(&yaml, None, XmppBridge::init).await?;
    let server = env.synapse.server_name().to_owned();
    let erin = env.user("erin").await?;
    let town = erin
        .create_room(serde_json::json!({
            "preset": "public_chat", "visibility": "public",
            "room_alias_name": "town", "name": "Town square",
        }))
        .await?;
    let room_jid = format!("#town%{server}@matrix.localhost");

    let mut alice = XmppClient::login(prosody.c2s, "alice", "alicepass").await?;
    // disco#items on the component lists the public Matrix rooms as gateway rooms. (Prosody
    // forwards it: external components do not inherit mod_disco. Synapse fills its directory
    // in the background: ask until the room is listed.)
    let mut listed = String::new();
    for i in 0..20 {
        alice
            .send(&format!("<iq to='matrix.localhost' type='get' id='items{i}'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"))
            .await?;
        let seen = alice.wait_for("</iq>").await?;
        listed = seen[seen.rfind("<iq").context("no disco#items answer")?..].to_owned();
        if listed.contains(&room_jid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        listed.contains(&room_jid) && listed.contains("Town square"),
        "{listed}"
    );

    alice
        .send(&format!(
            "<presence to='{room_jid}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await?;
    let seen = alice.wait_for("status code='110'").await?;
    assert!(
        seen.contains(&format!("from='{room_jid}/erin'")),
        "Matrix users are occupants: {seen}"
    );
    alice.wait_for("<subject").await?;
    let ghost = format!("@_xmpp_alice=40localhost:{server}");
    erin.wait_for(&town, T, |ev| {
        ev["type"] == "m.room.member"
            && ev["state_key"] == ghost.as_str()
            && ev["content"]["membership"] == "join"
    })
    .await?;

    erin.send_text(&town, "hello gateway").await?;
    let seen = alice.wait_for("hello gateway").await?;
    assert!(seen.contains(&format!("from='{room_jid}/erin'")), "{seen}");

    alice
        .send(&format!(
            "<message to='{room_jid}' type='groupchat' id='g1'><body>hi matrix</body></message>"
        ))
        .await?;
    let ev = erin
        .wait_for(&town, T, |ev| text_body(ev) == Some("hi matrix"))
        .await?;
    assert_eq!(sender(&ev), ghost);
    // The room reflects alice's own message to her, as a MUC does.
    alice.wait_for("hi matrix").await?;

    // Leaving takes the ghost out of the Matrix room.
    alice
        .send(&format!(
            "<presence to='{room_jid}/alice' type='unavailable'/>"
        ))
        .await?;
    erin.wait_for(&town, T, |ev| {
        ev["type"] == "m.room.member"
            && ev["state_key"] == ghost.as_str()
            && ev["content"]["membership"] == "leave"
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn matrix_dm_with_a_ghost_reaches_the_xmpp_user() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET);
    let env = BridgeEnv::start(&yaml, None, XmppBridge::init).await?;
    let server = env.synapse.server_name().to_owned();
    let mut carol = XmppClient::login(prosody.c2s, "carol", "carolpass").await?;
    let dave = env.user("dave").await?;
    let ghost: ruma::OwnedUserId = format!("@_xmpp_carol=40localhost:{server}").parse()?;
    let dm = dave.create_dm(&ghost).await?;
    dave.wait_for(&dm, T, |ev| {
        ev["type"] == "m.room.member"
            && ev["state_key"] == ghost.as_str()
            && ev["content"]["membership"] == "join"
    })
    .await?;
    dave.send_text(&dm, "hi carol").await?;
    let seen = carol.wait_for("hi carol").await?;
    assert!(seen.contains("type='chat'"), "{seen}");

    // A DM to an XMPP address that does not exist: the server's error becomes a notice.
    let nobody: ruma::OwnedUserId = format!("@_xmpp_nobody=40localhost:{server}").parse()?;
    let dm = dave.create_dm(&nobody).await?;
    dave.wait_for(&dm, T, |ev| {
        ev["type"] == "m.room.member"
            && ev["state_key"] == nobody.as_str()
            && ev["content"]["membership"] == "join"
    })
    .await?;
    // The bot joins private portals too, to say what went wrong.
    let bot = env.bot();
    dave.wait_for(&dm, T, |ev| {
        ev["type"] == "m.room.member"
            && ev["state_key"] == bot.as_str()
            && ev["content"]["membership"] == "join"
    })
    .await?;
    dave.send_text(&dm, "anyone there?").await?;
    let notice = dave
        .wait_for(&dm, T, |ev| {
            text_body(ev).is_some_and(|b| b.contains("could not be delivered"))
        })
        .await?;
    assert_eq!(notice["content"]["msgtype"], "m.notice", "{notice}");
    Ok(())
}

#[tokio::test]
async fn bad_stanzas_get_errors_and_the_bridge_keeps_working() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET);
    // The attachment below comes from a server on 127.0.0.1.
    let env = env_fetching_locally(&yaml).await?;
    let server = env.synapse.server_name().to_owned();
    let mut alice = XmppClient::login(prosody.c2s, "alice", "alicepass").await?;
    // To the component itself, and to an address that is no Matrix user: error stanzas.
    alice
        .send("<message to='matrix.localhost' type='chat' id='x1'><body>hello?</body></message>")
        .await?;
    let seen = alice.wait_for("</message>").await?;
    assert!(seen.contains("type='error'"), "{seen}");
    alice
        .send("<message to='nobody@matrix.localhost' type='chat' id='x2'><body>hello?</body></message>")
        .await?;
    let seen = alice.wait_for("</message>").await?;
    assert!(seen.contains("type='error'"), "{seen}");
    // An unknown IQ is answered with an error; a ping with a result.
    alice
        .send("<iq to='matrix.localhost' type='get' id='q1'><query xmlns='urn:example:nothing'/></iq>")
        .await?;
    let seen = alice.wait_for("</iq>").await?;
    assert!(seen.contains("service-unavailable"), "{seen}");
    alice
        .send("<iq to='matrix.localhost' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await?;
    let seen = alice.wait_for("id='p1'").await? + &alice.wait_for(">").await?;
    let tag = &seen[seen.rfind("<iq").unwrap_or(0)..];
    assert!(tag.contains("type='result'"), "{tag}");
    // Odd but well-formed content: an empty body, a bogus chat state, a reply without id.
    alice
        .send(&format!("<message to='bob_{server}@matrix.localhost' type='chat'><body></body><bogus xmlns='urn:x'/><reply xmlns='urn:xmpp:reply:0'/></message>"))
        .await?;
    // Stanzas the parser refuses (a bogus message type, an IQ without id) are dropped
    // without taking the component stream down for long.
    alice
        .send(&format!("<message to='bob_{server}@matrix.localhost' type='bogus' id='b1'><body>?</body></message>"))
        .await?;
    let seen = alice.wait_for("bad-request").await?;
    assert!(
        seen.contains("id='b1'") && seen.contains("type='error'"),
        "{seen}"
    );
    alice
        .send(&format!(
            "<iq to='bob_{server}@matrix.localhost' type='get'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await?;
    // Still alive: a real DM gets through.
    let bob = env.user("bob").await?;
    alice
        .send(&format!(
            "<message to='bob_{server}@matrix.localhost' type='chat' id='ok1'><body>still here</body></message>"
        ))
        .await?;
    let dm = bob.wait_for_invite(T).await?;
    bob.join(dm.as_str()).await?;
    bob.wait_for(&dm, T, |ev| text_body(ev) == Some("still here"))
        .await?;

    // An attachment link (XEP-0066) is fetched into the media repository.
    let url = serve_once(b"\x89PNG not really an image", "image/png").await?;
    alice
        .send(&format!(
            "<message to='bob_{server}@matrix.localhost' type='chat' id='img1'><body>{url}</body>\
             <x xmlns='jabber:x:oob'><url>{url}</url></x></message>"
        ))
        .await?;
    let image = bob
        .wait_for(&dm, T, |ev| ev["content"]["msgtype"] == "m.image")
        .await?;
    assert!(
        image["content"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("mxc://")),
        "{image}"
    );
    assert_eq!(image["content"]["info"]["mimetype"], "image/png");
    Ok(())
}

#[tokio::test]
async fn wrong_secret_is_a_clear_startup_error() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml("not-the-secret");
    let err = match BridgeEnv::start(&yaml, None, XmppBridge::init).await {
        Ok(_) => bail!("the bridge started with a wrong secret"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("refused the component handshake"), "{err}");
    assert!(err.contains("secret"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_second_connection_for_the_same_component_is_a_clear_error() -> Result<()> {
    let prosody = Prosody::start().await?;
    let server = format!("127.0.0.1:{}", prosody.component);
    let keepalive = Duration::from_secs(10);
    let _first = connect("matrix.localhost", SECRET, &server, keepalive).await?;
    let err = match connect("matrix.localhost", SECRET, &server, keepalive).await {
        Ok(_) => bail!("a second component connection was accepted"),
        Err(e) => e,
    };
    assert!(err.is_fatal(), "{err}");
    assert!(err.to_string().contains("already connected"), "{err}");
    let unreachable = connect("matrix.localhost", SECRET, "127.0.0.1:1", keepalive)
        .await
        .err()
        .context("nothing listens on port 1")?;
    assert!(!unreachable.is_fatal(), "{unreachable}");
    Ok(())
}

#[test]
fn example_network_section_is_valid() {
    let cfg: XmppConfig = serde_norway::from_str(&dedent(&XmppConfig::example_yaml())).unwrap();
    assert!(cfg.validate().is_empty());
    assert_eq!(XmppBridge::info().id, "xmpp");
}
