//! Operations against a real Synapse through the echo network: `/metrics` counts what really
//! happened, `/health` and `/ready` answer on the metrics listener and on the appservice
//! listener, and `/ready` turns 503 naming the homeserver once Synapse is stopped.

use std::time::Duration;

use anyhow::{Context, Result};
use ferrybridge_core::bridge::Bridge;
use ferrybridge_core::operations::CACHE_TTL;
use ferrybridge_tests::bot_chat::{bot_dm, command, is_notice_containing};
use ferrybridge_tests::echo::{EchoBridge, EchoConfig};
use ferrybridge_tests::{BridgeEnv, free_port, text_body};
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

/// The value of `series` (name with labels, as exposed) in a scrape, 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn get(http: &reqwest::Client, url: &str) -> Result<(u16, String)> {
    let resp = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await?))
}

#[tokio::test]
async fn metrics_health_and_readiness_follow_the_homeserver() -> Result<()> {
    // The metrics listener on (the example config ships it off).
    let metrics_port = free_port()?;
    let mut env = BridgeEnv::start_tuned(
        &<EchoConfig as ferrybridge_core::config::NetworkConfig>::example_yaml(),
        None,
        |c| {
            c.metrics.enabled = true;
            c.metrics.listen = format!("127.0.0.1:{metrics_port}");
        },
        EchoBridge::init,
    )
    .await?;
    let metrics_base = format!("http://127.0.0.1:{metrics_port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()?;

    // A message through the bridge, both ways.
    let alice = env.user("alice").await?;
    let dm = bot_dm(&env, &alice).await?;
    let reply = command(&alice, &dm, "open lobby").await?;
    anyhow::ensure!(reply.starts_with("Invited you to"), "{reply}");
    let room = alice.wait_for_invite(T).await?;
    alice.join(room.as_str()).await?;
    alice.send_text(&room, "hello metrics").await?;
    alice
        .wait_for(&room, T, |ev| text_body(ev) == Some("echo: hello metrics"))
        .await?;
    // One the network refuses: the sender gets a notice, the metrics a failure.
    alice.send_text(&room, "please fail").await?;
    alice
        .wait_for(&room, T, |ev| is_notice_containing(ev, "not delivered"))
        .await?;

    let (status, text) = get(&http, &format!("{metrics_base}/metrics")).await?;
    assert_eq!(status, 200);
    for series in [
        r#"ferrybridge_transactions_total{outcome="accepted"}"#,
        r#"ferrybridge_events_total{network="echo",direction="matrix_to_network"}"#,
        r#"ferrybridge_events_total{network="echo",direction="network_to_matrix"}"#,
        "ferrybridge_homeserver_request_duration_seconds_count",
        r#"ferrybridge_db_query_duration_seconds_count{op="record_transaction"}"#,
        r#"ferrybridge_delivery_failures_total{network="echo",reason="network_permanent"}"#,
    ] {
        assert!(
            sample(&text, series) >= 1.0,
            "{series} not counted in:\n{text}"
        );
    }
    // Families with fixed labels show even at 0; per-network connection states appear once a
    // network reports them (the echo network has no connection).
    for name in [
        "ferrybridge_portal_queue_depth",
        "ferrybridge_homeserver_request_errors_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{text}"
        );
    }

    let appservice_base = env.appservice_url();
    for base in [&metrics_base, &appservice_base] {
        assert_eq!(
            get(&http, &format!("{base}/health")).await?,
            (200, "ok".into())
        );
        let (status, body) = get(&http, &format!("{base}/ready")).await?;
        assert_eq!(status, 200, "{base}/ready: {body}");
    }

    // The homeserver goes away: /ready says so within the cache window, /health stays up.
    std::sync::Arc::get_mut(&mut env.synapse)
        .context("only this test holds its Synapse")?
        .stop();
    let url = format!("{metrics_base}/ready");
    let stopped = std::time::Instant::now();
    let deadline = stopped + CACHE_TTL + Duration::from_secs(10);
    let last = loop {
        let answer = get(&http, &url).await;
        match answer {
            Ok((503, body)) => break body,
            other if std::time::Instant::now() > deadline => {
                anyhow::bail!("/ready never turned 503; last answer: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    eprintln!(
        "/ready turned 503 {:?} after Synapse stopped",
        stopped.elapsed()
    );
    let report: Value = serde_json::from_str(&last)?;
    assert_eq!(report["ready"], false, "{report}");
    assert_eq!(
        report["failed"],
        serde_json::json!(["homeserver"]),
        "{report}"
    );
    assert_eq!(report["checks"]["database"], "ok", "{report}");
    let (status, body) = get(&http, &format!("{appservice_base}/ready")).await?;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        get(&http, &format!("{metrics_base}/health")).await?,
        (200, "ok".into())
    );
    let (_, text) = get(&http, &format!("{metrics_base}/metrics")).await?;
    assert!(
        sample(
            &text,
            r#"ferrybridge_homeserver_request_errors_total{kind="transport"}"#
        ) >= 1.0,
        "the failed probe is a transport error:\n{text}"
    );

    env.stop().await;
    Ok(())
}
