//! The socket: connecting, reading bounded lines, and a flood-paced writer task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::client_cert::ClientCert;
use crate::config::ServerConfig;
use crate::flood::FloodControl;
use crate::line::MAX_LINE_BYTES;

/// Our keepalive ping (sent when the server has been quiet).
pub const KEEPALIVE: &str = "PING :ferrybridge-keepalive";

/// A boxed reader so plain TCP and TLS look alike.
pub type Reader = BufReader<Box<dyn AsyncRead + Send + Unpin>>;

/// The read buffer of each connection. Most IRC lines are far shorter (a longer one is read in
/// several fills, see [`read_line`]); tokio's default of 8 KiB, kept by every idle puppet, was
/// a large part of a puppet connection's memory.
const READ_BUFFER: usize = 1024;

/// A connection's buffered reader ([`READ_BUFFER`] bytes).
pub fn reader(r: impl AsyncRead + Send + Unpin + 'static) -> Reader {
    BufReader::with_capacity(READ_BUFFER, Box::new(r))
}

/// A boxed writer so plain TCP and TLS look alike.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Opens the connection to the server. `on_connected` learns our end and the server's end of
/// the socket before TLS and registration start, because a server looks up the ident as soon as
/// it accepts; `client_cert` is presented when the server is TLS (CertFP).
pub async fn connect(
    server: &ServerConfig,
    client_cert: Option<&ClientCert>,
    on_connected: impl FnOnce(SocketAddr, SocketAddr) + Send,
) -> std::io::Result<(Reader, Writer)> {
    let stream = tokio::net::TcpStream::connect((server.address.as_str(), server.port())).await?;
    let _ = stream.set_nodelay(true);
    on_connected(stream.local_addr()?, stream.peer_addr()?);
    if server.tls {
        let ca_file = server.tls_ca_file.as_deref();
        return tls(stream, &server.address, ca_file, client_cert).await;
    }
    let (r, w) = stream.into_split();
    Ok((reader(r), Box::new(w)))
}

/// The certificates in a PEM file (at least one), for `tls_ca_file`.
pub fn load_ca_file(
    path: &str,
) -> std::io::Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    if certs.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no PEM certificate in the file",
        ));
    }
    Ok(certs)
}

async fn tls(
    stream: tokio::net::TcpStream,
    host: &str,
    ca_file: Option<&str>,
    client_cert: Option<&ClientCert>,
) -> std::io::Result<(Reader, Writer)> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in load_ca_file(path)? {
            roots
                .add(cert)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots);
    let config = match client_cert {
        Some(c) => config
            .with_client_auth_cert(vec![c.cert.clone()], c.key.clone_key())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
        None => config.with_no_client_auth(),
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await?;
    let (r, w) = tokio::io::split(tls);
    Ok((reader(r), Box::new(w)))
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
/// the socket fails. Lines already queued go out in one write (a busy chat costs one syscall
/// per batch, not per line) as long as the flood control has tokens for them.
pub async fn writer_task(
    mut writer: Writer,
    mut lines: mpsc::UnboundedReceiver<String>,
    flood: Arc<FloodControl>,
    written: Arc<AtomicU64>,
) {
    /// Flush once a batch is this big.
    const BATCH_BYTES: usize = 16 * 1024;
    // Allocated at the first write, not by every idle connection up front.
    let mut buf: Vec<u8> = Vec::new();
    let mut count = 0u64;
    while let Some(first) = lines.recv().await {
        let mut next = Some(first);
        while let Some(line) = next.take() {
            // Answers to pings, our keepalive and QUIT must not wait behind a backlog (a
            // paced paste would otherwise look like a ping timeout); everything else is paced.
            let urgent = line.starts_with("PONG ") || line.starts_with("QUIT") || line == KEEPALIVE;
            if !urgent && flood.try_acquire().is_err() {
                // Out of tokens: send what we have before waiting for the next one.
                if !flush(&mut writer, &mut buf, &mut count, &written).await {
                    return;
                }
                flood.acquire().await;
            }
            buf.extend(line.bytes().filter(|b| !matches!(b, b'\r' | b'\n' | b'\0')));
            buf.extend_from_slice(b"\r\n");
            count += 1;
            if buf.len() < BATCH_BYTES {
                next = lines.try_recv().ok();
            }
        }
        if !flush(&mut writer, &mut buf, &mut count, &written).await {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

/// Writes the batch; `false` if the socket failed.
async fn flush(
    writer: &mut Writer,
    buf: &mut Vec<u8>,
    count: &mut u64,
    written: &AtomicU64,
) -> bool {
    if buf.is_empty() {
        return true;
    }
    if let Err(e) = writer.write_all(buf).await {
        tracing::debug!(error = %e, "IRC write failed");
        return false;
    }
    written.fetch_add(*count, Ordering::Relaxed);
    buf.clear();
    *count = 0;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn batches_queued_lines_strips_breaks_and_counts_them() {
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let (tx, rx) = mpsc::unbounded_channel();
        for line in ["PRIVMSG #a :one", "PRIVMSG #a :two\r\nQUIT", "PING :x"] {
            tx.send(line.to_owned()).unwrap();
        }
        drop(tx);
        let written = Arc::new(AtomicU64::new(0));
        let flood = Arc::new(FloodControl::new(100, 100.0));
        writer_task(Box::new(ours), rx, flood, written.clone()).await;
        let mut out = String::new();
        theirs.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "PRIVMSG #a :one\r\nPRIVMSG #a :twoQUIT\r\nPING :x\r\n");
        assert_eq!(written.load(Ordering::Relaxed), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn paced_lines_wait_for_tokens_but_pongs_do_not() {
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let (tx, rx) = mpsc::unbounded_channel();
        let written = Arc::new(AtomicU64::new(0));
        let flood = Arc::new(FloodControl::new(1, 1.0));
        let task = tokio::spawn(writer_task(Box::new(ours), rx, flood, written.clone()));
        tx.send("PRIVMSG #a :one".into()).unwrap();
        tx.send("PRIVMSG #a :two".into()).unwrap();
        tx.send("PONG :urgent".into()).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The first line went at once; the second waits for its token.
        assert_eq!(written.load(Ordering::Relaxed), 1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(written.load(Ordering::Relaxed), 3);
        drop(tx);
        task.await.unwrap();
        let mut out = String::new();
        theirs.read_to_string(&mut out).await.unwrap();
        assert!(
            out.starts_with("PRIVMSG #a :one\r\nPRIVMSG #a :two\r\n"),
            "{out}"
        );
    }
}
