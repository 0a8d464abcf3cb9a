//! The XMPP bridge end to end, part two: ghost avatars from vCards (XEP-0054/XEP-0153), read
//! receipts in MUCs (XEP-0333) and the order of attachments and the messages after them. A
//! real Prosody (with mod_vcard_legacy), a real Synapse, XMPP users speaking raw XML.

mod xmpp_common;

use std::time::Duration;

use anyhow::{Context, Result};
use ferrybridge_core::bridge::Bridge;
use ferrybridge_tests::xmpp::{Prosody, SECRET, T, XmppClient};
use ferrybridge_tests::{BridgeEnv, TestUser, text_body};
use ferrybridge_xmpp::XmppBridge;
use ruma::OwnedUserId;
use xmpp_common::{alice_in_lobby, env_fetching_locally, join_muc, sender, serve_once_after};

/// 1×1 PNGs, as bytes and as base64 for the vCard.
const RED: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde\0\0\0\x0cIDATx\x9cc\xf8\xcf\xc0\0\0\x03\x01\x01\0\xc9\xfe\x92\xef\0\0\0\0IEND\xaeB`\x82";
const RED_B64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";
const BLUE: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde\0\0\0\x0cIDATx\x9cc``\xf8\x0f\0\x01\x03\x01\0\x08\x89\xc2\xec\0\0\0\0IEND\xaeB`\x82";
const BLUE_B64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYPgPAAEDAQAIicLsAAAAAElFTkSuQmCC";

/// Publishes a vCard (with a PNG photo, or without one) and waits for the server's answer.
async fn publish_vcard(c: &mut XmppClient, id: &str, photo_b64: Option<&str>) -> Result<()> {
    let photo = photo_b64
        .map(|b| format!("<PHOTO><TYPE>image/png</TYPE><BINVAL>{b}</BINVAL></PHOTO>"))
        .unwrap_or_default();
    c.send(&format!(
        "<iq type='set' id='{id}'><vCard xmlns='vcard-temp'><FN>Alice</FN>{photo}</vCard></iq>"
    ))
    .await?;
    let seen = c.wait_for(&format!("id='{id}'")).await? + &c.wait_for(">").await?;
    let tag = &seen[seen.rfind("<iq").context("no answer")?..];
    anyhow::ensure!(tag.contains("type='result'"), "vCard not stored: {tag}");
    Ok(())
}

