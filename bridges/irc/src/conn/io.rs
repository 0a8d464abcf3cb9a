//! The socket: connecting, reading bounded lines, and a flood-paced writer task.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::config::ServerConfig;
use crate::flood::FloodControl;
use crate::line::MAX_LINE_BYTES;

/// Our keepalive ping (sent when the server has been quiet).
pub const KEEPALIVE: &str = "PING :ferrybridge-keepalive";

/// A boxed reader so plain TCP and TLS look alike.
pub type Reader = BufReader<Box<dyn AsyncRead + Send + Unpin>>;
/// A boxed writer so plain TCP and TLS look alike.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Opens the connection to the server.
pub async fn connect(server: &ServerConfig) -> std::io::Result<(Reader, Writer)> {
    let stream = tokio::net::TcpStream::connect((server.address.as_str(), server.port())).await?;
    let _ = stream.set_nodelay(true);
    if server.tls {
        return tls(stream, &server.address).await;
    }
    let (r, w) = stream.into_split();
    Ok((BufReader::new(Box::new(r)), Box::new(w)))
}

async fn tls(stream: tokio::net::TcpStream, host: &str) -> std::io::Result<(Reader, Writer)> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await?;
    let (r, w) = tokio::io::split(tls);
    Ok((BufReader::new(Box::new(r)), Box::new(w)))
}

/// Reads one line (without CRLF); `Ok(None)` at EOF. Lines over the limit are read to their end
/// and returned truncated, so a hostile server cannot grow our buffer without bound.
pub async fn read_line(reader: &mut Reader, buf: &mut Vec<u8>) -> std::io::Result<Option<()>> {
    buf.clear();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() { None } else { Some(()) });
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = (MAX_LINE_BYTES + 2).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        reader.consume(used);
        if done {
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            return Ok(Some(()));
        }
    }
}

/// Writes queued lines, pacing them through the flood control; ends when the queue closes or
/// the socket fails.
pub async fn writer_task(
    mut writer: Writer,
    mut lines: mpsc::UnboundedReceiver<String>,
    flood: Arc<FloodControl>,
    written: Arc<AtomicU64>,
) {
    while let Some(line) = lines.recv().await {
        // Answers to pings, our keepalive and QUIT must not wait behind a backlog (a paced
        // paste would otherwise look like a ping timeout); everything else is paced.
        let urgent = line.starts_with("PONG ") || line.starts_with("QUIT") || line == KEEPALIVE;
        if !urgent {
            flood.acquire().await;
        }
        let clean: String = line
            .chars()
            .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
            .collect();
        let mut bytes = clean.into_bytes();
        bytes.extend_from_slice(b"\r\n");
        if let Err(e) = writer.write_all(&bytes).await {
            tracing::debug!(error = %e, "IRC write failed");
            return;
        }
        written.fetch_add(1, Ordering::Relaxed);
    }
    let _ = writer.shutdown().await;
}
