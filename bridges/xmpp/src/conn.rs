//! The XEP-0114 component connection: connect and authenticate, pump stanzas both ways, ping
//! so that an idle stream is not dropped, and reconnect with jittered exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use ferrybridge_core::seam::ConnectionState;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{Mutex, watch};
use tokio_xmpp::Stanza;
use tokio_xmpp::connect::{DnsConfig, ServerConnector, TcpServerConnector};
use tokio_xmpp::xmlstream::{
    FallibleStreamElement, ReadError, StreamElementError, Timeouts, XmppStream, XmppStreamElement,
};
use xmpp_parsers::component::Handshake;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::ns;
use xmpp_parsers::stream_error::{DefinedCondition as StreamCondition, StreamError};

use crate::outbox::{Outbox, OutboxReceiver};

/// Why the component could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server refused the secret.
    #[error(
        "the XMPP server at {server} refused the component handshake for {jid}: \
         network.component.secret does not match the server's component secret"
    )]
    Refused { jid: String, server: String },
    /// Another connection already holds the component.
    #[error(
        "the XMPP server at {server} refused {jid}: another process is already connected as \
         this component (stop it, or give this bridge its own component domain)"
    )]
    Taken { jid: String, server: String },
    /// The server closed the stream during the handshake: usually another process is already
    /// connected as this component, or the domain is not configured as a component.
    #[error(
        "the XMPP server at {server} closed the stream during the handshake for {jid}: another \
         process may already be connected as this component, or {jid} is not configured as a \
         component on the server ({detail})"
    )]
    Closed {
        jid: String,
        server: String,
        detail: String,
    },
    /// The server could not be reached (retried in the background).
    #[error("cannot reach the XMPP server at {server}: {detail}")]
    Unreachable { server: String, detail: String },
}

impl ConnectError {
    /// Whether retrying cannot help without an admin changing something.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ConnectError::Unreachable { .. })
    }

    /// The connection state this failure leaves the component in: a refused secret is bad
    /// credentials, an unreachable server a passing disconnect, anything else needs the admin.
    pub fn state(&self) -> ConnectionState {
        let reason = self.to_string();
        match self {
            ConnectError::Refused { .. } => ConnectionState::BadCredentials { reason },
            ConnectError::Unreachable { .. } => ConnectionState::TransientDisconnect { reason },
            ConnectError::Taken { .. } | ConnectError::Closed { .. } => {
                ConnectionState::UnknownError { reason }
            }
        }
    }
}

/// A connected, authenticated component stream. We drive tokio-xmpp's XML stream ourselves
/// (rather than its `Component`) so that one stanza the parser refuses, or a quiet minute,
/// does not end the whole stream.
pub type Stream = XmppStream<<TcpServerConnector as ServerConnector>::Stream>;

/// Connects and authenticates once (XEP-0114 handshake).
pub async fn connect(
    jid: &str,
    secret: &str,
    server: &str,
    keepalive: Duration,
) -> Result<Stream, ConnectError> {
    let timeouts = Timeouts {
        // Pings every `keepalive` keep this from firing on a healthy stream.
        read_timeout: keepalive * 3,
        response_timeout: Duration::from_secs(30),
    };
    let attempt = handshake(jid, secret, server, timeouts);
    match tokio::time::timeout(Duration::from_secs(30), attempt).await {
        Ok(result) => result,
        Err(_) => Err(ConnectError::Unreachable {
            server: server.into(),
            detail: "no handshake answer within 30 s".into(),
        }),
    }
}

async fn handshake(
    jid: &str,
    secret: &str,
    server: &str,
    timeouts: Timeouts,
) -> Result<Stream, ConnectError> {
    let closed = |detail: String| ConnectError::Closed {
        jid: jid.to_owned(),
        server: server.to_owned(),
        detail,
    };
    let domain = Jid::new(jid).map_err(|e| closed(format!("bad component JID: {e}")))?;
    let connector = TcpServerConnector::from(DnsConfig::addr(server));
    let (mut pending, _) = connector
        .connect(&domain, ns::COMPONENT, timeouts)
        .await
        .map_err(|e| classify(e, jid, server))?;
    let header = pending.take_header();
    let mut stream: Stream = pending.skip_features();
    let Some(stream_id) = header.id else {
        return Err(closed("the server sent no stream id".into()));
    };
    let hs = Handshake::from_stream_id_and_password(stream_id.into_owned(), secret);
    stream
        .send(&XmppStreamElement::ComponentHandshake(hs))
        .await
        .map_err(|e| closed(e.to_string()))?;
    loop {
        match stream.next().await {
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::ComponentHandshake(_)))) => {
                return Ok(stream);
            }
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
                return Err(stream_error(&e.0, jid, server));
            }
            Some(Err(ReadError::SoftTimeout)) => {}
            Some(Ok(other)) => return Err(closed(format!("unexpected answer: {other:?}"))),
            Some(Err(e)) => return Err(closed(e.to_string())),
            None => return Err(closed("connection closed".into())),
        }
    }
}

