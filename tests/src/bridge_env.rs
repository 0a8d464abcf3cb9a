//! Runs a bridge in-process against a real Synapse: writes its config and registration into a
//! temp dir, starts Synapse with the registration, starts the bridge, and can restart it on the
//! same database (to test that restarts lose and duplicate nothing). Several bridges can share
//! one Synapse: [`BridgeEnv::prepare`] each, start Synapse with all their registrations, then
//! [`BridgeEnv::start_on`] each.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use ferrybridge_core::BridgeHost;
use ferrybridge_core::bridge::{Bridge, Capabilities};
use ferrybridge_core::cli::{fill_secrets, registration_with};
use ferrybridge_core::config::ConfigError;
use ferrybridge_core::config::{Config, Tokens, example_config, parse_config_with};
use ferrybridge_core::{RunningBridge, start_with};
use ruma::{OwnedUserId, UserId};

use crate::{Synapse, TestUser, free_port, register_user};

/// A bridge of network `B` running against a Synapse (its own, or one shared with others).
pub struct BridgeEnv<B: Bridge> {
    pub synapse: Arc<Synapse>,
    pub config: Config<B::Config>,
    pub dir: tempfile::TempDir,
    running: Option<RunningBridge<B>>,
}

/// How a test builds its network: from its config section and host, as `Bridge::init` does
/// (`B::init` itself fits, and so does a closure that plugs in a fake).
pub trait Builder<B: Bridge>:
    FnOnce(B::Config, BridgeHost) -> Result<Arc<B>, ConfigError> + Send + 'static
{
}

impl<B: Bridge, F> Builder<B> for F where
    F: FnOnce(B::Config, BridgeHost) -> Result<Arc<B>, ConfigError> + Send + 'static
{
}

/// A bridge's config and registration file, written before the Synapse that loads the
/// registration starts.
pub struct PreparedBridge<B: Bridge> {
    pub config: Config<B::Config>,
    pub dir: tempfile::TempDir,
    registration: PathBuf,
}

impl<B: Bridge> PreparedBridge<B> {
    /// The registration file for Synapse's `app_service_config_files`.
    pub fn registration(&self) -> &Path {
        &self.registration
    }
}

impl<B: Bridge> BridgeEnv<B> {
    /// The example config of `B` with `network_yaml` as its network section (indented by two
    /// spaces), pointed at a fresh Synapse and a SQLite file (or `database_uri`).
    pub async fn start(
        network_yaml: &str,
        database_uri: Option<String>,
        build: impl Builder<B>,
    ) -> Result<Self> {
        Self::start_tuned(network_yaml, database_uri, |_| {}, build).await
    }

    /// As [`BridgeEnv::start`], with `tune` changing the config before anything starts
    /// (limits, metrics, ...).
    pub async fn start_tuned(
        network_yaml: &str,
        database_uri: Option<String>,
        tune: impl FnOnce(&mut Config<B::Config>),
        build: impl Builder<B>,
    ) -> Result<Self> {
        let prepared = Self::prepare(network_yaml, database_uri, tune)?;
        let synapse = Synapse::start(std::slice::from_ref(&prepared.registration)).await?;
        Self::start_on(Arc::new(synapse), prepared, build).await
    }

