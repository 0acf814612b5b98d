//! Schedulers this node monitor no longer trusts to answer: one whose
//! GetTask went unanswered past its deadline is *suspect* for a while, and
//! its reservations are skipped (kept, not redeemed) until then, so a frozen
//! or unreachable scheduler never holds slots other schedulers could use
//! (Sparrow's schedulers are independent). When the suspicion lapses the
//! scheduler is on probation: one reservation at a time is tried again
//! ([`Suspects::allowance`], [`Suspects::probing`]); each further silence
//! doubles the wait (up to a cap), and any answer from the scheduler clears
//! it.
//!
//! Pure code: no I/O, no clock; time is passed in.

use std::collections::HashMap;
use std::time::Duration;

/// Most schedulers remembered at once; lapsed ones go first.
const MAX_SUSPECTS: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Suspicion {
    until: Duration,
    wait: Duration,
}

/// The suspect schedulers, with how long each stays suspect.
#[derive(Debug)]
pub struct Suspects {
    first_wait: Duration,
    max_wait: Duration,
    by_scheduler: HashMap<String, Suspicion>,
}

impl Suspects {
    /// A scheduler's first silence makes it suspect for `first_wait`; each
    /// further one doubles that, up to `max_wait`.
    pub fn new(first_wait: Duration, max_wait: Duration) -> Self {
        debug_assert!(first_wait <= max_wait);
        Self { first_wait, max_wait, by_scheduler: HashMap::new() }
    }

    /// `scheduler` left a GetTask unanswered past its deadline: suspect it
    /// from `now`. Returns how long it stays suspect.
    pub fn mark(&mut self, scheduler: &str, now: Duration) -> Duration {
        if self.by_scheduler.len() >= MAX_SUSPECTS && !self.by_scheduler.contains_key(scheduler) {
            self.by_scheduler.retain(|_, suspicion| suspicion.until > now);
            if self.by_scheduler.len() >= MAX_SUSPECTS {
                self.by_scheduler.clear();
            }
        }
        let (first_wait, max_wait) = (self.first_wait, self.max_wait);
        let suspicion = self
            .by_scheduler
            .entry(scheduler.to_owned())
            .and_modify(|suspicion| {
                // A silence while already suspect (requests sent before the
                // first timed out) does not lengthen the wait again.
                if suspicion.until <= now {
                    suspicion.wait = (suspicion.wait * 2).min(max_wait);
                }
            })
            .or_insert(Suspicion { until: now, wait: first_wait });
        suspicion.until = suspicion.until.max(now + suspicion.wait);
        suspicion.wait
    }

    /// The scheduler answered: it is trusted again.
    pub fn clear(&mut self, scheduler: &str) -> bool {
        self.by_scheduler.remove(scheduler).is_some()
    }

    /// True while `scheduler`'s reservations must be skipped.
    pub fn is_suspect(&self, scheduler: &str, now: Duration) -> bool {
        self.by_scheduler.get(scheduler).is_some_and(|suspicion| suspicion.until > now)
    }

    /// How many reservations of `scheduler` may be redeemed in one request
    /// now: any number if trusted, none while suspect, one on probation.
    pub fn allowance(&self, scheduler: &str, now: Duration) -> u32 {
        match self.by_scheduler.get(scheduler) {
            None => u32::MAX,
            Some(suspicion) if suspicion.until > now => 0,
            Some(_) => 1,
        }
    }

    /// A probe (one request) to a scheduler on probation is in flight until
    /// `deadline`: no other request goes to it meanwhile.
    pub fn probing(&mut self, scheduler: &str, deadline: Duration) {
        if let Some(suspicion) = self.by_scheduler.get_mut(scheduler) {
            suspicion.until = suspicion.until.max(deadline);
        }
    }

    /// True when no scheduler has ever been suspected (the fast path).
    pub fn is_empty(&self) -> bool {
        self.by_scheduler.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn silence_suspects_for_a_doubling_wait_until_an_answer() {
        let mut suspects = Suspects::new(secs(1), secs(4));
        assert!(!suspects.is_suspect("a", secs(0)));
        assert_eq!(suspects.mark("a", secs(10)), secs(1));
        assert!(suspects.is_suspect("a", secs(10)));
        assert!(!suspects.is_suspect("b", secs(10)), "only the silent scheduler");
        assert!(!suspects.is_suspect("a", secs(11)), "retried after the wait");
        assert_eq!(suspects.mark("a", secs(12)), secs(2));
        assert_eq!(suspects.mark("a", secs(15)), secs(4));
        assert_eq!(suspects.mark("a", secs(20)), secs(4), "capped");
        assert!(suspects.clear("a"));
        assert!(!suspects.is_suspect("a", secs(21)));
        assert_eq!(suspects.mark("a", secs(30)), secs(1), "an answer resets the wait");
    }

    #[test]
    fn several_timeouts_of_one_silence_count_once() {
        let mut suspects = Suspects::new(secs(1), secs(8));
        suspects.mark("a", secs(10));
        assert_eq!(suspects.mark("a", Duration::from_millis(10_200)), secs(1));
        assert!(!suspects.is_suspect("a", Duration::from_millis(11_300)));
    }

    #[test]
    fn probation_allows_one_request_at_a_time() {
        let mut suspects = Suspects::new(secs(1), secs(8));
        assert_eq!(suspects.allowance("a", secs(0)), u32::MAX);
        suspects.mark("a", secs(10));
        assert_eq!(suspects.allowance("a", secs(10)), 0);
        assert_eq!(suspects.allowance("a", secs(11)), 1);
        suspects.probing("a", secs(12));
        assert_eq!(suspects.allowance("a", secs(11)), 0, "the probe is in flight");
        assert_eq!(suspects.mark("a", secs(12)), secs(2), "an unanswered probe doubles the wait");
        suspects.clear("a");
        assert_eq!(suspects.allowance("a", secs(12)), u32::MAX);
    }

    #[test]
    fn memory_stays_bounded() {
        let mut suspects = Suspects::new(secs(1), secs(1));
        for index in 0..(MAX_SUSPECTS * 3) {
            suspects.mark(&format!("s{index}"), secs(index as u64));
        }
        assert!(suspects.by_scheduler.len() <= MAX_SUSPECTS);
    }
}
