//! `ferrybridge-irc-pool -c config.yaml`: the IRC connection pool process. It reads the
//! `network.pool` section of the IRC bridge's config (and `network.identd`: with a pool, the
//! pool answers ident lookups, as it holds the sockets) and keeps the bridge's IRC sockets open
//! across bridge restarts (see `ferrybridge_irc::pool`). Stop it with SIGTERM or Ctrl-C: it
//! QUITs every socket.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ferrybridge_irc::config::IdentdConfig;
use ferrybridge_irc::pool::{PoolConfig, server};

#[derive(Parser)]
#[command(
    name = "ferrybridge-irc-pool",
    version,
    about = "IRC connection pool for ferrybridge-irc"
)]
struct Args {
    /// The IRC bridge's config file (only `network.pool` is read).
    #[arg(short, long)]
    config: PathBuf,
}

/// The `network.pool` and `network.identd` sections of a bridge config file.
fn read_config(path: &PathBuf) -> Result<(PoolConfig, Option<IdentdConfig>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: serde_norway::Value =
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let section = doc
        .get("network")
        .and_then(|n| n.get("pool"))
        .ok_or_else(|| format!("{}: no network.pool section", path.display()))?;
    let config: PoolConfig = serde_norway::from_value(section.clone())
        .map_err(|e| format!("{}: network.pool: {e}", path.display()))?;
    if let Some((key, problem)) = config.problems().into_iter().next() {
        return Err(format!("{}: network.pool.{key}: {problem}", path.display()));
    }
    let identd = match doc.get("network").and_then(|n| n.get("identd")) {
        Some(section) => Some(
            serde_norway::from_value::<IdentdConfig>(section.clone())
                .map_err(|e| format!("{}: network.identd: {e}", path.display()))?,
        ),
        None => None,
    };
    Ok((config, identd))
}

fn main() -> ExitCode {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let (config, identd) = match read_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferrybridge-irc-pool: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferrybridge-irc-pool: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(server::run(config, identd, stop_signal()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrybridge-irc-pool: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
