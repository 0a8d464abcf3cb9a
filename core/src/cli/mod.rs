//! The command line every bridge binary shares:
//! `generate-config`, `generate-registration -c config.yaml [-o registration.yaml]`,
//! `generate-double-puppet-registration -c config.yaml [-o file]`, `check-config -c config.yaml`,
//! `run -c config.yaml`.

mod check;
mod registration;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::bridge::Bridge;
use crate::config::{NetworkConfig, Tokens, example_config, load_config, load_config_with};
use crate::private_fs;

pub use registration::{
    double_puppet_registration, fill_secrets, registration_for, registration_with,
};

#[derive(Parser)]
#[command(version, about = "A ferrybridge Matrix bridge")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the commented example config.
    GenerateConfig,
    /// Write the appservice registration for the homeserver (and fill tokens into the config).
    GenerateRegistration {
        #[arg(short, long, default_value = "config.yaml")]
        config: PathBuf,
        #[arg(short, long, default_value = "registration.yaml")]
        output: PathBuf,
    },
    /// Write a registration that lets bridges send as this homeserver's users (double
    /// puppeting; one for all bridges on the homeserver) and print the config entry.
    GenerateDoublePuppetRegistration {
        #[arg(short, long, default_value = "config.yaml")]
        config: PathBuf,
        #[arg(short, long, default_value = "double-puppet-registration.yaml")]
        output: PathBuf,
    },
    /// Check a config file and report every problem (with encryption on, the registration
    /// too).
    CheckConfig {
        #[arg(short, long, default_value = "config.yaml")]
        config: PathBuf,
        /// The registration file the homeserver loads.
        #[arg(short, long, default_value = "registration.yaml")]
        registration: PathBuf,
    },
    /// Run the bridge.
    Run {
        #[arg(short, long, default_value = "config.yaml")]
        config: PathBuf,
    },
}

/// The whole `main` of a bridge binary.
pub fn main<B: Bridge>() -> ExitCode {
    // Several TLS stacks meet in one binary (see notes on rustls providers): pick one first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run::<B>(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run<B: Bridge>(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::GenerateConfig => {
            print!("{}", example_config(&B::info(), &B::Config::example_yaml()));
            Ok(())
        }
        Command::GenerateRegistration { config, output } => {
            let text = std::fs::read_to_string(&config)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", config.display()))?;
            let filled = fill_secrets(&text);
            if filled != text {
                // The config now holds the tokens: owner-only (never widened).
                private_fs::write_private(&config, &filled)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", config.display()))?;
                eprintln!("wrote new tokens and secrets key into {}", config.display());
            }
            let parsed = load_config_with::<B::Config>(&config, Tokens::Required)?;
            if let Some(key_file) = &parsed.bridge.secrets_key_file
                && !key_file.exists()
            {
                let key = crate::store::SecretKey::generate().to_base64();
                private_fs::write_private(key_file, format!("{key}\n"))
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", key_file.display()))?;
                eprintln!("wrote a new secrets key into {}", key_file.display());
            }
            let caps = B::info().capabilities;
            let registration = registration_with(&parsed, &caps)?;
            private_fs::write_private(&output, registration)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", output.display()))?;
            eprintln!(
                "wrote {}; add it to your homeserver's app_service_config_files",
                output.display()
            );
            Ok(())
        }
        Command::GenerateDoublePuppetRegistration { config, output } => {
            let parsed = load_config_with::<B::Config>(&config, Tokens::MayBeEmpty)?;
            let domain = &parsed.homeserver.domain;
            let (yaml, token) = double_puppet_registration(domain);
            private_fs::write_private(&output, yaml)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", output.display()))?;
            eprintln!(
                "wrote {}; add it to your homeserver's app_service_config_files, then put this in the config of every bridge:",
                output.display()
            );
            println!("double_puppet:\n  secrets:\n    {domain}: \"as_token:{token}\"");
            Ok(())
        }
        Command::CheckConfig {
            config,
            registration,
        } => {
            let parsed = load_config::<B::Config>(&config)?;
            if parsed.encryption.allow {
                check::check_registration(&registration)?;
            }
            println!("{}: OK", config.display());
            Ok(())
        }
        Command::Run { config: path } => {
            let config = load_config::<B::Config>(&path)?;
            crate::logging::init(&config.logging);
            if private_fs::is_exposed(&path).unwrap_or(false) {
                tracing::warn!(file = %path.display(), "the config holds the bridge's tokens but other users can read it: chmod 600 it");
            }
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async move {
                let running = crate::runtime::start::<B>(config).await?;
                shutdown_signal().await;
                tracing::info!("shutting down");
                running.stop().await;
                Ok(())
            })
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
