//! Reconnect pacing: jittered exponential backoff per connection, and a limit on how many
//! connections are being set up at once per network (a restart must not stampede the server).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Exponential backoff with full jitter: the n-th delay is uniform in `[0, min(cap, base·2ⁿ)]`.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    stable_after: Duration,
    attempt: u32,
}

impl Default for Backoff {
    /// Base 1 s, cap 5 min, reset after 5 min connected.
    fn default() -> Self {
        Self::new(
            Duration::from_secs(1),
            Duration::from_secs(300),
            Duration::from_secs(300),
        )
    }
}

impl Backoff {
    /// `stable_after`: how long a connection must last before its drop counts as a fresh start.
    pub fn new(base: Duration, cap: Duration, stable_after: Duration) -> Self {
        Self {
            base,
            cap,
            stable_after,
            attempt: 0,
        }
    }

    /// Failed attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The upper bound of the next delay.
    pub fn ceiling(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(31));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before the next attempt (counts the attempt).
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(&mut rand::rng())
    }

    /// [`Self::next_delay`] with a given random source (for tests).
    pub fn next_delay_with(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.random_range(0..=millis))
    }

    /// Starts over (after a successful, stable connection or a user's `!reconnect`).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Call when a connection that lasted `connected_for` drops: resets if it was stable.
    pub fn on_disconnect(&mut self, connected_for: Duration) {
        if connected_for >= self.stable_after {
            self.reset();
        }
    }
}

/// Limits concurrent connection attempts to one network (`concurrent_connects`).
#[derive(Clone, Debug)]
pub struct ConnectLimiter {
    permits: Arc<Semaphore>,
}

/// Held while a connection is being set up; dropping it lets the next one start.
#[derive(Debug)]
pub struct ConnectPermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl ConnectLimiter {
    /// At most `concurrent` attempts at once (at least 1).
    pub fn new(concurrent: u32) -> Self {
        let n = usize::try_from(concurrent.max(1)).unwrap_or(1);
        Self {
            permits: Arc::new(Semaphore::new(n)),
        }
    }

    /// Waits for a free slot.
    pub async fn acquire(&self) -> ConnectPermit {
        // The semaphore is never closed, so acquiring cannot fail; fall back to a fresh
        // single permit rather than panic if that ever changes.
        match self.permits.clone().acquire_owned().await {
            Ok(p) => ConnectPermit(p),
            Err(_) => ConnectPermit(
                Arc::new(Semaphore::new(1))
                    .acquire_owned()
                    .await
                    .unwrap_or_else(|_| unreachable!("fresh semaphore")),
            ),
        }
    }

    /// A slot if one is free now.
    pub fn try_acquire(&self) -> Option<ConnectPermit> {
        self.permits
            .clone()
            .try_acquire_owned()
            .ok()
            .map(ConnectPermit)
    }

    /// Free slots right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn ceiling_doubles_up_to_cap() {
        let mut b = Backoff::default();
        let mut rng = StdRng::seed_from_u64(7);
        let mut ceilings = Vec::new();
        for _ in 0..12 {
            ceilings.push(b.ceiling().as_secs());
            let d = b.next_delay_with(&mut rng);
            assert!(d <= Duration::from_secs(300));
        }
        assert_eq!(
            ceilings,
            vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
        );
        for _ in 0..100 {
            b.next_delay_with(&mut rng);
        }
        assert_eq!(b.ceiling(), Duration::from_secs(300));
    }

    #[test]
    fn delays_are_jittered_within_bounds() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut b = Backoff::default();
            for _ in 0..5 {
                b.next_delay_with(&mut rng);
            }
            let d = b.next_delay_with(&mut rng);
            assert!(d <= Duration::from_secs(32));
            seen.insert(d);
        }
        assert!(seen.len() > 100, "not jittered: {}", seen.len());
    }

    #[test]
    fn resets_after_stable_connection_only() {
        let mut b = Backoff::default();
        for _ in 0..4 {
            b.next_delay();
        }
        b.on_disconnect(Duration::from_secs(10));
        assert_eq!(b.attempts(), 4);
        b.on_disconnect(Duration::from_secs(301));
        assert_eq!(b.attempts(), 0);
        assert_eq!(b.ceiling(), Duration::from_secs(1));
        b.next_delay();
        b.reset();
        assert_eq!(b.attempts(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_bounds_concurrency() {
        let limiter = ConnectLimiter::new(2);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (l, r, p) = (limiter.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    let _permit = l.acquire().await;
                    let now = r.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    p.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    r.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(limiter.available(), 2);
    }

    #[test]
    fn try_acquire_and_zero_limit() {
        let limiter = ConnectLimiter::new(0);
        let p = limiter.try_acquire();
        assert!(p.is_some());
        assert!(limiter.try_acquire().is_none());
        drop(p);
        assert!(limiter.try_acquire().is_some());
    }
}
