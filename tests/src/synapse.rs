//! A real, throwaway Synapse per test (or one shared per test binary), started through
//! `scripts/start-synapse.sh` so tests and `scripts/run-local.sh` run the very same configuration.
//!
//! Each instance gets its own temp data dir and a free port, so test binaries may run concurrently.
//! The script is given our PID as a watchdog: if the test process dies without running `Drop`
//! (aborts, or a `static` never dropped), Synapse still stops within ~1 s.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;
use tokio::sync::OnceCell;

use crate::{free_port, repo_root};

/// The `registration_shared_secret` start-synapse.sh configures (used by [`crate::register_user`]).
pub const SHARED_SECRET: &str = "ferrybridge-shared-secret";

/// A running Synapse; stopped (and its data dir deleted) on drop.
/// Set `FERRYBRIDGE_KEEP_DATA=1` to keep the data dir (logs: `homeserver.log`) for debugging.
#[derive(Debug)]
pub struct Synapse {
    port: u16,
    pid: u32,
    data_dir: PathBuf,
    /// Loaded again by [`Synapse::restart`].
    registrations: Vec<PathBuf>,
    /// What the start script's watchdog deletes when the test process is gone (empty: nothing).
    cleanup: PathBuf,
    /// Holds the temp dir (deleted on drop) unless FERRYBRIDGE_KEEP_DATA is set.
    _tmp: Option<TempDir>,
}

static SHARED: OnceCell<Synapse> = OnceCell::const_new();

impl Synapse {
    /// Starts a fresh Synapse loading the given appservice registration files; returns once it
    /// answers `/_matrix/client/versions` (~3 s). Retries on another port if the chosen one was
    /// taken meanwhile by a concurrent test binary.
    pub async fn start(registrations: &[PathBuf]) -> Result<Synapse> {
        let regs = registrations.to_vec();
        tokio::task::spawn_blocking(move || Self::start_blocking(&regs))
            .await
            .context("joining the Synapse start task")?
    }

    /// One Synapse (no registrations) shared by every test of this test binary. Cheaper than one
    /// per test; tests must use their own users and rooms. Never dropped: the script's watchdog
    /// stops it and deletes its data when the test binary exits.
    pub async fn shared() -> Result<&'static Synapse> {
        SHARED
            .get_or_try_init(|| async {
                tokio::task::spawn_blocking(|| Self::start_blocking(&[]))
                    .await
                    .context("joining the Synapse start task")?
            })
            .await
    }

    fn start_blocking(registrations: &[PathBuf]) -> Result<Synapse> {
        let mut last_err = None;
        for _ in 0..3 {
            match Self::try_start(registrations) {
                Ok(s) => return Ok(s),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("Synapse did not start")))
    }

    fn try_start(registrations: &[PathBuf]) -> Result<Synapse> {
        let keep = std::env::var_os("FERRYBRIDGE_KEEP_DATA").is_some_and(|v| !v.is_empty());
        let tmp = tempfile::Builder::new()
            .prefix("ferrybridge-synapse-")
            .tempdir()
            .context("creating Synapse temp dir")?;
        let data_dir = tmp.path().join("data");
        let port = free_port()?;
        let cleanup = if keep {
            PathBuf::new()
        } else {
            tmp.path().to_owned()
        };
        let pid = launch(&data_dir, port, registrations, &cleanup)?;
        let tmp = if keep {
            eprintln!(
                "FERRYBRIDGE_KEEP_DATA: Synapse data kept in {}",
                data_dir.display()
            );
            // Detach: the directory survives this value.
            let _ = tmp.keep();
            None
        } else {
            Some(tmp)
        };
        Ok(Synapse {
            port,
            pid,
            data_dir,
            registrations: registrations.to_vec(),
            cleanup,
            _tmp: tmp,
        })
    }

    /// Stops Synapse (SIGTERM, as an admin's restart does) and starts it again on the same port
    /// and data dir: users, rooms, access tokens and the appservice transactions it still owes
    /// survive. Returns once it answers again; crash tests use it to take the homeserver away
    /// under load.
    pub async fn restart(&mut self) -> Result<()> {
        let (pid, port) = (self.pid, self.port);
        let (data_dir, regs, cleanup) = (
            self.data_dir.clone(),
            self.registrations.clone(),
            self.cleanup.clone(),
        );
        self.pid = tokio::task::spawn_blocking(move || {
            stop(pid, &data_dir);
            launch(&data_dir, port, &regs, &cleanup)
        })
        .await
        .context("joining the Synapse restart task")??;
        Ok(())
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The homeserver's server name: user IDs are `@local:localhost`.
    pub fn server_name(&self) -> &str {
        "localhost"
    }

    /// The port Synapse listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data dir: `homeserver.yaml`, `homeserver.log`, `stdout.log`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The shared secret for `/_synapse/admin/v1/register`.
    pub fn shared_secret(&self) -> &str {
        SHARED_SECRET
    }

    /// The last `lines` lines of homeserver.log, for test failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.data_dir.join("homeserver.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Runs start-synapse.sh on `data_dir`; returns Synapse's PID once it answers. The script's
/// watchdog deletes `cleanup` (unless empty) once this test process is gone.
fn launch(data_dir: &Path, port: u16, registrations: &[PathBuf], cleanup: &Path) -> Result<u32> {
    let run_dir = data_dir.with_file_name("run");
    let script = repo_root().join("scripts/start-synapse.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(data_dir)
        .args(registrations)
        .env("SYNAPSE_PORT", port.to_string())
        .env("SYNAPSE_SERVER_NAME", "localhost")
        .env("SYNAPSE_SHARED_SECRET", SHARED_SECRET)
        .env("FERRYBRIDGE_RUN", &run_dir)
        .env("FERRYBRIDGE_WATCH_PID", std::process::id().to_string())
        .env("FERRYBRIDGE_WATCH_CLEANUP", cleanup)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}):\n{}{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .trim()
        .parse()
        .with_context(|| format!("start-synapse.sh printed {stdout:?}, expected a PID"))
}

/// SIGTERM, then SIGKILL after 5 s; returns once the process is gone (its port is free).
fn stop(pid: u32, data_dir: &Path) {
    if !alive(pid) || !is_ours(pid, data_dir) {
        return;
    }
    signal(pid, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        signal(pid, "-KILL");
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// True while the process exists and is not a zombie (orphans are reaped late by PID 1 here).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// True if `pid` still runs our Synapse (guards against PID reuse).
fn is_ours(pid: u32, data_dir: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(&*data_dir.to_string_lossy()))
        .unwrap_or(false)
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(sig).arg(pid.to_string()).status();
}

impl Synapse {
    /// Stops Synapse now (SIGTERM, then SIGKILL after 5 s), keeping its data dir, e.g. to
    /// test what the bridge does while its homeserver is down. A no-op if it already stopped.
    pub fn stop(&mut self) {
        if !alive(self.pid) || !is_ours(self.pid, &self.data_dir) {
            return;
        }
        signal(self.pid, "-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(self.pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(self.pid) {
            signal(self.pid, "-KILL");
        }
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.stop();
    }
}
