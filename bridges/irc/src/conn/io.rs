//! The socket: connecting (plain or TLS, with the client certificate) and reading bounded
//! lines; the writing side is the session's [`super::outbox`].

use std::net::SocketAddr;
use std::sync::Arc;

use std::future::Future;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use crate::client_cert::ClientCert;
use crate::config::ServerConfig;
use crate::line::MAX_LINE_BYTES;

/// Our keepalive ping (sent when the server has been quiet).
pub const KEEPALIVE: &str = "PING :ferrybridge-keepalive";

/// The read side of a socket (plain TCP and TLS look alike), handing out one line at a time.
///
/// Its buffer exists only while bytes wait in it: an idle connection (most puppets, most of
/// the time) keeps none, and a line that is whole in the buffer is handed out from there, not
/// copied. All state lives here, so [`Reader::next_line`] is cancel-safe: a `select!` that drops
/// it half-way through a long line (one that spans reads) loses nothing.
pub struct Reader {
    inner: Box<dyn AsyncRead + Send + Unpin>,
    /// Bytes read: `buf[start..]` are not handed out yet.
    buf: Vec<u8>,
    start: usize,
    /// The line handed out last, as a range of `buf`.
    line: std::ops::Range<usize>,
    /// The rest of an overlong line is being skipped up to its end.
    skipping: bool,
}

/// How much a read asks for. Most IRC lines are far shorter (a longer one is read in several
/// reads); tokio's default buffer of 8 KiB, kept by every idle puppet, was once a large part of
/// a puppet connection's memory.
const READ_CHUNK: usize = 1024;

/// The longest line handed out: longer ones are truncated (the rest read and dropped), so a
/// hostile server cannot grow our buffer without bound.
const LINE_LIMIT: usize = MAX_LINE_BYTES + 2;

/// A connection's reader.
pub fn reader(r: impl AsyncRead + Send + Unpin + 'static) -> Reader {
    Reader {
        inner: Box::new(r),
        buf: Vec::new(),
        start: 0,
        line: 0..0,
        skipping: false,
    }
}

impl Reader {
    /// Reads the next line (without CRLF, see [`Reader::line`]); `Ok(false)` at EOF (a last
    /// line without a newline is handed out first). Cancel-safe.
    pub async fn next_line(&mut self) -> std::io::Result<bool> {
        loop {
            let pending = &self.buf[self.start..];
            let newline = pending.iter().position(|&b| b == b'\n');
            if self.skipping {
                match newline {
                    Some(i) => {
                        self.start += i + 1;
                        self.skipping = false;
                        continue;
                    }
                    None => self.start = self.buf.len(),
                }
            } else if let Some(i) = newline {
                self.hand_out(i, i + 1);
                return Ok(true);
            } else if pending.len() >= LINE_LIMIT {
                self.hand_out(LINE_LIMIT, LINE_LIMIT);
                self.skipping = true;
                return Ok(true);
            }
            if self.read_more().await? == 0 {
                let rest = self.buf.len() - self.start;
                if rest == 0 || self.skipping {
                    self.skipping = false;
                    return Ok(false);
                }
                self.hand_out(rest, rest);
                return Ok(true);
            }
        }
    }

    /// The line the last [`Reader::next_line`] returned.
    pub fn line(&self) -> &[u8] {
        &self.buf[self.line.clone()]
    }

    /// Hands out `len` bytes from `start` (CR and LF at its end cut off) and moves past `used`.
    fn hand_out(&mut self, len: usize, used: usize) {
        let mut end = self.start + len;
        while end > self.start && matches!(self.buf[end - 1], b'\r' | b'\n') {
            end -= 1;
        }
        self.line = self.start..end;
        self.start += used;
    }

    /// Reads once into the buffer (made for the read, given back when the read finds nothing
    /// and nothing is kept); the number of bytes read, 0 at EOF.
    async fn read_more(&mut self) -> std::io::Result<usize> {
        // What was handed out is dropped before reading more.
        self.buf.drain(..self.start);
        self.start = 0;
        self.line = 0..0;
        std::future::poll_fn(|cx| {
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            let read = {
                let fut = self.inner.read_buf(&mut self.buf);
                let mut fut = std::pin::pin!(fut);
                fut.as_mut().poll(cx)
            };
            if read.is_pending() && self.buf.is_empty() {
                self.buf = Vec::new();
            }
            read
        })
        .await
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn lines_without_crlf_and_a_last_line_without_newline() {
        let mut r = reader(&b"PING :a\r\nNOTICE x :b\nlast"[..]);
        let mut got = Vec::new();
        while r.next_line().await.unwrap() {
            got.push(String::from_utf8(r.line().to_vec()).unwrap());
        }
        assert_eq!(got, ["PING :a", "NOTICE x :b", "last"]);
    }

    #[tokio::test]
    async fn an_overlong_line_is_truncated_and_the_next_one_read_whole() {
        let mut input = vec![b'x'; MAX_LINE_BYTES * 3];
        input.extend_from_slice(b"\r\nPING :after\r\n");
        let mut r = reader(std::io::Cursor::new(input));
        assert!(r.next_line().await.unwrap());
        assert_eq!(r.line().len(), MAX_LINE_BYTES + 2);
        assert!(r.next_line().await.unwrap());
        assert_eq!(r.line(), b"PING :after");
    }

    /// A `select!` that drops the read while a long line has only partly arrived must not
    /// lose the part already consumed from the buffer.
    #[tokio::test]
    async fn a_read_cancelled_mid_line_loses_nothing() {
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let mut r = reader(ours);
        let long = "y".repeat(3 * READ_CHUNK);
        theirs.write_all(long.as_bytes()).await.unwrap();
        // The read takes the first fills and then waits for the rest: cancel it there.
        let cancelled = tokio::time::timeout(Duration::from_millis(50), r.next_line()).await;
        assert!(cancelled.is_err());
        theirs.write_all(b"z\r\n").await.unwrap();
        assert!(r.next_line().await.unwrap());
        assert_eq!(r.line(), format!("{long}z").as_bytes());
    }

    #[tokio::test]
    async fn an_idle_reader_keeps_no_buffer() {
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let mut r = reader(ours);
        theirs.write_all(b"PING :one\r\n").await.unwrap();
        assert!(r.next_line().await.unwrap());
        assert_eq!(r.line(), b"PING :one");
        let waiting = tokio::time::timeout(Duration::from_millis(20), r.next_line()).await;
        assert!(waiting.is_err());
        assert_eq!(r.buf.capacity(), 0);
        theirs.write_all(b"PING :two\r\n").await.unwrap();
        assert!(r.next_line().await.unwrap());
        assert_eq!(r.line(), b"PING :two");
    }
}
