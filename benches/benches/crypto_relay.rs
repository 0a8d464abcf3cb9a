//! Relay throughput and memory with end-to-bridge encryption, next to the same run without it.
//!
//! Each mode runs in its own child process (so one mode's memory does not hide the other's):
//! the core with the loopback echo network against the stand-in homeserver, whose key server
//! (`ferrybridge_tests::bench_keys`) holds device keys, one-time keys and to-device messages.
//! An OlmMachine in the benchmark plays the Matrix user's client.
//!
//! - Matrix → network: the client encrypts every message beforehand (its cost is not the
//!   bridge's); transactions of 50 events are PUT to the bridge; the clock stops when the
//!   network has been handed every message, decrypted.
//! - Network → Matrix: the network queues messages; the clock stops when the homeserver has
//!   received every send (encrypted, in encrypted mode; one is decrypted by the client to check).
//! - Memory per portal: RSS growth over `BENCH_PORTALS` new portals with one message each.
//!
//! Run: `cargo bench -p ferrybridge-benches --bench crypto_relay` (env BENCH_MESSAGES, default
//! 5000; BENCH_PORTALS, default 1000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrybridge_benches::{cpu_secs, rss_kib, wait};
use ferrybridge_core::events::{MessageContent, RemoteEvent, RemoteEventKind};
use ferrybridge_core::ids::{PortalKey, RemoteMessageId, RemoteUserId};
use ferrybridge_tests::bench_hs::BenchHomeserver;
use ferrybridge_tests::echo::EchoBridge;
use ferrybridge_tests::olm_http::{self, Endpoint};
use matrix_sdk_crypto::{
    DecryptionSettings, EncryptionSettings, EncryptionSyncChanges, OlmMachine, TrustRequirement,
};
use serde_json::{Value, json};

const USER: &str = "@user:bench";
const USER_DEVICE: &str = "BENCHDEV";
const BOT_DEVICE: &str = "FERRYBRIDGE";