/// Waits until `ghost`'s avatar is the picture `want` (or none); returns its URL.
async fn wait_avatar(
    viewer: &TestUser,
    ghost: &OwnedUserId,
    want: Option<&[u8]>,
) -> Result<Option<String>> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        // Until the ghost exists its profile is not found: that is "no avatar yet".
        let url = viewer.avatar_url(ghost).await.ok().flatten();
        let ok = match (&url, want) {
            (None, None) => true,
            (Some(u), Some(bytes)) => viewer.download(u).await? == bytes,
            _ => false,
        };
        if ok {
            return Ok(url);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the avatar of {ghost} is still {url:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn ghost_avatars_follow_vcards_and_survive_restarts() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET);
    let mut env = BridgeEnv::start(&yaml, None, XmppBridge::init).await?;
    let server = env.synapse.server_name().to_owned();
    let mut alice = XmppClient::login(prosody.c2s, "alice", "alicepass").await?;
    publish_vcard(&mut alice, "vc1", Some(RED_B64)).await?;

    // A DM: the sender's ghost gets the vCard photo (asked of the bare JID).
    let bob = env.user("bob").await?;
    let puppet = format!("bob_{server}@matrix.localhost");
    alice
        .send(&format!(
            "<message to='{puppet}' type='chat' id='d1'><body>see my picture</body></message>"
        ))
        .await?;
    let dm = bob.wait_for_invite(T).await?;
    bob.join(dm.as_str()).await?;
    bob.wait_for(&dm, T, |ev| text_body(ev) == Some("see my picture"))
        .await?;
    let dm_ghost: OwnedUserId = format!("@_xmpp_alice=40localhost:{server}").parse()?;
    let dm_avatar = wait_avatar(&bob, &dm_ghost, Some(RED)).await?;

    // A MUC whose occupants' real JIDs are hidden: the occupant JID is asked, and the room
    // passes the request on to alice's server.
    join_muc(&mut alice, "lobby@conference.localhost", "alice").await?;
    let room = bob
        .join(&format!("#_xmpp_lobby_conference.localhost:{server}"))
        .await?;
    alice
        .wait_for("from='lobby@conference.localhost/bob'")
        .await?;
    let muc_ghost: OwnedUserId =
        format!("@_xmpp_lobby=40conference.localhost/alice:{server}").parse()?;
    let muc_avatar = wait_avatar(&bob, &muc_ghost, Some(RED)).await?;

    // After a bridge restart the same picture is not uploaded again (a new upload would be a
    // new mxc URI).
    env.stop().await;
    env.run(XmppBridge::init).await?;
    alice
        .wait_for("from='lobby@conference.localhost/bob'")
        .await?;
    alice
        .send(&format!(
            "<message to='{puppet}' type='chat' id='d2'><body>back again</body></message>"
        ))
        .await?;
    bob.wait_for(&dm, T, |ev| text_body(ev) == Some("back again"))
        .await?;
    alice
        .send("<message to='lobby@conference.localhost' type='groupchat' id='m1'><body>hello room</body></message>")
        .await?;
    bob.wait_for(&room, T, |ev| text_body(ev) == Some("hello room"))
        .await?;
    // The vCard check runs beside the messages: give it time to (wrongly) act.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(bob.avatar_url(&dm_ghost).await?, dm_avatar);
    assert_eq!(bob.avatar_url(&muc_ghost).await?, muc_avatar);

    // A new picture: the presence's XEP-0153 hash changes and the ghost follows.
    publish_vcard(&mut alice, "vc2", Some(BLUE_B64)).await?;
    alice
        .send("<presence to='lobby@conference.localhost/alice'/>")
        .await?;
    let blue = wait_avatar(&bob, &muc_ghost, Some(BLUE)).await?;
    assert_ne!(blue, muc_avatar);

    // No picture any more: the avatar goes away.
    publish_vcard(&mut alice, "vc3", None).await?;
    alice
        .send("<presence to='lobby@conference.localhost/alice'><show>away</show></presence>")
        .await?;
    wait_avatar(&bob, &muc_ghost, None).await?;
    Ok(())
}

/// The `id` of the last `<message` in `seen`.
fn last_message_id(seen: &str) -> Option<String> {
    let tag = &seen[seen.rfind("<message")?..];
    let tag = &tag[..tag.find('>')?];
    let start = tag.find(" id='")? + 5;
    Some(tag[start..start + tag[start..].find('\'')?].to_owned())
}

