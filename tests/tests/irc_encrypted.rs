//! IRC in an encrypted portal: a real Synapse, InspIRCd, the bridge in-process and an
//! encrypting Matrix client. Messages, a reply, an edit and an image both ways, and a bridge
//! restart in the middle.

#[path = "irc/support.rs"]
#[allow(dead_code)] // each test file uses a different part
mod support;

use ferrybridge_tests::text_body;
use serde_json::json;
use support::{IrcdPorts, RawIrc, Setup, T, join_channel};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_channel_portal_both_ways_across_a_restart() {
    let mut setup = Setup::start_configured(IrcdPorts::default(), |config, _| {
        config.encryption.allow = true;
        config.encryption.default = true;
        // Links to files point at the bridge's own media proxy.
        config.appservice.public_address = Some(config.appservice.address.clone());
    })
    .await
    .unwrap();
    let mut bob = RawIrc::connect(setup.ircd.port, "bob").await.unwrap();
    bob.join("#crypt").await.unwrap();
    let (alice, dm) = setup.user("alice").await.unwrap();
    alice.enable_e2ee().await.unwrap();
    let room = join_channel(&alice, &dm, "#crypt").await.unwrap();
    let state = alice
        .get_state(&room, "m.room.encryption", "")
        .await
        .unwrap();
    assert_eq!(state["algorithm"], "m.megolm.v1.aes-sha2");

    // Matrix → IRC: a message, then a reply to bob and an edit.
    let first = alice
        .send_encrypted_text(&room, "secret hello")
        .await
        .unwrap();
    bob.expect(|l| l.contains("PRIVMSG #crypt :secret hello"))
        .await
        .unwrap();
    bob.send("PRIVMSG #crypt :hi alice").await.unwrap();
    let ev = alice
        .wait_for(&room, T, |e| text_body(e) == Some("hi alice"))
        .await
        .unwrap();
    assert_eq!(ev["fb_encrypted"], true, "{ev}");
    assert_eq!(ev["sender"], "@_irc_localhost_bob:localhost");
    alice
        .send_encrypted(
            &room,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "a reply",
                   "m.relates_to": {"m.in_reply_to": {"event_id": ev["event_id"]}}}),
        )
        .await
        .unwrap();
    bob.expect(|l| l.contains("PRIVMSG #crypt :") && l.contains("a reply"))
        .await
        .unwrap();
    alice
        .send_encrypted(
            &room,
            "m.room.message",
            json!({"msgtype": "m.text", "body": "* secret hello!",
                   "m.new_content": {"msgtype": "m.text", "body": "secret hello!"},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": first}}),
        )
        .await
        .unwrap();
    bob.expect(|l| l.contains("PRIVMSG #crypt :") && l.contains("secret hello!"))
        .await
        .unwrap();

    // An encrypted image reaches IRC as a link to a decrypted copy.
    alice
        .send_encrypted_file(&room, "m.image", "cat.png", "image/png", b"\x89PNG cat")
        .await
        .unwrap();
    let line = bob
        .expect(|l| l.contains("PRIVMSG #crypt :") && l.contains("http"))
        .await
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap()
        .trim_start_matches(':')
        .to_owned();
    let fetched = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(
        &fetched[..],
        b"\x89PNG cat",
        "the link serves the decrypted file"
    );

    // The bridge restarts; both directions still decrypt.
    setup.restart_bridge().await.unwrap();
    alice
        .send_encrypted_text(&room, "after restart")
        .await
        .unwrap();
    bob.expect(|l| l.contains("PRIVMSG #crypt :after restart"))
        .await
        .unwrap();
    bob.send("PRIVMSG #crypt :still there").await.unwrap();
    let ev = alice
        .wait_for(&room, T, |e| text_body(e) == Some("still there"))
        .await
        .unwrap();
    assert_eq!(ev["fb_encrypted"], true, "{ev}");
    setup.stop().await;
}
