//! Outgoing flood control: servers disconnect clients that send too fast ("Excess Flood"), so
//! every line a connection sends first takes a token from this bucket.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::FloodConfig;

/// A token bucket: `burst` lines back to back, refilled at `per_second` lines per second.
#[derive(Debug)]
pub struct FloodControl {
    burst: f64,
    per_second: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl FloodControl {
    /// A full bucket. A burst below 1 is taken as 1; a rate that is not a positive finite number
    /// means "no limit" (the config validation rejects such values earlier).
    pub fn new(burst: u32, per_second: f64) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            burst,
            per_second,
            state: Mutex::new(Bucket {
                tokens: burst,
                updated: Instant::now(),
            }),
        }
    }

    /// From the network's `flood` config.
    pub fn from_config(config: &FloodConfig) -> Self {
        Self::new(config.burst, config.per_second)
    }

    fn unlimited(&self) -> bool {
        !(self.per_second.is_finite() && self.per_second > 0.0)
    }

    /// Takes a token now, or says how long until one is available.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        if self.unlimited() {
            return Ok(());
        }
        // A poisoned lock only means another sender panicked mid-update; the numbers are
        // still usable.
        let mut bucket = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_second;
            Err(Duration::from_secs_f64(wait).max(Duration::from_millis(1)))
        }
    }

    /// Waits until a token is available and takes it.
    pub async fn acquire(&self) {
        while let Err(wait) = self.try_acquire() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_steady_rate() {
        let flood = FloodControl::new(5, 2.0);
        for _ in 0..5 {
            assert_eq!(flood.try_acquire(), Ok(()));
        }
        let wait = flood.try_acquire().unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 0.01, "{wait:?}");
        let start = Instant::now();
        for _ in 0..4 {
            flood.acquire().await;
        }
        let took = start.elapsed().as_secs_f64();
        assert!((took - 2.0).abs() < 0.05, "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn refills_up_to_burst_only() {
        let flood = FloodControl::new(3, 1.0);
        for _ in 0..3 {
            flood.acquire().await;
        }
        tokio::time::advance(Duration::from_secs(100)).await;
        for _ in 0..3 {
            assert!(flood.try_acquire().is_ok());
        }
        assert!(flood.try_acquire().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn shared_between_tasks() {
        let flood = std::sync::Arc::new(FloodControl::new(1, 10.0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..11)
            .map(|_| {
                let f = flood.clone();
                tokio::spawn(async move { f.acquire().await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let took = start.elapsed().as_secs_f64();
        assert!((took - 1.0).abs() < 0.05, "{took}");
    }

    #[test]
    fn odd_parameters_do_not_hang_or_panic() {
        let unlimited = FloodControl::new(0, 0.0);
        for _ in 0..100 {
            assert!(unlimited.try_acquire().is_ok());
        }
        let nan = FloodControl::new(1, f64::NAN);
        assert!(nan.try_acquire().is_ok());
        let zero_burst = FloodControl::from_config(&FloodConfig {
            burst: 0,
            per_second: 1.0,
        });
        assert!(zero_burst.try_acquire().is_ok());
        assert!(zero_burst.try_acquire().is_err());
    }
}
