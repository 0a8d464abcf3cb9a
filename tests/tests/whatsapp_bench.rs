//! Benchmark of the WhatsApp bridge with the fake network, through a real Synapse (debug build):
//! relay throughput each way and memory per linked user (bridge side with the fake, and one real
//! whatsapp-rust client per user). Run it with `bridges/whatsapp/benches/run.sh`, or
//! `cargo test --workspace --test whatsapp_bench -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use anyhow::Result;
use ferrybridge_tests::{BridgeEnv, text_body};
use ferrybridge_whatsapp::fake::{FakeWhatsApp, Sent};
use ferrybridge_whatsapp::jid::ChatJid;
use ferrybridge_whatsapp::network::{WaEvent, WaMessage, WaMessageBody, WhatsAppNetwork};
use ferrybridge_whatsapp::{WhatsAppBridge, WhatsAppConfig};
use ruma::OwnedUserId;

const T: Duration = Duration::from_secs(300);

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn whatsapp_relay_benchmark() -> Result<()> {
    let n_in = env_usize("BENCH_IN", 300);
    let n_out = env_usize("BENCH_OUT", 200);
    let n_users = env_usize("BENCH_USERS", 200);
    let n_real = env_usize("BENCH_REAL_CLIENTS", 20);

    let sessions = tempfile::tempdir()?;
    let wa = FakeWhatsApp::new();
    let me = wa.add_contact("+447000000001", "Me");
    let bob = wa.add_contact("+441111111", "Bob");
    let config = WhatsAppConfig {
        session_dir: sessions.path().to_owned(),
        ..Default::default()
    };
    let factory = wa.factory();
    let yaml = format!("  session_dir: {}\n", sessions.path().display());
    let env = BridgeEnv::start(&yaml, None, move |_, host| {
        Ok(WhatsAppBridge::with_factory(config, factory, host))
    })
    .await?;
    let bridge = env.network().expect("the bridge runs");
    let alice = env.user("alice").await?;
    let dm = alice.create_dm(&env.bot()).await?;
    alice
        .wait_for(&dm, Duration::from_secs(30), |ev| {
            text_body(ev).is_some_and(|b| b.contains("help"))
        })
        .await?;
    alice.send_text(&dm, "login").await?;
    alice
        .wait_for(&dm, Duration::from_secs(30), |ev| {
            ev["content"]["msgtype"] == "m.image"
        })
        .await?;
    wa.scan(me.digits()).await;
    alice
        .wait_for(&dm, Duration::from_secs(30), |ev| {
            text_body(ev).is_some_and(|b| b.contains("Successfully logged in"))
        })
        .await?;
    alice.send_text(&dm, "pm +441111111").await?;
    let room = alice.wait_for_invite(Duration::from_secs(30)).await?;
    alice.join(room.as_str()).await?;

    // WhatsApp → Matrix: inject all at once, wait for the last in the room.
    let start = Instant::now();
    for i in 0..n_in {
        let ev = WaEvent::Message(WaMessage {
            id: format!("IN{i}"),
            chat: ChatJid::Direct(bob.clone()),
            sender: bob.clone(),
            from_me: false,
            push_name: None,
            timestamp: 0,
            body: WaMessageBody::Text {
                text: format!("in {i}"),
                reply_to: None,
            },
            expires_in: None,
        });
        wa.inject(&me, ev).await;
    }
    let last = format!("in {}", n_in - 1);
    alice
        .wait_for(&room, T, |ev| text_body(ev) == Some(last.as_str()))
        .await?;
    let in_secs = start.elapsed().as_secs_f64();

    // Matrix → WhatsApp: one client sending one after another; wait until all reached the fake.
    let start = Instant::now();
    for i in 0..n_out {
        alice.send_text(&room, &format!("out {i}")).await?;
    }
    let deadline = Instant::now() + T;
    let count = || {
        wa.sent()
            .iter()
            .filter(|s| matches!(s.what, Sent::Message { .. }))
            .count()
    };
    while count() < n_out && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out_secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(count() >= n_out, "only {} of {n_out} sent", count());

    // Memory per linked user, bridge side: sessions restored from their session files.
    let inner = bridge.inner().clone();
    let before = rss_kib();
    for i in 0..n_users {
        let user: OwnedUserId = format!("@user{i}:{}", env.synapse.server_name()).try_into()?;
        let phone = wa.add_contact(&format!("+4480000{i:05}"), &format!("User {i}"));
        let login = ferrybridge_core::ids::UserLogin::first(user);
        let path = ferrybridge_whatsapp::sessions::session_path(sessions.path(), &login);
        std::fs::write(&path, phone.digits())?;
        ferrybridge_whatsapp::bridge::reconnect(&inner, &login)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let fake_kib = rss_kib().saturating_sub(before) as f64 / n_users as f64;

    // Memory per real whatsapp-rust client (SQLite store + client, dialing a WhatsApp it can't reach).
    let real_dir = tempfile::tempdir()?;
    let before = rss_kib();
    let mut devices = vec![];
    for i in 0..n_real {
        let device =
            ferrybridge_whatsapp::wa::RealDevice::new(&real_dir.path().join(format!("{i}.db")));
        let _rx = device.start_pairing().await;
        devices.push((device, _rx));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let real_kib = rss_kib().saturating_sub(before) as f64 / n_real as f64;
    for (d, _) in &devices {
        d.disconnect().await;
    }

    println!("WHATSAPP BENCH (debug build, fake network, Synapse on localhost, 2 cores)");
    println!(
        "  WhatsApp -> Matrix: {n_in} messages in {in_secs:.2}s = {:.0} msg/s",
        n_in as f64 / in_secs
    );
    println!(
        "  Matrix -> WhatsApp: {n_out} messages in {out_secs:.2}s = {:.0} msg/s (one sequential client)",
        n_out as f64 / out_secs
    );
    println!(
        "  memory per linked user, bridge side (fake device): {fake_kib:.0} KiB ({n_users} users)"
    );
    println!(
        "  memory per whatsapp-rust client (SQLite store, not linked): {real_kib:.0} KiB ({n_real} clients)"
    );
    Ok(())
}