fn classify(e: tokio_xmpp::Error, jid: &str, server: &str) -> ConnectError {
    use tokio_xmpp::Error as E;
    let (jid, server) = (jid.to_owned(), server.to_owned());
    match e {
        E::Io(io) => ConnectError::Unreachable {
            server,
            detail: io.to_string(),
        },
        E::Connection(c) => ConnectError::Unreachable {
            server,
            detail: c.to_string(),
        },
        other => ConnectError::Closed {
            jid,
            server,
            detail: other.to_string(),
        },
    }
}

/// What a stream error during the handshake means for the admin.
fn stream_error(e: &StreamError, jid: &str, server: &str) -> ConnectError {
    let (jid, server) = (jid.to_owned(), server.to_owned());
    match e.condition {
        StreamCondition::NotAuthorized => ConnectError::Refused { jid, server },
        StreamCondition::Conflict => ConnectError::Taken { jid, server },
        _ => ConnectError::Closed {
            jid,
            server,
            detail: e.to_string(),
        },
    }
}

/// Jittered exponential backoff: 1 s doubling to 60 s, each delay ±25 %.
#[derive(Debug)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub fn new() -> Self {
        Self { attempt: 0 }
    }
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = 1000u64.saturating_mul(1 << self.attempt.min(6)).min(60_000);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = rand::rng().random_range(0.75..1.25);
        Duration::from_millis((base as f64 * jitter) as u64)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// What the connection calls back into.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// A stanza arrived.
    async fn stanza(&self, stanza: Stanza);
    /// A stanza arrived that could not be parsed (answer it with an error if it asks for one).
    async fn invalid(&self, error: StreamElementError);
    /// The stream is (again) up: restore MUC presences.
    async fn connected(&self);
    /// The component connection changed state (connecting, up, lost, refused).
    async fn state(&self, state: ConnectionState);
}

/// Connection parameters.
#[derive(Clone, Debug)]
pub struct Params {
    pub jid: String,
    pub secret: String,
    pub server: String,
    pub keepalive: Duration,
    /// Where keepalive pings go (the server's domain).
    pub ping_to: Jid,
}

/// How long closing the stream at shutdown may take (flush, `</stream:stream>`, the server's
/// own footer).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a session ended.
enum Ended {
    /// `stop` flipped; the stream was closed cleanly.
    Stopped,
    /// The stream was lost; why, for the connection state.
    Lost(String),
}

/// Runs sessions until `stop` flips, starting with an already connected `first` stream.
/// Reports each change of the connection state to `handler`.
pub async fn run(
    params: Params,
    first: Option<Stream>,
    outbox: Outbox,
    rx: Arc<Mutex<OutboxReceiver>>,
    handler: Arc<dyn Handler>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new();
    let mut next = first;
    loop {
        if *stop.borrow() {
            return;
        }
        let stream = match next.take() {
            Some(s) => Some(s),
            None => {
                handler.state(ConnectionState::Connecting).await;
                let attempt = connect(
                    &params.jid,
                    &params.secret,
                    &params.server,
                    params.keepalive,
                );
                let result = tokio::select! {
                    r = attempt => r,
                    _ = stop.changed() => return,
                };
                match result {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "XMPP component connection failed");
                        handler.state(e.state()).await;
                        None
                    }
                }
            }
        };
        if let Some(stream) = stream {
            backoff.reset();
            tracing::info!(jid = %params.jid, server = %params.server, "XMPP component connected");
            outbox.set_connected(true);
            handler.state(ConnectionState::Connected).await;
            handler.connected().await;
            let mut rx = rx.lock().await;
            let ended = session(stream, &params, &mut rx, handler.as_ref(), &mut stop).await;
            outbox.set_connected(false);
            match ended {
                Ended::Stopped => return,
                Ended::Lost(reason) => {
                    tracing::warn!(%reason, "XMPP component stream ended; reconnecting");
                    handler
                        .state(ConnectionState::TransientDisconnect { reason })
                        .await;
                }
            }
            if *stop.borrow() {
                return;
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn session(
    stream: Stream,
    params: &Params,
    rx: &mut OutboxReceiver,
    handler: &dyn Handler,
    stop: &mut watch::Receiver<bool>,
) -> Ended {
    let mut stream = stream;
    let mut ping = tokio::time::interval(params.keepalive);
    ping.tick().await;
    let from = Jid::new(&params.jid).ok();
    let mut n = 0u64;
    loop {
        if *stop.borrow() {
            close(&mut stream, rx).await;
            return Ended::Stopped;
        }
        tokio::select! {
            item = stream.next() => match item {
                Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(stanza)))) => {
                    handler.stanza(stanza).await
                }
                Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
                    tracing::warn!(error = %e.0, "the XMPP server closed the component stream");
                    return Ended::Lost(format!("the server closed the stream: {}", e.0));
                }
                Some(Ok(FallibleStreamElement::Ok(other))) => {
                    tracing::debug!(?other, "ignoring a non-stanza element");
                }
                Some(Ok(FallibleStreamElement::Err(error))) => {
                    tracing::warn!(%error, "dropping a stanza that does not parse");
                    handler.invalid(error).await;
                }
                // A quiet stream: the keepalive ping below makes the server answer.
                Some(Err(ReadError::SoftTimeout)) => {}
                Some(Err(ReadError::ParseError(error))) => {
                    tracing::warn!(%error, "dropping an element that does not parse");
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "XMPP component stream failed");
                    return Ended::Lost(error.to_string());
                }
                None => return Ended::Lost("the server closed the connection".into()),
            },
            out = rx.recv() => match out {
                Some(stanza) => {
                    if let Err(e) = send_batch(&mut stream, stanza, rx).await {
                        tracing::warn!(error = %e, "could not send to the XMPP server");
                        return Ended::Lost(format!("cannot send: {e}"));
                    }
                }
                // Every sender is gone: the bridge itself was dropped.
                None => {
                    close(&mut stream, rx).await;
                    return Ended::Stopped;
                }
            },
            _ = ping.tick() => {
                n += 1;
                let mut iq = Iq::from_get(format!("fb-ping-{n}"), xmpp_parsers::ping::Ping)
                    .with_to(params.ping_to.clone());
                if let Some(from) = &from {
                    iq = iq.with_from(from.clone());
                }
                let el = XmppStreamElement::Stanza(Stanza::Iq(iq));
                if let Err(e) = stream.send(&el).await {
                    tracing::warn!(error = %e, "keepalive ping failed");
                    return Ended::Lost(format!("keepalive ping failed: {e}"));
                }
            }
            changed = stop.changed() => {
                // The sender is gone with the bridge: close as on a stop.
                if changed.is_err() {
                    close(&mut stream, rx).await;
                    return Ended::Stopped;
                }
            }
        }
    }
}