fn main() -> anyhow::Result<()> {
    match std::env::var("BENCH_MODE").ok().as_deref() {
        Some(mode) => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(run(mode == "encrypted"))
        }
        None => {
            let n = env_or("BENCH_MESSAGES", 5_000);
            let portals = env_or("BENCH_PORTALS", 1_000);
            println!(
                "crypto relay benchmark: {n} messages each way, {portals} portals for memory, SQLite store, 2-core machine"
            );
            for mode in ["plaintext", "encrypted"] {
                let status = std::process::Command::new(std::env::current_exe()?)
                    .env("BENCH_MODE", mode)
                    .status()?;
                anyhow::ensure!(status.success(), "{mode} run failed");
            }
            Ok(())
        }
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(encrypted: bool) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n = env_or("BENCH_MESSAGES", 5_000);
    let portals = env_or("BENCH_PORTALS", 1_000);
    let hs = BenchHomeserver::start().await?;
    let dir = tempfile::tempdir()?;
    let port = ferrybridge_tests::free_port()?;
    let mut config = ferrybridge_benches::echo_config(&hs.url(), port, dir.path(), "error")?;
    config.encryption.allow = encrypted;
    let bot = format!("@{}:bench", config.appservice.bot.username);
    if encrypted {
        hs.counters.keys.enable(vec![USER.into(), bot.clone()]);
    }
    let client = Client::new(&hs).await?;
    let url = format!("http://127.0.0.1:{port}/_matrix/app/v1/transactions");
    let token = config.appservice.hs_token.clone();
    if encrypted {
        tokio::spawn(forward_to_device(
            hs.counters.clone(),
            client.clone(),
            url.clone(),
            token.clone(),
            bot.clone(),
        ));
    }
    let echo = ferrybridge_benches::quiet_echo();
    let running = ferrybridge_core::start_with(config.clone(), move |_, host| {
        Ok(EchoBridge::build(echo, host))
    })
    .await?;
    let host = running.host().clone();
    let net = running.network().clone();
    let key = PortalKey::shared("bench");
    let portal = host.portals().get_or_create(&key, &*net).await?;
    let room = portal.room_id().to_string();
    let mode = if encrypted { "encrypted" } else { "plaintext" };

    // Memory per portal first (before the throughput runs leave freed heap behind to reuse):
    // new portals with one message each. Their only member besides the ghosts is the bot, so
    // no client in this process grows with them: what is measured is the bridge's own state
    // per encrypted room (Megolm sessions both ways, their store rows and caches). A member's
    // device adds an Olm-encrypted to-device message when the key is shared, kept nowhere.
    hs.counters.keys.set_members(vec![bot.clone()]);
    let rss0 = rss_kib();
    let before = hs.sent();
    for p in 0..portals {
        let key = PortalKey::shared(format!("mem{p}"));
        host.portals().get_or_create(&key, &*net).await?;
        host.send(remote(&key, &format!("m{p}"), "hello")).await;
    }
    wait(
        || hs.sent() >= before + portals as u64,
        Duration::from_secs(600),
    )
    .await?;
    hs.counters.keys.set_members(vec![USER.into(), bot.clone()]);
    let grown = rss_kib().saturating_sub(rss0);
    println!(
        "{mode:>9} memory: {:.1} KiB per portal ({portals} portals with one message each), RSS {} MiB",
        grown as f64 / portals as f64,
        rss_kib() / 1024
    );

    // Matrix → network.
    let contents: Vec<Value> = (0..n)
        .map(|i| json!({"msgtype": "m.text", "body": format!("message {i}")}))
        .collect();
    let (kind, contents) = if encrypted {
        client.share_with(&room, &bot).await?;
        let mut encrypted = Vec::with_capacity(n);
        for c in &contents {
            encrypted.push(client.encrypt(&room, c).await?);
        }
        // The room key travels as a to-device message; let it arrive first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        ("m.room.encrypted", encrypted)
    } else {
        ("m.room.message", contents)
    };
    let http = reqwest::Client::new();
    let cpu0 = cpu_secs();
    let start = Instant::now();
    for (t, chunk) in contents.chunks(50).enumerate() {
        let base = t * 50;
        let events: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(j, content)| {
                json!({"event_id": format!("$bench-{}", base + j), "room_id": room,
                "sender": USER, "type": kind, "origin_server_ts": 0, "content": content})
            })
            .collect();
        put_until_accepted(
            &http,
            &format!("{url}/b{t}"),
            &token,
            &json!({"events": events}),
        )
        .await?;
    }
    wait(|| net.seen_count() >= n, Duration::from_secs(600)).await?;
    let (secs, cpu) = (start.elapsed().as_secs_f64(), cpu_secs() - cpu0);
    println!(
        "{mode:>9} matrix -> network: {:>7.0} msg/s  CPU {:.3} ms/msg (bench process)  ({n} in 50-event transactions, {secs:.2} s)",
        n as f64 / secs,
        cpu * 1000.0 / n as f64
    );

    // Network → Matrix.
    let before = hs.sent();
    let cpu0 = cpu_secs();
    let start = Instant::now();
    for i in 0..n {
        host.send(remote(&key, &format!("r{i}"), &format!("remote {i}")))
            .await;
    }
    wait(|| hs.sent() >= before + n as u64, Duration::from_secs(600)).await?;
    let (secs, cpu) = (start.elapsed().as_secs_f64(), cpu_secs() - cpu0);
    println!(
        "{mode:>9} network -> matrix: {:>7.0} msg/s  CPU {:.3} ms/msg (bench process)  ({n} from 20 ghosts, {secs:.2} s)",
        n as f64 / secs,
        cpu * 1000.0 / n as f64
    );
    if encrypted {
        // Check: the client decrypts what the bridge sent.
        hs.record(true);
        host.send(remote(&key, "check", "can you read me")).await;
        wait(|| hs.sent() > before + n as u64, Duration::from_secs(60)).await?;
        hs.record(false);
        let (_, body) = hs
            .take_recorded()
            .pop()
            .ok_or_else(|| anyhow::anyhow!("nothing recorded"))?;
        // Its key may still be on its way (a to-device message, forwarded every 2 ms).
        let mut plain = Err(anyhow::anyhow!("not tried"));
        for _ in 0..50 {
            plain = client.decrypt(&room, &body).await;
            if plain.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let plain = plain?;
        anyhow::ensure!(plain == "can you read me", "decrypted {plain:?}");
    }

    running.stop().await;
    Ok(())
}

fn remote(key: &PortalKey, id: &str, text: &str) -> RemoteEvent {
    let n: usize = id.bytes().map(usize::from).sum();
    RemoteEvent {
        portal: key.clone(),
        kind: RemoteEventKind::Message {
            id: RemoteMessageId::new(id),
            sender: RemoteUserId::new(format!("user{}", n % 20)),
            content: MessageContent::text(text),
            reply_to: None,
            sent_at: None,
        },
    }
}

