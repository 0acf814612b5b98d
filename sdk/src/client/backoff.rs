//! Capped exponential backoff with full jitter, and reading a server's
//! `retry-after-ms` hint from a status. The one backoff of the project: the
//! clients' retries, an executor reattaching, a node monitor restarting its
//! executors and a server re-registering with Consul all use it. (backon's
//! exponential backoff was weighed: its jitter adds up to one more delay on
//! top, so delays overshoot the cap by up to 2x; full jitter within the cap
//! spreads retrying clients best, and a seeded RNG keeps the tests exact.)

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Delays between retries: the n-th delay is drawn uniformly from
/// `0..=min(max, initial * 2^n)` ("full jitter"), so many clients backing
/// off at once spread out instead of retrying in lockstep.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    floor: Duration,
    attempt: u32,
    rng: SmallRng,
}

impl Backoff {
    /// A backoff starting at `initial` and never exceeding `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self::with_rng(initial, max, SmallRng::from_rng(&mut rand::rng()))
    }

    /// A backoff drawing its jitter from `rng` (seeded in tests).
    pub fn with_rng(initial: Duration, max: Duration, rng: SmallRng) -> Self {
        debug_assert!(initial <= max, "initial backoff above max");
        Self { initial, max, floor: Duration::ZERO, attempt: 0, rng }
    }

    /// No delay shorter than `floor` (at most `initial`): jitter is drawn
    /// from `floor..=ceiling`, for waits that must not be instant, such as
    /// restarting a crashed process.
    pub fn with_floor(mut self, floor: Duration) -> Self {
        self.floor = floor.min(self.initial);
        self
    }

    /// The ceiling of the next delay, before jitter.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The next delay; each call doubles the ceiling until it reaches `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let ceiling_micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        let floor_micros = u64::try_from(self.floor.as_micros()).unwrap_or(u64::MAX).min(ceiling_micros);
        Duration::from_micros(self.rng.random_range(floor_micros..=ceiling_micros))
    }

    /// Starts over from `initial` (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// The delay a `RESOURCE_EXHAUSTED` status asks for in its
/// `retry-after-ms` metadata entry, if it carries a valid one.
pub(crate) fn retry_after(status: &tonic::Status) -> Option<Duration> {
    let value = status.metadata().get(passer_proto::RETRY_AFTER_METADATA)?;
    let millis: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_below_it() {
        let rng = SmallRng::seed_from_u64(7);
        let mut backoff = Backoff::with_rng(Duration::from_millis(20), Duration::from_millis(100), rng);
        let ceilings: Vec<Duration> = (0..5)
            .map(|_| {
                let ceiling = backoff.ceiling();
                let delay = backoff.next_delay();
                assert!(delay <= ceiling, "{delay:?} above {ceiling:?}");
                ceiling
            })
            .collect();
        let millis: Vec<u128> = ceilings.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, vec![20, 40, 80, 100, 100]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(20));
    }

    #[test]
    fn a_floor_keeps_every_delay_at_or_above_it() {
        let rng = SmallRng::seed_from_u64(11);
        let mut backoff = Backoff::with_rng(Duration::from_millis(100), Duration::from_secs(10), rng)
            .with_floor(Duration::from_millis(50));
        for _ in 0..200 {
            let delay = backoff.next_delay();
            assert!(delay >= Duration::from_millis(50) && delay <= Duration::from_secs(10), "{delay:?}");
            backoff.reset();
        }
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        for _ in 0..100 {
            assert!(backoff.next_delay() <= Duration::from_secs(5));
        }
    }

    #[test]
    fn retry_after_reads_metadata() {
        let mut status = tonic::Status::resource_exhausted("full");
        assert_eq!(retry_after(&status), None);
        status.metadata_mut().insert(passer_proto::RETRY_AFTER_METADATA, "250".parse().unwrap());
        assert_eq!(retry_after(&status), Some(Duration::from_millis(250)));
        status.metadata_mut().insert(passer_proto::RETRY_AFTER_METADATA, "soon".parse().unwrap());
        assert_eq!(retry_after(&status), None);
    }
}
