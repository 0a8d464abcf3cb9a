//! XMPP in an encrypted DM, as Element X opens one with a ghost: a real Synapse, Prosody, the
//! bridge in-process and an encrypting Matrix client. Text, a reply, reactions (XEP-0444) and
//! an image (XEP-0066 link one way, a fetched file the other) both ways.

mod xmpp_common;

use anyhow::Result;
use ferrybridge_core::bridge::Bridge;
use ferrybridge_tests::xmpp::{Prosody, SECRET, T, XmppClient};
use ferrybridge_tests::{BridgeEnv, text_body};
use ferrybridge_xmpp::XmppBridge;
use serde_json::json;
use xmpp_common::{sender, serve_once};

#[tokio::test]
async fn encrypted_dm_with_a_ghost_both_ways() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET);
    let env = BridgeEnv::start_tuned(
        &yaml,
        None,
        |config| {
            config.limits.fetch_private_addresses = true;
            config.encryption.allow = true;
            config.encryption.default = true;
        },
        XmppBridge::init,
    )
    .await?;
    let server = env.synapse.server_name().to_owned();
    let mut carol = XmppClient::login(prosody.c2s, "carol", "carolpass").await?;
    let dave = env.user("dave").await?;
    dave.enable_e2ee().await?;
    let ghost: ruma::OwnedUserId = format!("@_xmpp_carol=40localhost:{server}").parse()?;
    let dm = dave.create_encrypted_dm(&ghost).await?;
    let bot = env.bot();
    dave.wait_for(&dm, T, |ev| {
        ev["type"] == "m.room.member"
            && ev["state_key"] == bot.as_str()
            && ev["content"]["membership"] == "join"
    })
    .await?;

    // Matrix → XMPP.
    let hi = dave.send_encrypted_text(&dm, "hi carol").await?;
    let seen = carol.wait_for("hi carol").await?;
    assert!(seen.contains("type='chat'"), "{seen}");
    let hi_stanza = stanza_id(&seen);

    // XMPP → Matrix, then a reply and reactions both ways.
    let me = format!("dave_{server}@matrix.localhost");
    carol
        .send(&format!(
            "<message to='{me}' type='chat' id='c1'><body>hi dave</body></message>"
        ))
        .await?;
    let ev = dave
        .wait_for(&dm, T, |ev| text_body(ev) == Some("hi dave"))
        .await?;
    assert_eq!(ev["fb_encrypted"], true, "{ev}");
    assert_eq!(sender(&ev), ghost.as_str());
    dave.send_encrypted(
        &dm,
        "m.reaction",
        json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": ev["event_id"], "key": "👍"}}),
    )
    .await?;
    let seen = carol.wait_for("</reactions>").await?;
    assert!(seen.contains("id='c1'") && seen.contains("👍"), "{seen}");
    carol
        .send(&format!(
            "<message to='{me}' type='chat' id='c2'><reactions xmlns='urn:xmpp:reactions:0' id='{hi_stanza}'><reaction>🎉</reaction></reactions></message>"
        ))
        .await?;
    let reaction = dave
        .wait_for(&dm, T, |ev| {
            ev["type"] == "m.reaction" && sender(ev) == ghost.as_str()
        })
        .await?;
    assert_eq!(reaction["fb_encrypted"], true, "{reaction}");
    assert_eq!(reaction["content"]["m.relates_to"]["key"], "🎉");
    assert_eq!(reaction["content"]["m.relates_to"]["event_id"], hi.as_str());

    // Images: an encrypted file becomes a link on XMPP; an XMPP link becomes an encrypted file.
    dave.send_encrypted_file(&dm, "m.image", "cat.png", "image/png", b"\x89PNG cat")
        .await?;
    let seen = carol.wait_for("jabber:x:oob").await?;
    assert!(seen.contains("http"), "{seen}");
    let url = serve_once(b"\x89PNG dog", "image/png").await?;
    carol
        .send(&format!(
            "<message to='{me}' type='chat' id='c3'><body>{url}</body>\
             <x xmlns='jabber:x:oob'><url>{url}</url></x></message>"
        ))
        .await?;
    let image = dave
        .wait_for(&dm, T, |ev| {
            ev["content"]["msgtype"] == "m.image" && sender(ev) == ghost.as_str()
        })
        .await?;
    assert_eq!(image["fb_encrypted"], true, "{image}");
    assert!(image["content"]["url"].is_null(), "{image}");
    assert_eq!(dave.media_bytes(&image).await?, b"\x89PNG dog");
    Ok(())
}

/// The `id` of the last `<message` in `seen` (what the bridge called the message).
fn stanza_id(seen: &str) -> String {
    let start = seen.rfind("<message").unwrap_or(0);
    let tag = &seen[start..];
    let end = tag.find('>').unwrap_or(tag.len());
    let tag = &tag[..end];
    for quote in ['\'', '"'] {
        if let Some(i) = tag.find(&format!(" id={quote}")) {
            let rest = &tag[i + 5..];
            return rest[..rest.find(quote).unwrap_or(rest.len())].to_owned();
        }
    }
    String::new()
}
