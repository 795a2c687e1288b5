//! Exponential backoff with full jitter, for every retry loop in both daemons (edge sync, PLC
//! and Modbus pollers, supervised task restarts, PostgreSQL transaction retries).

use std::hash::BuildHasher;
use std::time::Duration;

/// The delay is uniform in [initial, min(max, initial × 2^attempt)], so many clients retrying
/// after one outage spread out, and none spins below `initial`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff { initial, max: max.max(initial), attempt: 0 }
    }

    pub fn from_millis(initial_ms: u64, max_ms: u64) -> Backoff {
        Backoff::new(Duration::from_millis(initial_ms), Duration::from_millis(max_ms))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.initial.saturating_mul(1u32 << self.attempt.min(20)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let span = u64::try_from((ceiling - self.initial).as_nanos()).unwrap_or(u64::MAX);
        // No random-number crate here; a fresh RandomState is randomly keyed, which is all
        // jitter needs.
        let random = std::collections::hash_map::RandomState::new().hash_one(self.attempt);
        self.initial + Duration::from_nanos(random % span.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_between_initial_and_max_and_starts_over_after_a_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..30 {
            let delay = backoff.next_delay();
            assert!((Duration::from_millis(100)..=Duration::from_secs(1)).contains(&delay), "{delay:?}");
        }
        assert!(backoff.attempt >= 30);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100), "the first delay after a reset is the initial one");
    }
}
