//! XMPP test peers: a throwaway Prosody started by the project's script, and an XMPP user
//! speaking raw XML over c2s. Raw XML, not a tokio-xmpp client: a bridge built with
//! tokio-xmpp's `component` feature switches xmpp-parsers' namespace for the whole build.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{free_port, repo_root};

mod occupant;

pub use occupant::{Occupant, Seen};

/// How long a test waits for anything.
pub const T: Duration = Duration::from_secs(30);
/// The component secret of test servers.
pub const SECRET: &str = "ferrybridge-test-secret";

/// A throwaway Prosody; killed on drop.
pub struct Prosody {
    pid: u32,
    pub c2s: u16,
    pub component: u16,
    _dir: tempfile::TempDir,
}

impl Prosody {
    pub async fn start() -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("fb-prosody-").tempdir()?;
        // Prosody runs as its own user: the data dir must be traversable.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        let (c2s, component) = (free_port()?, free_port()?);
        let pid = Self::launch(dir.path(), "p1", c2s, component)?;
        Ok(Self {
            pid,
            c2s,
            component,
            _dir: dir,
        })
    }

    fn launch(dir: &std::path::Path, name: &str, c2s: u16, component: u16) -> Result<u32> {
        let out = std::process::Command::new(repo_root().join("scripts/start-prosody.sh"))
            .arg(dir.join(name))
            .env("XMPP_C2S_PORT", c2s.to_string())
            .env("XMPP_COMPONENT_PORT", component.to_string())
            .env("XMPP_COMPONENT", "matrix.localhost")
            .env("XMPP_COMPONENT_SECRET", SECRET)
            .env("XMPP_ACCOUNTS", "alice:alicepass carol:carolpass")
            .env("FERRYBRIDGE_RUN", dir.join("run"))
            .output()?;
        if !out.status.success() {
            bail!(
                "start-prosody.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("prosody PID")
    }

    /// Stops the server and starts a fresh one on the same ports (a server restart).
    pub async fn restart(&mut self, name: &str) -> Result<()> {
        self.kill();
        let deadline = tokio::time::Instant::now() + T;
        while TcpStream::connect(("127.0.0.1", self.c2s)).await.is_ok()
            || TcpStream::connect(("127.0.0.1", self.component))
                .await
                .is_ok()
        {
            if tokio::time::Instant::now() > deadline {
                bail!("prosody did not stop");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.pid = Self::launch(self._dir.path(), name, self.c2s, self.component)?;
        Ok(())
    }

    /// The server's process ID (benchmarks read its CPU time).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn kill(&self) {
        let _ = std::process::Command::new("kill")
            .arg(self.pid.to_string())
            .status();
    }

    pub fn network_yaml(&self, secret: &str) -> String {
        format!(
            "  component:\n    jid: matrix.localhost\n    secret: {secret}\n    server: 127.0.0.1:{}\n  keepalive_secs: 10\n",
            self.component
        )
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An XMPP user speaking raw XML over c2s (SASL PLAIN, no TLS: the test server allows it).
pub struct XmppClient {
    stream: TcpStream,
    buf: String,
}

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl XmppClient {
    pub async fn login(port: u16, user: &str, pass: &str) -> Result<Self> {
        Self::login_as(port, user, pass, "test").await
    }

    /// Logs in with a chosen resource, so one account can hold several sessions (e.g. several
    /// occupants of one MUC).
    pub async fn login_as(port: u16, user: &str, pass: &str, resource: &str) -> Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut c = Self {
            stream,
            buf: String::new(),
        };
        let header = "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' \
                      xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
        c.send(header).await?;
        c.wait_for("</stream:features>").await?;
        let auth = b64(format!("\0{user}\0{pass}").as_bytes());
        c.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{auth}</auth>"
        ))
        .await?;
        c.wait_for("<success").await?;
        c.send(header).await?;
        c.wait_for("</stream:features>").await?;
        c.send(&format!("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>")).await?;
        c.wait_for("</iq>").await?;
        c.send("<presence/>").await?;
        Ok(c)
    }

    pub async fn send(&mut self, xml: &str) -> Result<()> {
        self.stream.write_all(xml.as_bytes()).await?;
        Ok(())
    }

    /// The raw stream and what was read but not yet consumed, for callers that read
    /// continuously (benchmarks).
    pub fn into_parts(self) -> (TcpStream, String) {
        (self.stream, self.buf)
    }

    /// Reads until `needle` appears; returns everything read up to and including it, and
    /// keeps the rest for the next call.
    pub async fn wait_for(&mut self, needle: &str) -> Result<String> {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            if let Some(pos) = self.buf.find(needle) {
                let end = pos + needle.len();
                let seen = self.buf[..end].to_owned();
                self.buf.drain(..end);
                return Ok(seen);
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .with_context(|| format!("no {needle:?} within {T:?}; got: {}", self.buf))??;
            if n == 0 {
                bail!(
                    "stream closed while waiting for {needle:?}; got: {}",
                    self.buf
                );
            }
            self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }
}
