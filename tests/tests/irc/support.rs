//! Shared pieces of the IRC integration tests: a throwaway InspIRCd + Atheme, a raw IRC client,
//! and the bridge running in-process against a real Synapse.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::{Config, NetworkConfig, Tokens, example_config, parse_config_with};
use ferrybridge_core::{RunningBridge, start_with};
use ferrybridge_irc::{IrcBridge, IrcConfig};
use ferrybridge_tests::{Synapse, TestUser, free_port, register_user, repo_root, text_body};
use ruma::{OwnedRoomId, OwnedUserId};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub const T: Duration = Duration::from_secs(30);

/// InspIRCd + Atheme on free ports; stopped on drop.
pub struct Ircd {
    pub port: u16,
    link_port: u16,
    /// A TLS client port (its CA's certificate at [`Ircd::tls_cert`]), if asked for.
    pub tls_port: Option<u16>,
    /// A client port that wants `PASS <password>`, if asked for.
    pub pass_port: Option<(u16, String)>,
    /// Whether InspIRCd looks up every client's ident (on port 113 of the client's address).
    pub ident: bool,
    pub dir: tempfile::TempDir,
    pids: Vec<u32>,
}

/// Extra listeners of a test ircd.
#[derive(Default)]
pub struct IrcdPorts {
    pub tls: bool,
    pub password: Option<String>,
    /// Ident lookups (InspIRCd's `ident` module) for every client.
    pub ident: bool,
}

impl Ircd {
    pub fn start() -> Result<Ircd> {
        Self::start_with(IrcdPorts::default())
    }

