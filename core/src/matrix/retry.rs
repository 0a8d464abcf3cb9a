//! The one retry policy for every request to the homeserver.
//!
//! [`RetryPolicy::decide`] is a pure function of the attempt number, the time spent so far, what
//! the last attempt returned and a jitter sample, so the policy is tested without a network; the
//! send loop in `transport.rs` is its only caller.

use std::time::Duration;

use http::HeaderMap;

/// How hard to try before giving up on a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included.
    pub max_attempts: u32,
    /// Time budget for one request, waits included: no retry is scheduled past it.
    pub max_total: Duration,
    /// Delay before the first retry of a 5xx or transport failure; doubles per attempt.
    pub base_delay: Duration,
    /// Upper bound of one backoff delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            max_total: Duration::from_secs(30),
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (useful in tests and for fire-and-forget calls).
    pub fn no_retry() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// What one attempt produced, as far as retrying is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: done.
    Success,
    /// 429, with the server's requested wait if it sent one.
    RateLimited { retry_after: Option<Duration> },
    /// 5xx.
    ServerError { status: u16 },
    /// Connection refused, reset, timed out: the request may not have arrived.
    Transport,
    /// Any other 4xx: retrying will not change the answer.
    ClientError { status: u16 },
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Stop: success or a final failure.
    Done,
    /// Wait this long, then try again.
    Retry(Duration),
    /// Retrying is allowed for this outcome, but the attempt or time budget is spent.
    GiveUp,
}

impl RetryPolicy {
    /// Decides after attempt number `attempt` (1-based), `elapsed` since the first attempt began.
    /// `jitter` is a sample in `[0, 1)`; backoff delays are scaled into `[d/2, d)` by it so that
    /// many ghosts hitting the same outage do not retry in lockstep.
    pub fn decide(
        &self,
        attempt: u32,
        elapsed: Duration,
        outcome: &Outcome,
        jitter: f64,
    ) -> Decision {
        let delay = match outcome {
            Outcome::Success | Outcome::ClientError { .. } => return Decision::Done,
            Outcome::RateLimited {
                retry_after: Some(wait),
            } => *wait,
            Outcome::RateLimited { retry_after: None }
            | Outcome::ServerError { .. }
            | Outcome::Transport => self.backoff(attempt, jitter),
        };
        if attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        match elapsed.checked_add(delay) {
            Some(at) if at <= self.max_total => Decision::Retry(delay),
            _ => Decision::GiveUp,
        }
    }

    /// Exponential backoff with jitter for retry number `attempt`.
    fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let raw = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        raw.mul_f64(0.5 + jitter / 2.0)
    }
}

/// The wait a 429 asks for: `retry_after_ms` in the JSON body (Matrix), else the `Retry-After`
/// header in seconds (HTTP; spec v1.10+ prefers it).
pub fn retry_after(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after_ms").and_then(|ms| ms.as_u64()))
        .map(Duration::from_millis);
    from_body.or_else(|| {
        headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    })
}

/// Classifies an HTTP status.
pub fn classify(status: u16, retry_after: Option<Duration>) -> Outcome {
    match status {
        200..=299 => Outcome::Success,
        429 => Outcome::RateLimited { retry_after },
        500..=599 => Outcome::ServerError { status },
        _ => Outcome::ClientError { status },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> RetryPolicy {
        RetryPolicy::default()
    }

    #[test]
    fn success_and_client_errors_are_final() {
        assert_eq!(
            p().decide(1, Duration::ZERO, &Outcome::Success, 0.5),
            Decision::Done
        );
        for status in [400, 401, 403, 404, 409] {
            assert_eq!(
                p().decide(1, Duration::ZERO, &Outcome::ClientError { status }, 0.5),
                Decision::Done
            );
        }
    }

    #[test]
    fn rate_limit_honours_server_wait() {
        let o = Outcome::RateLimited {
            retry_after: Some(Duration::from_millis(1234)),
        };
        assert_eq!(
            p().decide(1, Duration::ZERO, &o, 0.9),
            Decision::Retry(Duration::from_millis(1234))
        );
    }

    #[test]
    fn rate_limit_past_budget_gives_up() {
        let o = Outcome::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(p().decide(1, Duration::ZERO, &o, 0.0), Decision::GiveUp);
        let o = Outcome::RateLimited {
            retry_after: Some(Duration::from_secs(5)),
        };
        assert_eq!(
            p().decide(2, Duration::from_secs(26), &o, 0.0),
            Decision::GiveUp
        );
    }

    #[test]
    fn backoff_grows_exponentially_within_jitter_bounds() {
        let policy = p();
        let mut previous_max = Duration::ZERO;
        for attempt in 1..=5 {
            let lo = policy.decide(attempt, Duration::ZERO, &Outcome::Transport, 0.0);
            let hi = policy.decide(attempt, Duration::ZERO, &Outcome::Transport, 0.999);
            let (Decision::Retry(lo), Decision::Retry(hi)) = (lo, hi) else {
                panic!("expected retries at attempt {attempt}");
            };
            let raw = (policy.base_delay * (1 << (attempt - 1))).min(policy.max_delay);
            assert_eq!(lo, raw / 2);
            assert!(hi < raw && hi > lo);
            assert!(hi >= previous_max / 2);
            previous_max = hi;
        }
    }

    #[test]
    fn backoff_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 100,
            max_total: Duration::from_secs(3600),
            ..p()
        };
        let d = policy.decide(
            40,
            Duration::ZERO,
            &Outcome::ServerError { status: 502 },
            0.999,
        );
        assert!(matches!(d, Decision::Retry(x) if x <= policy.max_delay));
    }

    #[test]
    fn attempts_are_bounded() {
        let o = Outcome::ServerError { status: 500 };
        assert!(matches!(
            p().decide(5, Duration::ZERO, &o, 0.1),
            Decision::Retry(_)
        ));
        assert_eq!(p().decide(6, Duration::ZERO, &o, 0.1), Decision::GiveUp);
        assert_eq!(
            RetryPolicy::no_retry().decide(1, Duration::ZERO, &o, 0.1),
            Decision::GiveUp
        );
    }

    #[test]
    fn total_time_is_bounded() {
        let o = Outcome::Transport;
        assert_eq!(
            p().decide(2, Duration::from_secs(30), &o, 0.1),
            Decision::GiveUp
        );
    }

    #[test]
    fn weird_jitter_does_not_panic() {
        for j in [f64::NAN, f64::INFINITY, -3.0, 7.0] {
            let _ = p().decide(2, Duration::ZERO, &Outcome::Transport, j);
        }
    }

    #[test]
    fn retry_after_prefers_body_then_header() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        let body = br#"{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":1500}"#;
        assert_eq!(retry_after(&h, body), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after(&h, b"not json"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&HeaderMap::new(), b"{}"), None);
    }

    #[test]
    fn classify_statuses() {
        assert_eq!(classify(200, None), Outcome::Success);
        assert_eq!(
            classify(429, None),
            Outcome::RateLimited { retry_after: None }
        );
        assert_eq!(classify(503, None), Outcome::ServerError { status: 503 });
        assert_eq!(classify(404, None), Outcome::ClientError { status: 404 });
    }
}
