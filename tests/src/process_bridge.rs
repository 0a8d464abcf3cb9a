//! A bridge binary (`ferrybridge-irc`, `ferrybridge-xmpp`, ...) running as its own process, so
//! crash tests can do to it what an operator or the kernel does: SIGKILL it mid-load, SIGTERM it
//! (clean shutdown), and start it again on the same config and database.
//!
//! The config is the one the in-process harness builds ([`crate::bridge_env::test_config`]),
//! written as YAML next to the registration; the process's stdout and stderr go to
//! `bridge.log` in the same directory (every start appends, under a banner).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ferrybridge_core::config::Config;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long a start may take until the appservice port answers.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A bridge process; SIGKILLed on drop if still running.
pub struct ProcessBridge<N> {
    /// The config the process runs with (written to `config.yaml`).
    pub config: Config<N>,
    binary: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
    starts: u32,
}

/// The path of bridge binary `name` built next to this test binary (`target/<profile>/`), so a
/// test runs the binary of the same build (`cargo test --workspace` builds both), or in
/// `FB_BRIDGE_BIN_DIR` when that is set (benchmarks of a release build from a debug test).
pub fn bridge_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the test binary")?;
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let own = exe.parent().and_then(Path::parent).map(Path::to_owned);
    let profile_dir = std::env::var_os("FB_BRIDGE_BIN_DIR")
        .map(PathBuf::from)
        .or(own)
        .context("the test binary has no target/<profile> directory")?;
    let bin = profile_dir.join(name);
    if !bin.is_file() {
        bail!(
            "{} not found: build it first (`cargo build --workspace --all-targets`)",
            bin.display()
        );
    }
    Ok(bin)
}

/// A temp dir for a bridge process's config, database and log; kept (and its path printed)
/// when `FERRYBRIDGE_KEEP_DATA` is set, like the Synapse data dirs.
pub fn work_dir(prefix: &str) -> Result<tempfile::TempDir> {
    let mut dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
    if std::env::var_os("FERRYBRIDGE_KEEP_DATA").is_some_and(|v| !v.is_empty()) {
        dir.disable_cleanup(true);
        eprintln!(
            "FERRYBRIDGE_KEEP_DATA: bridge config, database and log kept in {}",
            dir.path().display()
        );
    }
    Ok(dir)
}

impl<N: Serialize> ProcessBridge<N> {
    /// Writes `config` to `dir/config.yaml`, starts `binary run -c config.yaml` and returns once
    /// its appservice port answers.
    pub async fn start(binary: PathBuf, config: Config<N>, dir: &Path) -> Result<Self> {
        let yaml = serde_norway::to_string(&config).context("serializing the bridge config")?;
        // Owner-only, as `generate-registration` writes it (the bridge warns otherwise).
        ferrybridge_core::private_fs::write_private(dir.join("config.yaml"), yaml)?;
        let mut bridge = Self {
            config,
            binary,
            dir: dir.to_owned(),
            child: None,
            starts: 0,
        };
        bridge.spawn().await?;
        Ok(bridge)
    }
}

impl<N> ProcessBridge<N> {
    async fn spawn(&mut self) -> Result<()> {
        anyhow::ensure!(
            self.child.is_none(),
            "the bridge process is already running"
        );
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        writeln!(
            log,
            "===== ferrybridge test harness: start #{} =====",
            self.starts
        )?;
        let child = Command::new(&self.binary)
            .arg("run")
            .arg("-c")
            .arg(self.dir.join("config.yaml"))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        self.wait_listening().await
    }

    /// Polls the appservice port until it accepts a connection; fails early (with the log's
    /// tail) if the process exits.
    async fn wait_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let port = self.appservice_port();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                bail!(
                    "the bridge exited during start-up ({status}):\n{}",
                    self.log_tail(30)
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "the bridge did not listen on {port} within {START_TIMEOUT:?}:\n{}",
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The port of the appservice API.
    pub fn appservice_port(&self) -> u16 {
        self.config.appservice.port
    }

    /// The running process's ID.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How many times the process was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// SIGKILL: the process dies at once, nothing in its memory is saved (a crash, an OOM kill).
    pub async fn kill(&mut self) -> Result<ExitStatus> {
        let child = self.child.as_mut().context("the bridge is not running")?;
        child.kill().context("SIGKILL")?;
        self.wait_exit(Duration::from_secs(10)).await
    }

    /// SIGTERM (clean shutdown, what systemd and docker send) and waits up to `within` for the
    /// process to exit; SIGKILLs it and errors if it does not.
    pub async fn terminate(&mut self, within: Duration) -> Result<ExitStatus> {
        let pid = self.pid().context("the bridge is not running")?;
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .context("running kill -TERM")?;
        anyhow::ensure!(sent.success(), "kill -TERM {pid} failed");
        match self.wait_exit(within).await {
            Ok(status) => Ok(status),
            Err(e) => {
                let _ = self.kill().await;
                Err(e.context("the bridge ignored SIGTERM"))
            }
        }
    }

    async fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let child = self.child.as_mut().context("the bridge is not running")?;
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("the bridge did not exit within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the process again on the same config and database (after [`Self::kill`] or
    /// [`Self::terminate`]); returns once the appservice port answers.
    pub async fn restart(&mut self) -> Result<()> {
        self.spawn().await
    }

    /// Where the process's output goes.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("bridge.log")
    }

    /// The last `lines` lines of the process's output, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Lines of the process's output (all starts, colours removed) containing `needle`.
    pub fn log_lines_with(&self, needle: &str) -> Vec<String> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .map(strip_ansi)
            .filter(|l| l.contains(needle))
            .collect()
    }
}

impl<N> ProcessBridge<N> {
    /// The warnings and errors the process logged (all starts, in order), at most `max`, with
    /// their count: the context a failing crash test prints.
    pub fn problems(&self, max: usize) -> String {
        let lines: Vec<String> = std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .map(strip_ansi)
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.starts_with("====="))
            .collect();
        let shown = lines.len().min(max);
        format!(
            "the bridge log's warnings and errors ({} lines with the start banners, first {shown}):\n{}",
            lines.len(),
            lines[..shown].join("\n")
        )
    }
}

/// `line` without ANSI colour sequences (`ESC [ ... m`), as the pretty log format writes them.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl<N> Drop for ProcessBridge<N> {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m x"),
            "2026  WARN x"
        );
    }
}