/// Shutdown: writes what is still queued (leave presences, last messages), sends
/// `</stream:stream>`, and waits for the server's footer, all within [`CLOSE_TIMEOUT`].
async fn close(stream: &mut Stream, rx: &mut OutboxReceiver) {
    let closing = async {
        while let Some(stanza) = rx.try_recv() {
            send_batch(stream, stanza, rx).await?;
        }
        stream.shutdown().await?;
        // The server answers with its own footer; anything before it is of no use now.
        while let Some(item) = stream.next().await {
            match item {
                Ok(_) | Err(ReadError::SoftTimeout) => {}
                // The footer, or the connection is gone: either way we are done.
                Err(_) => break,
            }
        }
        Ok::<(), std::io::Error>(())
    };
    match tokio::time::timeout(CLOSE_TIMEOUT, closing).await {
        Ok(Ok(())) => tracing::info!("XMPP component stream closed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "could not close the XMPP component stream"),
        Err(_) => tracing::warn!("the XMPP server did not acknowledge the stream close in time"),
    }
}

/// Most stanzas written before one flush.
const BATCH: usize = 256;

/// Writes `first` and whatever else is already queued (up to [`BATCH`]), then flushes once: a
/// burst costs one write to the socket instead of one per stanza.
async fn send_batch(
    stream: &mut Stream,
    first: Stanza,
    rx: &mut OutboxReceiver,
) -> Result<(), std::io::Error> {
    stream.feed(&XmppStreamElement::Stanza(first)).await?;
    for _ in 1..BATCH {
        let Some(stanza) = rx.try_recv() else { break };
        stream.feed(&XmppStreamElement::Stanza(stanza)).await?;
    }
    SinkExt::<&XmppStreamElement>::flush(stream).await
}

/// Where pings go: the parent domain of the component (`matrix.example.com` → `example.com`).
pub fn ping_target(component: &str) -> Option<Jid> {
    let parent = component
        .split_once('.')
        .map(|(_, p)| p)
        .filter(|p| p.contains('.') || *p == "localhost");
    Jid::new(parent.unwrap_or(component)).ok()
}

/// `true` for IDs of our own keepalive pings.
pub fn is_ping_id(id: &str) -> bool {
    id.starts_with("fb-ping-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new();
        let first = b.next_delay();
        assert!((750..=1250).contains(&(first.as_millis() as u64)));
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(d <= Duration::from_millis(75_000));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(1250));
    }

    #[test]
    fn connect_errors_map_to_connection_states() {
        let (jid, server) = ("matrix.localhost".to_owned(), "127.0.0.1:5347".to_owned());
        let refused = ConnectError::Refused {
            jid: jid.clone(),
            server: server.clone(),
        };
        assert!(matches!(
            refused.state(),
            ConnectionState::BadCredentials { reason } if reason.contains("secret")
        ));
        let unreachable = ConnectError::Unreachable {
            server: server.clone(),
            detail: "connection refused".into(),
        };
        assert!(matches!(
            unreachable.state(),
            ConnectionState::TransientDisconnect { .. }
        ));
        let taken = ConnectError::Taken { jid, server };
        assert!(matches!(
            taken.state(),
            ConnectionState::UnknownError { .. }
        ));
    }

    #[test]
    fn ping_targets() {
        assert_eq!(
            ping_target("matrix.localhost").unwrap().as_str(),
            "localhost"
        );
        assert_eq!(
            ping_target("matrix.xmpp.example.com").unwrap().as_str(),
            "xmpp.example.com"
        );
        assert_eq!(ping_target("example.com").unwrap().as_str(), "example.com");
    }
}
