//! The XMPP bridge's bounds on attachment links (issue 14): a link to a private address is
//! not fetched by default; it is bridged as the link, so the message still arrives.

mod xmpp_common;

use std::sync::atomic::Ordering;

use anyhow::Result;
use ferrybridge_core::Bridge;
use ferrybridge_tests::xmpp::{Prosody, SECRET, T, XmppClient};
use ferrybridge_tests::{BridgeEnv, text_body};
use ferrybridge_xmpp::XmppBridge;
use xmpp_common::{env_fetching_locally, serve_counting};

/// `alice` sends `url` as an XEP-0066 attachment to Matrix user `bob`.
fn attachment(to: &str, id: &str, url: &str) -> String {
    format!(
        "<message to='{to}' type='chat' id='{id}'><body>{url}</body>\
         <x xmlns='jabber:x:oob'><url>{url}</url></x></message>"
    )
}

#[tokio::test]
async fn links_to_private_addresses_are_bridged_as_links_not_fetched() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET);
    // The defaults: `fetch_private_addresses: false`.
    let env = BridgeEnv::start(&yaml, None, XmppBridge::init).await?;
    assert!(!env.config.limits.fetch_private_addresses);
    let server = env.synapse.server_name().to_owned();
    let (url, hits) = serve_counting(b"\x89PNG not really", "image/png", "inside.png").await?;
    let mut alice = XmppClient::login(prosody.c2s, "alice", "alicepass").await?;
    let bob = env.user("bob").await?;
    let puppet = format!("bob_{server}@matrix.localhost");
    alice.send(&attachment(&puppet, "p1", &url)).await?;
    let dm = bob.wait_for_invite(T).await?;
    bob.join(dm.as_str()).await?;
    let link = bob
        .wait_for(&dm, T, |ev| text_body(ev) == Some(url.as_str()))
        .await?;
    assert_eq!(link["content"]["msgtype"], "m.text", "{link}");
    assert!(
        link["content"].get("url").is_none(),
        "nothing uploaded: {link}"
    );
    // Variants that name the same machine differently are refused too.
    let port = url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default();
    for (id, other) in [
        ("p2", format!("http://localhost:{port}/inside.png")),
        ("p3", format!("http://[::ffff:127.0.0.1]:{port}/inside.png")),
        ("p4", format!("http://2130706433:{port}/inside.png")),
    ] {
        alice.send(&attachment(&puppet, id, &other)).await?;
        bob.wait_for(&dm, T, |ev| text_body(ev) == Some(other.as_str()))
            .await?;
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the local server got no request"
    );
    Ok(())
}

#[tokio::test]
async fn an_operator_may_allow_private_addresses() -> Result<()> {
    let prosody = Prosody::start().await?;
    let yaml = prosody.network_yaml(SECRET);
    let env = env_fetching_locally(&yaml).await?;
    let server = env.synapse.server_name().to_owned();
    let (url, hits) = serve_counting(b"\x89PNG not really", "image/png", "inside.png").await?;
    let mut alice = XmppClient::login(prosody.c2s, "alice", "alicepass").await?;
    let bob = env.user("bob").await?;
    alice
        .send(&attachment(
            &format!("bob_{server}@matrix.localhost"),
            "a1",
            &url,
        ))
        .await?;
    let dm = bob.wait_for_invite(T).await?;
    bob.join(dm.as_str()).await?;
    let image = bob
        .wait_for(&dm, T, |ev| ev["content"]["msgtype"] == "m.image")
        .await?;
    assert!(
        image["content"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("mxc://")),
        "{image}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    Ok(())
}
