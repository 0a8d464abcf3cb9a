//! Keeping a Telegram update stream alive: an error is not the end of the stream. grammers
//! keeps the update state (pts/qts/seq) inside the stream, so the next successful `next()`
//! catches up with `getDifference` on everything that happened in between; until then the
//! pump waits with jittered exponential backoff and tells the core once that the connection
//! is interrupted, and once that it is back.

use std::time::Duration;

use crate::network::TgUpdate;

/// First wait after a failure; doubles up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// Longest wait between attempts.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// The pump's view of the stream's health.
#[derive(Debug, Default)]
pub(crate) struct Resilience {
    /// Failures in a row (0 while healthy).
    failures: u32,
}

impl Resilience {
    /// After a failed `next()`: the update to hand on (only for the first failure of an
    /// outage) and how long to wait before trying again. `jitter` is in `0.0..1.0`.
    pub fn failed(&mut self, reason: &str, jitter: f64) -> (Option<TgUpdate>, Duration) {
        let first = self.failures == 0;
        self.failures = self.failures.saturating_add(1);
        let ceiling = FIRST_WAIT
            .saturating_mul(1u32 << (self.failures - 1).min(16))
            .min(MAX_WAIT);
        // "Equal jitter": half the ceiling plus a random share of the other half.
        let wait = ceiling / 2 + ceiling.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        let told = first.then(|| TgUpdate::StreamInterrupted {
            reason: reason.to_owned(),
        });
        (told, wait)
    }

    /// After a successful `next()`: [`TgUpdate::StreamResumed`] if an outage just ended.
    pub fn succeeded(&mut self) -> Option<TgUpdate> {
        let was_down = self.failures > 0;
        self.failures = 0;
        was_down.then_some(TgUpdate::StreamResumed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_told_once_backs_off_and_ends_with_resumed() {
        let mut r = Resilience::default();
        assert_eq!(r.succeeded(), None, "healthy stays quiet");
        let (told, wait) = r.failed("connection reset", 0.0);
        assert_eq!(
            told,
            Some(TgUpdate::StreamInterrupted {
                reason: "connection reset".into()
            })
        );
        assert_eq!(wait, Duration::from_millis(500));
        let waits: Vec<Duration> = (0..10)
            .map(|_| r.failed("again", 1.0))
            .map(|(told, w)| {
                assert_eq!(told, None, "told only once per outage");
                w
            })
            .collect();
        assert_eq!(waits[0], Duration::from_secs(2));
        assert_eq!(waits[1], Duration::from_secs(4));
        assert!(waits.iter().all(|w| *w <= MAX_WAIT));
        assert_eq!(*waits.last().unwrap(), MAX_WAIT);
        assert_eq!(r.succeeded(), Some(TgUpdate::StreamResumed));
        assert_eq!(r.succeeded(), None);
        // The next outage starts from the first wait again.
        assert_eq!(r.failed("x", 0.0).1, Duration::from_millis(500));
    }
}
