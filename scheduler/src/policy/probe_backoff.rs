//! When a job may re-probe: nodes that refuse its reservations (queues full,
//! draining) double the wait before the next try, from
//! [`INITIAL_PROBE_BACKOFF`] up to [`MAX_PROBE_BACKOFF`]; a placement that
//! no node refused resets it, so a deficit left by declined offers or
//! retries is probed again at once.
//!
//! Pure code: time is passed in.

use std::time::Duration;

use super::placements::Placements;

/// The wait after the first refused placement.
pub const INITIAL_PROBE_BACKOFF: Duration = Duration::from_millis(20);
/// The longest wait between re-probes of a job nodes keep refusing.
pub const MAX_PROBE_BACKOFF: Duration = Duration::from_secs(1);

/// One job's re-probe backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeBackoff {
    next_probe_at: Duration,
    backoff: Duration,
}

impl ProbeBackoff {
    /// A job accepted at `now` may probe at once.
    pub fn new(now: Duration) -> Self {
        Self { next_probe_at: now, backoff: INITIAL_PROBE_BACKOFF }
    }

    /// Every answer to one placement is in at `now`; `refused` if any node
    /// refused some of its reservations. Returns the earliest time to probe
    /// again.
    pub fn placement_answered(&mut self, refused: bool, now: Duration) -> Duration {
        if refused {
            self.next_probe_at = now + self.backoff;
            self.backoff = (self.backoff * 2).min(MAX_PROBE_BACKOFF);
        } else {
            self.backoff = INITIAL_PROBE_BACKOFF;
        }
        self.next_probe_at
    }

    /// Whether the job may re-probe at `now`.
    pub fn ready(&self, now: Duration) -> bool {
        now >= self.next_probe_at
    }

    /// Whether a job may place its deficit again at `now`: no placement of
    /// it in flight (their answers are not in yet) and the backoff passed.
    pub fn may_reprobe(&self, placements: &Placements, now: Duration) -> bool {
        placements.in_flight() == 0 && self.ready(now)
    }

    /// The earliest time to re-probe.
    pub fn next_probe_at(&self) -> Duration {
        self.next_probe_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn refusals_double_the_wait_up_to_the_cap() {
        let mut backoff = ProbeBackoff::new(Duration::ZERO);
        assert!(backoff.ready(Duration::ZERO));
        let mut now = Duration::ZERO;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let next = backoff.placement_answered(true, now);
            assert!(!backoff.ready(now), "a refusal delays the next probe");
            waits.push((next - now).as_millis());
            now = next;
            assert!(backoff.ready(now));
        }
        assert_eq!(waits, vec![20, 40, 80, 160, 320, 640, 1000, 1000]);
    }

    #[test]
    fn a_placement_without_refusal_resets_the_wait_and_probes_at_once() {
        let mut backoff = ProbeBackoff::new(Duration::ZERO);
        backoff.placement_answered(true, Duration::ZERO);
        backoff.placement_answered(true, 20 * MS);
        let next = backoff.placement_answered(false, 60 * MS);
        assert!(backoff.ready(60 * MS), "nothing refused: probe again at once");
        assert_eq!(next, 60 * MS, "the last wait has passed");
        assert_eq!(backoff.placement_answered(true, 100 * MS), 120 * MS, "back to the initial wait");
    }

    #[test]
    fn no_reprobe_while_a_placement_is_in_flight_or_the_wait_runs() {
        let mut backoff = ProbeBackoff::new(Duration::ZERO);
        let mut placements = Placements::new(1);
        assert!(backoff.may_reprobe(&placements, Duration::ZERO));
        let ticket = placements.start();
        assert!(!backoff.may_reprobe(&placements, Duration::ZERO), "answers still due");
        placements.finish(ticket);
        backoff.placement_answered(true, Duration::ZERO);
        assert!(!backoff.may_reprobe(&placements, 19 * MS));
        assert!(backoff.may_reprobe(&placements, 20 * MS));
    }
}
