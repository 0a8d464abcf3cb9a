//! Attachments from XMPP (XEP-0066 links, usually HTTP File Upload URLs): fetched so they land
//! in the Matrix media repository, typed by their Content-Type. A fetch that fails, takes
//! longer than the configured timeout, or is refused by the bridge's bounds (the core's
//! [`url_fetch`]: http(s) only, no private addresses unless `limits.fetch_private_addresses`,
//! at most `limits.fetch_max_redirects` redirects, at most `limits.media_max_bytes`) keeps the
//! message as a link, with a log line, so nothing is lost.
//!
//! Order: a portal's events wait behind its attachment fetches (per-portal ordered queues), so
//! a text sent right after a picture does not overtake it; other portals and the stanza reader
//! are not held up. Portals with no fetch in progress send directly, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrybridge_core::BridgeHost;
use ferrybridge_core::events::{MessageKind, RemoteEvent, RemoteEventKind};
use ferrybridge_core::ids::PortalKey;
use ferrybridge_core::portal::queue::OrderedQueues;
use ferrybridge_core::tasks::Tasks;
use ferrybridge_core::url_fetch::{self, FetchPolicy};

/// The message kind for a MIME type.
pub fn kind_for(mime: Option<&str>) -> MessageKind {
    match mime.and_then(|m| m.split('/').next()) {
        Some("image") => MessageKind::Image,
        Some("video") => MessageKind::Video,
        Some("audio") => MessageKind::Audio,
        _ => MessageKind::File,
    }
}

/// Fetches `url` within `policy`: the bytes and their MIME type, or why not.
pub async fn fetch(
    url: &str,
    policy: &FetchPolicy,
) -> Result<(bytes::Bytes, Option<String>), String> {
    let fetched = url_fetch::fetch(url, policy)
        .await
        .map_err(|e| e.to_string())?;
    Ok((fetched.data, fetched.mime))
}

/// Sends remote events, fetching linked attachments first, in order per portal.
#[derive(Clone)]
pub struct Attachments {
    timeout: Duration,
    queues: OrderedQueues<PortalKey>,
    /// Jobs queued per portal; while a portal has any, its other events queue behind them.
    busy: Arc<Mutex<HashMap<PortalKey, usize>>>,
}

/// Counts a queued job down when it ends (even by panicking).
struct Done {
    busy: Arc<Mutex<HashMap<PortalKey, usize>>>,
    portal: PortalKey,
}

impl Drop for Done {
    fn drop(&mut self) {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = busy.get_mut(&self.portal) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.portal);
            }
        }
    }
}

impl Attachments {
    /// Fetches give up after `timeout` (the message then carries the link); the queues'
    /// workers run in `tasks`, so shutdown stops them.
    pub fn new(timeout: Duration, tasks: Tasks) -> Self {
        Self {
            timeout,
            queues: OrderedQueues::new(Duration::from_secs(60), tasks),
            busy: Arc::default(),
        }
    }

    /// Sends `event`, fetching its attachment first when it links one. Returns once the
    /// event is queued (here or in the core), never after a download.
    pub async fn send(&self, host: &BridgeHost, mut event: RemoteEvent) {
        let link = match &event.kind {
            RemoteEventKind::Message { content, .. } => content
                .media
                .as_ref()
                .filter(|m| m.data.is_none() && m.mxc.is_none())
                .and_then(|m| m.url.clone()),
            _ => None,
        };
        let portal = event.portal.clone();
        if !self.must_queue(&portal, link.is_some()) {
            host.send(event).await;
            return;
        }
        let done = Done {
            busy: self.busy.clone(),
            portal: portal.clone(),
        };
        let (host, timeout) = (host.clone(), self.timeout);
        let policy = FetchPolicy::from_limits(host.limits(), timeout);
        self.queues.push(portal, async move {
            let _done = done;
            if let Some(url) = link {
                let fetched = tokio::time::timeout(timeout, fetch(&url, &policy))
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")));
                attach(&mut event, &url, fetched);
            }
            host.send(event).await;
        });
    }
}

impl Attachments {
    /// Whether an event must wait in the portal's queue (it links an attachment, or earlier
    /// ones are still fetched); if so, counts it as queued.
    fn must_queue(&self, portal: &PortalKey, links: bool) -> bool {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if !links && !busy.contains_key(portal) {
            return false;
        }
        *busy.entry(portal.clone()).or_default() += 1;
        true
    }
}

/// Puts fetched bytes into `event`'s media; a failure leaves the link (logged).
fn attach(
    event: &mut RemoteEvent,
    url: &str,
    fetched: Result<(bytes::Bytes, Option<String>), String>,
) {
    match fetched {
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
