//! Shared pieces of the XMPP bridge's end-to-end suites: the network section without its
//! indent, an MUC join for a raw XMPP user, and a one-shot HTTP server standing in for an XMPP
//! server's HTTP upload.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use ferrybridge_core::Bridge;
use ferrybridge_tests::BridgeEnv;
use ferrybridge_tests::xmpp::{Prosody, XmppClient};
use ferrybridge_xmpp::XmppBridge;
use serde_json::Value;

/// The sender of a Matrix event.
pub fn sender(ev: &Value) -> &str {
    ev["sender"].as_str().unwrap_or_default()
}

/// The network section without its two-space indent.
pub fn dedent(yaml: &str) -> String {
    yaml.lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bridge for `yaml`, allowed to fetch attachments from private addresses: the test
/// servers standing in for HTTP upload listen on 127.0.0.1, which the default refuses.
pub async fn env_fetching_locally(yaml: &str) -> Result<BridgeEnv<XmppBridge>> {
    BridgeEnv::start_tuned(
        yaml,
        None,
        |config| config.limits.fetch_private_addresses = true,
        XmppBridge::init,
    )
    .await
}

/// `user` joins `room` (a bare MUC JID) as `nick` without history and waits for their own
/// presence.
pub async fn join_muc(c: &mut XmppClient, room: &str, nick: &str) -> Result<String> {
    c.send(&format!(
        "<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>"
    ))
    .await?;
    c.wait_for("status code='110'").await
}

/// Alice logs in and joins `lobby`.
pub async fn alice_in_lobby(prosody: &Prosody) -> Result<XmppClient> {
    let mut alice = XmppClient::login(prosody.c2s, "alice", "alicepass").await?;
    join_muc(&mut alice, "lobby@conference.localhost", "alice").await?;
    Ok(alice)
}

/// Serves `body` once over HTTP on a free port, answering after `delay`; returns its URL
/// (ending in `name`).
pub async fn serve_once_after(
    body: &'static [u8],
    mime: &'static str,
    name: &str,
    delay: Duration,
) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        if let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            tokio::time::sleep(delay).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body).await;
        }
    });
    Ok(format!("http://127.0.0.1:{port}/{name}"))
}

/// Serves `body` once over HTTP, at once.
pub async fn serve_once(body: &'static [u8], mime: &'static str) -> Result<String> {
    serve_once_after(body, mime, "cat.png", Duration::ZERO).await
}

/// Serves `body` over HTTP on 127.0.0.1 for as long as the test runs, counting the
/// connections it gets; returns its URL (ending in `name`) and the count.
pub async fn serve_counting(
    body: &'static [u8],
    mime: &'static str,
    name: &str,
) -> Result<(String, Arc<std::sync::atomic::AtomicUsize>)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {mime}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body).await;
        }
    });
    Ok((format!("http://127.0.0.1:{port}/{name}"), hits))
}