async fn put_until_accepted(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> anyhow::Result<()> {
    loop {
        let resp = http.put(url).bearer_auth(token).json(body).send().await?;
        if resp.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        anyhow::ensure!(resp.status().is_success(), "refused: {}", resp.status());
        return Ok(());
    }
}

/// Plays the homeserver's part for to-device messages: what waits for the bridge's device goes
/// to the bridge in a transaction (with its key counts), what waits for the client to it.
async fn forward_to_device(
    counters: Arc<ferrybridge_tests::bench_hs::BenchCounters>,
    client: Client,
    url: String,
    token: String,
    bot: String,
) {
    let http = reqwest::Client::new();
    for t in 0.. {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let for_bot = counters.keys.take_inbox(&bot, BOT_DEVICE);
        if !for_bot.is_empty() {
            let body = json!({"events": [], "de.sorunome.msc2409.to_device": for_bot,
                "org.matrix.msc3202.device_one_time_keys_count": {&bot: {BOT_DEVICE: {"signed_curve25519": 50}}}});
            let _ = put_until_accepted(&http, &format!("{url}/td{t}"), &token, &body).await;
        }
        let for_client = counters.keys.take_inbox(USER, USER_DEVICE);
        if !for_client.is_empty() {
            let _ = client.receive(for_client).await;
        }
    }
}

/// The Matrix user's client: an OlmMachine talking to the stand-in's key server.
#[derive(Clone)]
struct Client {
    machine: Arc<OlmMachine>,
    to: Endpoint,
}

fn settings() -> DecryptionSettings {
    DecryptionSettings {
        sender_device_trust_requirement: TrustRequirement::Untrusted,
    }
}

impl Client {
    async fn new(hs: &BenchHomeserver) -> anyhow::Result<Self> {
        let user = ruma16::UserId::parse(USER)?;
        let machine = OlmMachine::new(&user, USER_DEVICE.into()).await;
        let to = Endpoint {
            http: reqwest::Client::new(),
            base: hs.url(),
            token: "bench".into(),
            query: vec![
                ("user_id".into(), USER.into()),
                ("device_id".into(), USER_DEVICE.into()),
            ],
        };
        Ok(Self {
            machine: Arc::new(machine),
            to,
        })
    }

    /// Shares the room key with the bot's device (Olm session first).
    async fn share_with(&self, room: &str, bot: &str) -> anyhow::Result<()> {
        olm_http::pump(&self.machine, &self.to).await?;
        let room = ruma16::RoomId::parse(room)?;
        let users = [ruma16::UserId::parse(USER)?, ruma16::UserId::parse(bot)?];
        let iter = || users.iter().map(|u| &**u);
        self.machine.update_tracked_users(iter()).await?;
        olm_http::pump(&self.machine, &self.to).await?;
        if let Some((id, req)) = self.machine.get_missing_sessions(iter()).await? {
            let resp = olm_http::send(&self.to, req).await?;
            self.machine.mark_request_as_sent(&id, &resp).await?;
        }
        for req in self
            .machine
            .share_room_key(
                &room,
                iter(),
                // One session for the whole run: the client shares once, up front.
                EncryptionSettings {
                    rotation_period_msgs: 10_000_000,
                    ..Default::default()
                },
            )
            .await?
        {
            olm_http::to_device(&self.machine, &self.to, &req.txn_id, &req).await?;
        }
        Ok(())
    }

    async fn encrypt(&self, room: &str, content: &Value) -> anyhow::Result<Value> {
        let room = ruma16::RoomId::parse(room)?;
        let raw = ruma16::serde::Raw::from_json(serde_json::value::to_raw_value(content)?);
        let out = self
            .machine
            .encrypt_room_event_raw(&room, "m.room.message", &raw)
            .await?;
        Ok(serde_json::from_str(out.content.json().get())?)
    }

    async fn receive(&self, events: Vec<Value>) -> anyhow::Result<()> {
        let raws = events
            .iter()
            .map(|e| {
                Ok(ruma16::serde::Raw::from_json(
                    serde_json::value::to_raw_value(e)?,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let lists = Default::default();
        let counts = Default::default();
        self.machine
            .receive_sync_changes(
                EncryptionSyncChanges {
                    to_device_events: raws,
                    changed_devices: &lists,
                    one_time_keys_counts: &counts,
                    unused_fallback_keys: None,
                    next_batch_token: None,
                },
                &settings(),
            )
            .await?;
        Ok(())
    }

    /// Decrypts a recorded send (its body is the encrypted content); returns the text.
    async fn decrypt(&self, room: &str, content: &Value) -> anyhow::Result<String> {
        let event = json!({"type": "m.room.encrypted", "content": content, "sender": "@ghost:bench",
            "event_id": "$check", "origin_server_ts": 0, "room_id": room});
        let raw = ruma16::serde::Raw::from_json(serde_json::value::to_raw_value(&event)?);
        let room = ruma16::RoomId::parse(room)?;
        let d = self
            .machine
            .decrypt_room_event(&raw, &room, &settings())
            .await?;
        let v: Value = serde_json::from_str(d.event.json().get())?;
        Ok(v["content"]["body"].as_str().unwrap_or_default().to_owned())
    }
}
