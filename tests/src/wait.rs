//! Small polling and port helpers shared by the harness and the tests.

use std::future::Future;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
/// Another process may grab it before you bind it: callers that start servers retry on failure.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
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
