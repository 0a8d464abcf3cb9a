//! Idle footprint of each bridge binary (ignored by default; run with
//! `FB_BRIDGE_BIN_DIR=$CARGO_TARGET_DIR/release cargo test -p ferrybridge-tests --test footprint_bench -- --ignored --nocapture`
//! after `cargo build --release --bins`): start-up time (process start until `/ready` answers
//! 200, against a real Synapse, and InspIRCd or Prosody for IRC and XMPP) and resident memory
//! once idle. Telegram and WhatsApp start with no users (their real adapters, no network).

#[path = "irc/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::config::Config;
use ferrybridge_irc::IrcBridge;
use ferrybridge_telegram::TelegramBridge;
use ferrybridge_tests::bridge_env::{test_config, use_homeserver, write_registration};
use ferrybridge_tests::xmpp::{Prosody, SECRET};
use ferrybridge_tests::{ProcessBridge, Synapse, bridge_binary, work_dir};
use ferrybridge_whatsapp::WhatsAppBridge;
use ferrybridge_xmpp::XmppBridge;

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `RssAnon`, `RssFile`) or count (`Threads`).
fn status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Starts `binary` on `config`, waits for `/ready`, lets it settle, and prints one line.
async fn measure<B: Bridge>(
    name: &str,
    mut config: Config<B::Config>,
    dir: &std::path::Path,
) -> Result<()>
where
    B::Config: serde::Serialize,
{
    let caps = B::info().capabilities;
    let registration = write_registration(&config, &caps, dir)?;
    let synapse = Synapse::start(&[registration]).await?;
    use_homeserver(&mut config, &synapse)?;
    let ready = format!("http://127.0.0.1:{}/ready", config.appservice.port);
    let start = Instant::now();
    let bridge = ProcessBridge::start(bridge_binary(name)?, config, dir).await?;
    let http = reqwest::Client::new();
    loop {
        if http
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(60),
            "{name} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let startup = start.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pid = bridge.pid().context("the bridge process")?;
    let mib = |field| status(pid, field) as f64 / 1024.0;
    println!(
        "BENCH footprint {name}: start-up to ready {:.2} s, idle RSS {:.1} MiB \
         ({:.1} MiB anonymous, {:.1} MiB mapped files such as the binary's code), {} threads",
        startup.as_secs_f64(),
        mib("VmRSS"),
        mib("RssAnon"),
        mib("RssFile"),
        status(pid, "Threads")
    );
    drop(bridge);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn idle_footprint_of_each_bridge() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();

    let ircd = support::Ircd::start()?;
    let dir = work_dir("fb-footprint-irc-")?;
    let config = support::process_config(dir.path(), ircd.port)?;
    measure::<IrcBridge>("ferrybridge-irc", config, dir.path()).await?;

    let prosody = Prosody::start().await?;
    let dir = work_dir("fb-footprint-xmpp-")?;
    let config = test_config::<XmppBridge>(&prosody.network_yaml(SECRET), None, dir.path())?;
    measure::<XmppBridge>("ferrybridge-xmpp", config, dir.path()).await?;

    let dir = work_dir("fb-footprint-telegram-")?;
    let yaml = "  api_id: 12345\n  api_hash: 0123456789abcdef0123456789abcdef\n";
    let config = test_config::<TelegramBridge>(&yaml, None, dir.path())?;
    measure::<TelegramBridge>("ferrybridge-telegram", config, dir.path()).await?;

    let dir = work_dir("fb-footprint-whatsapp-")?;
    let sessions = dir.path().join("sessions");
    let yaml = format!("  session_dir: {}\n", sessions.display());
    let config = test_config::<WhatsAppBridge>(&yaml, None, dir.path())?;
    measure::<WhatsAppBridge>("ferrybridge-whatsapp", config, dir.path()).await?;
    Ok(())
}