#[tokio::test]
async fn read_receipts_in_mucs_both_ways() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET);
    let env = BridgeEnv::start(&yaml, None, XmppBridge::init).await?;
    let server = env.synapse.server_name().to_owned();
    let mut alice = alice_in_lobby(&prosody).await?;
    let bob = env.user("bob").await?;
    let room = bob
        .join(&format!("#_xmpp_lobby_conference.localhost:{server}"))
        .await?;
    alice
        .wait_for("from='lobby@conference.localhost/bob'")
        .await?;

    // XMPP → Matrix: alice's `displayed` marker is the ghost's read receipt on bob's message.
    let read_me = bob.send_text(&room, "read me").await?;
    let seen = alice.wait_for("read me").await?;
    let id = last_message_id(&seen).context("id of bob's message")?;
    alice
        .send(&format!(
            "<message to='lobby@conference.localhost' type='groupchat' id='mk1'><displayed xmlns='urn:xmpp:chat-markers:0' id='{id}'/></message>"
        ))
        .await?;
    let ghost = format!("@_xmpp_lobby=40conference.localhost/alice:{server}");
    bob.wait_for_receipt(&room, read_me.as_str(), &ghost, T)
        .await?;

    // Matrix → XMPP: bob's read receipt is a `displayed` marker from his occupant.
    alice
        .send("<message to='lobby@conference.localhost' type='groupchat' id='a1'><body>did you read this?</body><markable xmlns='urn:xmpp:chat-markers:0'/></message>")
        .await?;
    let ev = bob
        .wait_for(&room, T, |ev| text_body(ev) == Some("did you read this?"))
        .await?;
    assert_eq!(sender(&ev), ghost);
    let event_id = ev["event_id"].as_str().context("event_id")?;
    bob.call(
        reqwest::Method::POST,
        &["rooms", room.as_str(), "receipt", "m.read", event_id],
        &[],
        Some(&serde_json::json!({})),
    )
    .await?;
    // Alice also gets her own marker back from the room; look for bob's.
    let mut found = false;
    for _ in 0..5 {
        let seen = alice.wait_for("<displayed").await? + &alice.wait_for("/>").await?;
        let msg = &seen[seen.rfind("<message").unwrap_or(0)..];
        if msg.contains("from='lobby@conference.localhost/bob'") && msg.contains("id='a1'") {
            found = true;
            break;
        }
    }
    assert!(found, "no marker from bob's occupant");
    Ok(())
}

#[tokio::test]
async fn attachments_keep_their_place_before_later_messages() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET) + "  attachment_timeout_secs: 3\n";
    // The attachments come from servers on 127.0.0.1.
    let env = env_fetching_locally(&yaml).await?;
    let server = env.synapse.server_name().to_owned();
    let mut alice = XmppClient::login(prosody.c2s, "alice", "alicepass").await?;
    let bob = env.user("bob").await?;
    let puppet = format!("bob_{server}@matrix.localhost");
    let say = |id: &str, body: &str| {
        format!("<message to='{puppet}' type='chat' id='{id}'><body>{body}</body></message>")
    };
    let attach = |id: &str, url: &str| {
        format!(
            "<message to='{puppet}' type='chat' id='{id}'><body>{url}</body>\
             <x xmlns='jabber:x:oob'><url>{url}</url></x></message>"
        )
    };
    alice.send(&say("t0", "hello")).await?;
    let dm = bob.wait_for_invite(T).await?;
    bob.join(dm.as_str()).await?;
    bob.wait_for(&dm, T, |ev| text_body(ev) == Some("hello"))
        .await?;

    // A slow download: the text sent right after it still comes second.
    let slow = serve_once_after(RED, "image/png", "slow.png", Duration::from_millis(1500)).await?;
    alice
        .send(&(attach("i1", &slow) + &say("t1", "after the picture")))
        .await?;
    bob.wait_for(&dm, T, |ev| text_body(ev) == Some("after the picture"))
        .await?;
    // A download that never finishes: after the timeout the link is bridged as text, still in
    // its place.
    let stuck = serve_once_after(RED, "image/png", "stuck.png", Duration::from_secs(60)).await?;
    alice
        .send(&(attach("i2", &stuck) + &say("t2", "after the stall")))
        .await?;
    bob.wait_for(&dm, T, |ev| text_body(ev) == Some("after the stall"))
        .await?;

    let order: Vec<String> = bob
        .seen_events(&dm)
        .iter()
        .filter(|ev| ev["type"] == "m.room.message")
        .map(|ev| {
            let c = &ev["content"];
            format!(
                "{} {}",
                c["msgtype"].as_str().unwrap_or("?"),
                c["body"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "m.text hello".to_owned(),
            "m.image slow.png".to_owned(),
            "m.text after the picture".to_owned(),
            format!("m.text {stuck}"),
            "m.text after the stall".to_owned(),
        ],
        "{order:#?}"
    );
    Ok(())
}
