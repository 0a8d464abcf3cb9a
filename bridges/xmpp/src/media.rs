//! Attachments from XMPP (XEP-0066 links, usually HTTP File Upload URLs): fetched so they land
//! in the Matrix media repository, typed by their Content-Type. A fetch that fails keeps the
//! message as a link, so nothing is lost. Fetches run beside the stanza reader: a slow server
//! delays only its own message.

use std::time::Duration;

use ferrybridge_core::BridgeHost;
use ferrybridge_core::events::{MessageKind, RemoteEvent, RemoteEventKind};

/// Largest attachment fetched (larger ones stay links).
pub const MAX_BYTES: u64 = 50 * 1024 * 1024;

/// An HTTP client for attachments.
pub fn client() -> reqwest::Client {
    // reqwest is built without a default TLS provider; the binaries install ring first, and
    // so does this (a no-op when one is installed), so building a client never panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// The message kind for a MIME type.
pub fn kind_for(mime: Option<&str>) -> MessageKind {
    match mime.and_then(|m| m.split('/').next()) {
        Some("image") => MessageKind::Image,
        Some("video") => MessageKind::Video,
        Some("audio") => MessageKind::Audio,
        _ => MessageKind::File,
    }
}

/// Fetches `url`: the bytes and their MIME type, or why not.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
) -> Result<(bytes::Bytes, Option<String>), String> {
    let resp = client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.to_string())?;
    if resp.content_length().is_some_and(|n| n > MAX_BYTES) {
        return Err("too large".into());
    }
    let mime = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
    let data = resp.bytes().await.map_err(|e| e.to_string())?;
    if data.len() as u64 > MAX_BYTES {
        return Err("too large".into());
    }
    Ok((data, mime))
}

/// Sends `event`, fetching its attachment first when it links one.
pub async fn send_with_media(host: &BridgeHost, client: &reqwest::Client, mut event: RemoteEvent) {
    let link = match &event.kind {
        RemoteEventKind::Message { content, .. } => content
            .media
            .as_ref()
            .filter(|m| m.data.is_none() && m.mxc.is_none())
            .and_then(|m| m.url.clone()),
        _ => None,
    };
    let Some(url) = link else {
        host.send(event).await;
        return;
    };
    let (host, client) = (host.clone(), client.clone());
    tokio::spawn(async move {
        match fetch(&client, &url).await {
            Ok((data, mime)) => {
                if let RemoteEventKind::Message { content, .. } = &mut event.kind
                    && let Some(media) = content.media.as_mut()
                {
                    content.kind = kind_for(mime.as_deref());
                    media.size = Some(data.len() as u64);
                    media.data = Some(data);
                    media.mimetype = mime;
                }
            }
            Err(e) => tracing::info!(%url, error = %e, "attachment not fetched; bridging the link"),
        }
        host.send(event).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind_for(Some("image/png")), MessageKind::Image);
        assert_eq!(kind_for(Some("audio/ogg")), MessageKind::Audio);
        assert_eq!(kind_for(Some("application/pdf")), MessageKind::File);
        assert_eq!(kind_for(None), MessageKind::File);
    }
}
