//! Small polling and port helpers shared by the harness and the tests.

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Where test ports come from: below Linux's ephemeral range (32768–60999), so an outgoing
/// connection never takes a port a test server released and binds again (a bridge restarted on
/// the same appservice port), and above the well-known services.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A TCP port on 127.0.0.1 that was free a moment ago. Ports are handed out in turn from
/// [`TEST_PORTS`], starting at a place that differs per process, so concurrent test binaries
/// rarely probe the same ones; another process may still grab it before you bind it.
pub fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    if NEXT.load(Ordering::Relaxed) == u32::MAX {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = (std::process::id().wrapping_mul(7919) ^ nanos) % span;
        let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::Relaxed, Ordering::Relaxed);
    }
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % span;
        let port = TEST_PORTS.start + n as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port in {TEST_PORTS:?}")
}

/// Polls `check` every 100 ms until it returns true; errors after `timeout`.
/// Prefer this over fixed sleeps: it is both faster and less flaky.
pub async fn wait_until<F, Fut>(timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().unwrap();
        assert!(port > 0);
        TcpListener::bind(("127.0.0.1", port)).unwrap();
    }

    #[tokio::test]
    async fn wait_until_succeeds_and_times_out() {
        let mut n = 0;
        wait_until(Duration::from_secs(2), || {
            n += 1;
            let done = n >= 3;
            async move { done }
        })
        .await
        .unwrap();
        let err = wait_until(Duration::from_millis(150), || async { false }).await;
        assert!(err.is_err());
    }
}