    pub fn start_with(ports: IrcdPorts) -> Result<Ircd> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let link_port = free_port()?;
        let tls_port = if ports.tls { Some(free_port()?) } else { None };
        let pass_port = match ports.password {
            Some(p) => Some((free_port()?, p)),
            None => None,
        };
        let mut ircd = Ircd {
            port,
            link_port,
            tls_port,
            pass_port,
            ident: ports.ident,
            dir,
            pids: Vec::new(),
        };
        ircd.launch()?;
        Ok(ircd)
    }

    /// The certificate of the throwaway CA that signed the TLS port's certificate.
    pub fn tls_cert(&self) -> PathBuf {
        self.dir.path().join("data/tls-ca.crt")
    }

    fn launch(&mut self) -> Result<()> {
        let data = self.dir.path().join("data");
        let mut cmd = Command::new(repo_root().join("scripts/start-ircd.sh"));
        cmd.arg(&data)
            .env("IRC_PORT", self.port.to_string())
            .env("IRC_LINK_PORT", self.link_port.to_string())
            .env("FERRYBRIDGE_RUN", self.dir.path().join("run"));
        if let Some(p) = self.tls_port {
            cmd.env("IRC_TLS_PORT", p.to_string());
        }
        if self.ident {
            cmd.env("IRC_IDENT", "yes");
        }
        if let Some((p, pass)) = &self.pass_port {
            cmd.env("IRC_PASS_PORT", p.to_string())
                .env("IRC_PASS", pass);
        }
        let out = cmd.output().context("start-ircd.sh")?;
        if !out.status.success() {
            bail!(
                "start-ircd.sh failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self.pids = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        Ok(())
    }

    /// InspIRCd's process ID (then Atheme's, when services run).
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// Kills the servers (as a crash would) and starts them again on the same ports.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.launch()
    }

    fn kill(&mut self) {
        for pid in self.pids.drain(..) {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

impl Drop for Ircd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A raw IRC client speaking lines.
pub struct RawIrc {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    pub seen: Vec<String>,
}

impl RawIrc {
    /// A TCP connection to the ircd, not registered yet.
    async fn open(port: u16) -> Result<RawIrc> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let (r, w) = stream.into_split();
        Ok(RawIrc {
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
        })
    }

    pub async fn connect(port: u16, nick: &str) -> Result<RawIrc> {
        let mut c = Self::open(port).await?;
        c.send(&format!("NICK {nick}")).await?;
        c.send(&format!("USER {nick} 0 * :raw test client")).await?;
        c.expect(|l| l.split(' ').nth(1) == Some("001")).await?;
        Ok(c)
    }

    /// Connects after asking for IRCv3 capabilities (`caps`, space-separated); fails unless
    /// the server acknowledges them all.
    pub async fn connect_caps(port: u16, nick: &str, caps: &str) -> Result<RawIrc> {
        let mut c = Self::open(port).await?;
        c.send(&format!("CAP REQ :{caps}")).await?;
        c.send(&format!("NICK {nick}")).await?;
        c.send(&format!("USER {nick} 0 * :raw test client")).await?;
        let answer = c
            .expect(|l| l.contains(" CAP ") && (l.contains(" ACK ") || l.contains(" NAK ")))
            .await?;
        if answer.contains(" NAK ") {
            bail!("the server refused {caps}: {answer}");
        }
        c.send("CAP END").await?;
        c.expect(|l| l.contains(" 001 ")).await?;
        Ok(c)
    }

    pub async fn send(&mut self, line: &str) -> Result<()> {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        Ok(())
    }

    /// Reads lines (answering pings) until one matches.
    pub async fn expect(&mut self, pred: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout_at(deadline, self.reader.read_line(&mut line))
                .await
                .with_context(|| format!("timed out; saw: {:#?}", self.seen))??;
            if n == 0 {
                bail!("connection closed; saw: {:#?}", self.seen);
            }
            let line = line.trim_end().to_owned();
            // With IRCv3 tags (server-time) even a PING may carry some.
            let bare = match line.strip_prefix('@') {
                Some(tagged) => tagged.split_once(' ').map_or("", |(_, rest)| rest),
                None => &line,
            };
            if let Some(arg) = bare.strip_prefix("PING ") {
                self.send(&format!("PONG {arg}")).await?;
                continue;
            }
            self.seen.push(line.clone());
            if pred(&line) {
                return Ok(line);
            }
        }
    }

    pub async fn join(&mut self, channel: &str) -> Result<()> {
        self.send(&format!("JOIN {channel}")).await?;
        let chan = channel.to_owned();
        self.expect(move |l| l.contains(" 366 ") && l.contains(&chan))
            .await?;
        Ok(())
    }
}

/// A raw client whose lines a task of its own reads (answering PINGs), so thousands of them can
/// idle in channels without being pinged out or filling their sockets, and still talk. It
/// counts the QUITs it sees, by reason.
pub struct IdleIrc {
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    /// QUIT reason → how many were seen.
    pub quits: Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
    /// Set when the server closed the connection.
    pub closed: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RawIrc {
    /// Hands the connection to a reading task (see [`IdleIrc`]).
    pub fn keep_alive(self) -> IdleIrc {
        let writer = Arc::new(tokio::sync::Mutex::new(self.writer));
        let quits = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (w, q, c) = (writer.clone(), quits.clone(), closed.clone());
        let mut reader = self.reader;
        let task = tokio::spawn(async move {
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let bare = line.trim_end();
                if let Some(arg) = bare.strip_prefix("PING ") {
                    let pong = format!("PONG {arg}\r\n");
                    if w.lock().await.write_all(pong.as_bytes()).await.is_err() {
                        break;
                    }
                } else if let Some((_, reason)) = bare.split_once(" QUIT ") {
                    let reason = reason.trim_start_matches(':').to_owned();
                    *q.lock().unwrap().entry(reason).or_default() += 1;
                }
            }
            c.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        IdleIrc {
            writer,
            quits,
            closed,
            task,
        }
    }
}

impl IdleIrc {
    pub async fn send(&self, line: &str) -> Result<()> {
        self.writer
            .lock()
            .await
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        Ok(())
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for IdleIrc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running bridge with its Synapse and IRC server.
pub struct Setup {
    pub config: Config<IrcConfig>,
    /// The network, for benchmarks that drive puppets directly.
    pub irc: Arc<IrcBridge>,
    pub ircd: Ircd,
    pub synapse: Synapse,
    pub bridge: Option<RunningBridge<IrcBridge>>,
    _dir: tempfile::TempDir,
}

pub fn bot_id() -> OwnedUserId {
    "@ircbot:localhost".try_into().unwrap()
}

/// The harness's config of the IRC bridge (`test_config`, for a bridge process), pointed at
/// the ircd on `irc_port`; returns it with its one server for further tuning.
pub fn process_config(dir: &Path, irc_port: u16) -> Result<Config<IrcConfig>> {
    let mut config = ferrybridge_tests::bridge_env::test_config::<IrcBridge>(
        &IrcConfig::example_yaml(),
        None,
        dir,
    )?;
    let server = config
        .network
        .servers
        .get_mut("localhost")
        .context("the example config's network")?;
    server.address = "127.0.0.1".into();
    server.port = Some(irc_port);
    Ok(config)
}

fn config_for(dir: &Path, irc_port: u16, hs: Option<&str>) -> Result<(Config<IrcConfig>, PathBuf)> {
    let text = ferrybridge_core::cli::fill_secrets(&example_config(
        &IrcBridge::info(),
        &IrcConfig::example_yaml(),
    ));
    let mut config = parse_config_with::<IrcConfig>(&text, Tokens::Required)?;
    // As in `test_config`: no space invites among the portal invites the tests accept.
    config.bridge.personal_spaces = false;
    let port = free_port()?;
    config.appservice.port = port;
    config.appservice.address = format!("http://127.0.0.1:{port}").parse()?;
    if let Some(hs) = hs {
        config.homeserver.address = hs.parse()?;
    }
    config.database.uri = format!("sqlite://{}", dir.join("bridge.db").display());
    let server = config.network.servers.get_mut("localhost").unwrap();
    server.address = "127.0.0.1".into();
    server.port = Some(irc_port);
    server.flood.burst = 100;
    server.flood.per_second = 100.0;
    server.ping_timeout_secs = 10;
    server.exclude_channels = vec!["#secret".into()];
    let reg = dir.join("registration.yaml");
    std::fs::write(&reg, irc_registration(&config)?)?;
    Ok((config, reg))
}

/// The registration `generate-registration` writes for the IRC bridge (typing notifications
/// asked for, as the bridge shows them).
fn irc_registration(config: &Config<IrcConfig>) -> Result<String> {
    Ok(ferrybridge_core::cli::registration_with(
        config,
        &IrcBridge::info().capabilities,
    )?)
}

impl Setup {
    pub async fn start() -> Result<Setup> {
        Self::start_tuned(|_| {}).await
    }

    /// As [`Setup::start`], with the IRC network's config adjusted first.
    pub async fn start_tuned(
        tune: impl FnOnce(&mut ferrybridge_irc::config::ServerConfig),
    ) -> Result<Setup> {
        Self::start_on(IrcdPorts::default(), |server, _| tune(server)).await
    }

    /// As [`Setup::start_tuned`], on an ircd with extra listeners the tuning can point at.
    pub async fn start_on(
        ports: IrcdPorts,
        tune: impl FnOnce(&mut ferrybridge_irc::config::ServerConfig, &Ircd),
    ) -> Result<Setup> {
        Self::start_configured(ports, |config, ircd| {
            if let Some(server) = config.network.servers.get_mut("localhost") {
                tune(server, ircd);
            }
        })
        .await
    }

    /// As [`Setup::start_on`], with the whole bridge config (limits, too) adjusted first.
    pub async fn start_configured(
        ports: IrcdPorts,
        tune: impl FnOnce(&mut Config<IrcConfig>, &Ircd),
    ) -> Result<Setup> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ircd = Ircd::start_with(ports)?;
        let dir = tempfile::tempdir()?;
        let (mut config, reg) = config_for(dir.path(), ircd.port, None)?;
        tune(&mut config, &ircd);
        // The tuning may change what the registration asks for (encryption).
        std::fs::write(&reg, irc_registration(&config)?)?;
        let synapse = Synapse::start(&[reg]).await?;
        config.homeserver.address = synapse.base_url().parse()?;
        let running = start_with(config.clone(), IrcBridge::init).await?;
        Ok(Setup {
            config,
            irc: running.network().clone(),
            ircd,
            synapse,
            bridge: Some(running),
            _dir: dir,
        })
    }

    /// A bridge on the ircd's TLS port, trusting the ircd's throwaway CA.
    pub async fn start_tls() -> Result<Setup> {
        let tls = IrcdPorts {
            tls: true,
            ..IrcdPorts::default()
        };
        Self::start_on(tls, |s, ircd| {
            s.tls = true;
            s.port = ircd.tls_port;
            s.tls_ca_file = Some(ircd.tls_cert().display().to_string());
        })
        .await
    }

    /// Waits until every one of `users`' puppets is registered (fails after `timeout`).
    pub async fn all_registered(&self, users: &[OwnedUserId], timeout: Duration) -> Duration {
        let net = self.irc.networks.get("localhost").unwrap();
        let start = std::time::Instant::now();
        loop {
            let up = users
                .iter()
                .filter(|u| net.puppet(u).is_some_and(|c| c.is_registered()))
                .count();
            if up == users.len() {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < timeout,
                "only {up}/{} puppets registered",
                users.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A Matrix user with a management room with the bot.
    pub async fn user(&self, localpart: &str) -> Result<(TestUser, OwnedRoomId)> {
        user_with_dm(&self.synapse, localpart).await
    }

    /// Stops the bridge and starts it again on the same database.
    pub async fn restart_bridge(&mut self) -> Result<()> {
        self.stop_bridge().await;
        self.start_bridge().await
    }

    /// Stops the bridge (a clean stop), leaving Synapse and the ircd running.
    pub async fn stop_bridge(&mut self) {
        if let Some(b) = self.bridge.take() {
            b.stop().await;
        }
    }

    /// Starts the bridge again on the same database and config.
    pub async fn start_bridge(&mut self) -> Result<()> {
        let running = start_with(self.config.clone(), IrcBridge::init).await?;
        self.irc = running.network().clone();
        self.bridge = Some(running);
        Ok(())
    }

    pub async fn stop(mut self) {
        if let Some(b) = self.bridge.take() {
            b.stop().await;
        }
    }
}

/// A new Matrix user on `synapse` with a management room with the bot (greeting taken).
pub async fn user_with_dm(synapse: &Synapse, localpart: &str) -> Result<(TestUser, OwnedRoomId)> {
    let user = register_user(synapse, localpart, false).await?;
    let dm = user.create_dm(&bot_id()).await?;
    // The bot joins the DM; wait for that before talking to it.
    user.wait_for(&dm, T, |e| {
        e["type"] == "m.room.member"
            && e["state_key"] == "@ircbot:localhost"
            && e["content"]["membership"] == "join"
    })
    .await?;
    // ... and greets; take the greeting so replies to commands are not confused with it.
    user.wait_for(&dm, T, |e| {
        e["sender"] == "@ircbot:localhost" && e["content"]["msgtype"] == "m.notice"
    })
    .await?;
    Ok((user, dm))
}

/// Waits for a bot notice in `room` containing `needle`.
pub async fn notice_containing(user: &TestUser, room: &OwnedRoomId, needle: &str) -> String {
    let ev = user
        .wait_for(room, T, |e| {
            e["sender"] == "@ircbot:localhost" && text_body(e).is_some_and(|b| b.contains(needle))
        })
        .await
        .unwrap();
    text_body(&ev).unwrap_or_default().to_owned()
}

/// `op` (a channel operator in `channel`) sets `+m`; `user`'s next message there is refused
/// by the server and comes back as a bot notice in reply to it.
pub async fn refused_in_moderated_channel(
    op: &mut RawIrc,
    user: &TestUser,
    room: &OwnedRoomId,
    channel: &str,
) -> Result<()> {
    op.send(&format!("MODE {channel} +m")).await?;
    let mode = format!("MODE {channel}");
    op.expect(|l| l.contains(&mode) && l.contains("+m")).await?;
    let ev = user.send_text(room, "can you hear me").await?;
    let notice = user
        .wait_for(room, T, |e| {
            e["sender"] == "@ircbot:localhost"
                && text_body(e).is_some_and(|b| b.contains("not delivered"))
        })
        .await?;
    assert_eq!(
        notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        ev.as_str()
    );
    Ok(())
}

/// Sends a command in `room` and returns the bot's reply text.
pub async fn command(user: &TestUser, room: &OwnedRoomId, cmd: &str) -> Result<String> {
    let sent = user.send_text(room, cmd).await?;
    let reply = user
        .wait_for(room, T, |e| {
            e["sender"] == "@ircbot:localhost"
                && e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == sent.as_str()
        })
        .await?;
    Ok(text_body(&reply).unwrap_or_default().to_owned())
}

/// `!join #chan` and join the room we are invited to.
pub async fn join_channel(user: &TestUser, dm: &OwnedRoomId, chan: &str) -> Result<OwnedRoomId> {
    let reply = command(user, dm, &format!("!join {chan}")).await?;
    if !reply.contains("Joined") {
        bail!("join failed: {reply}");
    }
    let room = user.wait_for_invite(T).await?;
    user.join(room.as_str()).await?;
    Ok(room)
}
