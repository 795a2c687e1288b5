//! Exponential backoff with full jitter, for every retry loop on the edge (sync with central,
//! station PLCs, Modbus robots).

use rand::Rng;
use std::time::Duration;

/// Exponential backoff with jitter: the delay is uniform in [initial, min(max, initial × 2^attempt)],
/// so many edges reconnecting after an HQ outage spread out, and none spins below `initial`.
pub struct Backoff {
    initial_ms: u64,
    max_ms: u64,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial_ms: u64, max_ms: u64) -> Backoff {
        Backoff { initial_ms, max_ms, attempt: 0 }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.initial_ms.saturating_mul(1u64 << self.attempt.min(20)).min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(rand::thread_rng().gen_range(self.initial_ms.min(ceiling)..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_resets() {
        let mut b = Backoff::new(100, 1_000);
        for _ in 0..30 {
            let d = b.next_delay();
            assert!(d <= Duration::from_millis(1_000));
            assert!(d >= Duration::from_millis(100));
        }
        assert!(b.attempt >= 30);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