    /// Writes the example config of `B` (with `network_yaml` as its network section, a free
    /// port and a SQLite file or `database_uri`) and its registration, for
    /// [`BridgeEnv::start_on`] once a Synapse loads the registration.
    pub fn prepare(
        network_yaml: &str,
        database_uri: Option<String>,
        tune: impl FnOnce(&mut Config<B::Config>),
    ) -> Result<PreparedBridge<B>> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        init_test_logging();
        let dir = tempfile::tempdir()?;
        let mut config = test_config::<B>(network_yaml, database_uri, dir.path())?;
        tune(&mut config);
        let registration = write_registration(&config, &B::info().capabilities, dir.path())?;
        Ok(PreparedBridge {
            config,
            dir,
            registration,
        })
    }

    /// Starts a prepared bridge against `synapse`, which must have loaded its registration.
    pub async fn start_on(
        synapse: Arc<Synapse>,
        prepared: PreparedBridge<B>,
        build: impl Builder<B>,
    ) -> Result<Self> {
        let PreparedBridge {
            mut config, dir, ..
        } = prepared;
        anyhow::ensure!(
            config.homeserver.domain == synapse.server_name(),
            "the registration was made for {}, Synapse is {}",
            config.homeserver.domain,
            synapse.server_name()
        );
        use_homeserver(&mut config, &synapse)?;
        let mut env = Self {
            synapse,
            config,
            dir,
            running: None,
        };
        env.run(build).await?;
        Ok(env)
    }

    /// Starts the bridge (again) with the network `build` makes.
    pub async fn run(&mut self, build: impl Builder<B>) -> Result<()> {
        anyhow::ensure!(self.running.is_none(), "bridge already running");
        self.running = Some(
            start_with(self.config.clone(), build)
                .await
                .context("starting the bridge")?,
        );
        Ok(())
    }

    /// The running bridge's network.
    pub fn network(&self) -> Option<Arc<B>> {
        self.running.as_ref().map(|r| r.network().clone())
    }

    /// Stops the bridge; the database and Synapse stay.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// The running bridge's core services.
    pub fn host(&self) -> Option<&ferrybridge_core::BridgeHost> {
        self.running.as_ref().map(|r| r.host())
    }

    /// The bridge bot's user ID.
    pub fn bot(&self) -> OwnedUserId {
        UserId::parse(format!(
            "@{}:{}",
            self.config.appservice.bot.username, self.config.homeserver.domain
        ))
        .expect("bot user ID from a validated config")
    }

    /// The appservice API base URL (for feeding transactions directly).
    pub fn appservice_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.config.appservice.port)
    }

    /// PUTs a transaction to the appservice API as a homeserver would; returns the status and
    /// the JSON body.
    pub async fn put_txn(
        &self,
        txn: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value)> {
        let mut req = reqwest::Client::new()
            .put(format!(
                "{}/_matrix/app/v1/transactions/{txn}",
                self.appservice_url()
            ))
            .json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// The token the homeserver uses towards the bridge.
    pub fn hs_token(&self) -> &str {
        &self.config.appservice.hs_token
    }

    /// A new real Matrix user on this Synapse (`admin` is a bridge admin by the example config).
    pub async fn user(&self, localpart: &str) -> Result<TestUser> {
        register_user(&self.synapse, localpart, false).await
    }

    /// Where the test's files live.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

/// The example config of `B` with `network_yaml` as its network section (indented by two
/// spaces): listening on a free port, its SQLite file in `dir` (or `database_uri`). The example
/// config is the admin's starting point, so the tests check that it works as shipped.
pub fn test_config<B: Bridge>(
    network_yaml: &str,
    database_uri: Option<String>,
    dir: &Path,
) -> Result<Config<B::Config>> {
    let port = free_port()?;
    let text = fill_secrets(&example_config(&B::info(), network_yaml));
    let mut config: Config<B::Config> =
        parse_config_with(&text, Tokens::Required).context("example config")?;
    config.appservice.port = port;
    config.appservice.address = format!("http://127.0.0.1:{port}").parse()?;
    config.appservice.public_address = Some(config.appservice.address.clone());
    config.database.uri =
        database_uri.unwrap_or_else(|| format!("sqlite://{}/bridge.db", dir.display()));
    // Tests accept the invites they expect one by one; a space invite between them would be
    // taken for a portal's. The spaces test turns them back on.
    config.bridge.personal_spaces = false;
    Ok(config)
}

/// Writes the appservice registration of `config` to `dir/registration.yaml` (for Synapse).
pub fn write_registration<N: ferrybridge_core::config::NetworkConfig>(
    config: &Config<N>,
    capabilities: &Capabilities,
    dir: &Path,
) -> Result<PathBuf> {
    let registration = dir.join("registration.yaml");
    std::fs::write(&registration, registration_with(config, capabilities)?)?;
    Ok(registration)
}

/// Points `config` at `synapse`.
pub fn use_homeserver<N>(config: &mut Config<N>, synapse: &Synapse) -> Result<()> {
    config.homeserver.address = synapse.base_url().parse()?;
    config.homeserver.domain = synapse.server_name().to_owned();
    Ok(())
}

/// Logs to the test's captured output; `RUST_LOG` picks the level.
fn init_test_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_test_writer()
        .try_init();
}
