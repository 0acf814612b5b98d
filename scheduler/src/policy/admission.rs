//! The adaptive admission limit: how many tasks may be in flight (admitted
//! and unfinished) before new jobs are refused with `RESOURCE_EXHAUSTED`, so
//! that when the servers themselves are the bottleneck (CPU, not only slots)
//! the backlog stays with the clients and admitted jobs keep their latency.
//!
//! ## Algorithm: CoDel-style congestion signal, AIMD on a concurrency limit
//! - **Signal**: the queueing delay the scheduler adds, measured as each
//!   job's *sojourn*: the time from its acceptance to the launch of its
//!   first task (sampled once per job, see [`AdmissionLimit::first_launch`]).
//!   As CoDel does, only the *minimum* sojourn of each interval
//!   ([`ADMISSION_INTERVAL`], 100 ms) counts: a burst that drains within the
//!   interval leaves a low minimum, a standing queue does not. An interval is
//!   *congested* when that minimum exceeds the threshold:
//!   `max(target, 2 × floor)`, where `floor` is a slow-moving floor of recent
//!   minima, so a machine that is merely slow does not read as congested. The
//!   floor starts at zero, drops at once to a lower minimum, and rises by 1/64
//!   of the gap per interval only while the limit is already at `min_limit`:
//!   the delay left when admission can do no more is the machine's own, while
//!   a floor that rose under any queue would chase the queue and never see
//!   congestion again.
//! - **Control**: additive-increase / multiplicative-decrease. A congested
//!   interval sets `limit = max(min_limit, 0.9 × peak in flight during the
//!   interval)`; a good interval in which more than 80 % of the limit was
//!   used grows it by 10 % (at least `min_limit / 8`). The limit stays in
//!   `[min_limit, max_limit]` (`max_limit` is `--max-inflight-tasks`) and
//!   starts at `max_limit`: it binds only once congestion has been seen.
//!   An interval without any first launch carries no signal and holds it.
//! - **The lowest limit follows the cluster**: unless `--admission-min-limit`
//!   is given, `min_limit = ⌈max(1, slots) × 5/4⌉`, `slots` being the slots
//!   the scheduler knows on the node monitors that are up (passed in by
//!   [`AdmissionLimit::set_slots`] on every tick). At that floor every slot
//!   can be busy and at most one task waits per four slots, so a task
//!   admitted at the floor waits about a quarter of a task's run time; a
//!   floor of `1×` would leave a slot idle for each round trip between a
//!   finish and the next admission, a floor of `2×` lets a whole task's run
//!   time of queue build (measured in docs/benchmarks.md, "Overload and
//!   admission"). A fixed floor of 64 on a 16-slot cluster let 48 tasks
//!   queue: 4× the unloaded response.
//! - **Idle always admits**: with nothing in flight a job is admitted
//!   whatever its size, so a batch job larger than the limit is never
//!   refused forever.
//!
//! Why not Gradient2 or a Vegas-style limit (as in Netflix's
//! concurrency-limits): those compare a request's round trip against a
//! baseline, but a job's round trip here is mostly its tasks' run time,
//! which says nothing about overload. The sojourn before the first launch is
//! exactly the delay the scheduler and the node queues add, so a fixed target
//! over it is meaningful; and AIMD on the observed in-flight peak is simple,
//! provably converges, and cannot oscillate faster than once per interval.
//!
//! Pure code: time is passed in; no clock reads, no I/O.

use std::time::Duration;

/// How often the congestion verdict is taken (CoDel's interval).
pub const ADMISSION_INTERVAL: Duration = Duration::from_millis(100);
/// The default sojourn target, in milliseconds (`--admission-target-ms`).
/// 1 ms: on the 16-slot sweep at 95–120 % load the admitted median was
/// ~2.0× the unloaded one with 5 ms, ~1.8× with 2 ms and ~1.55× with 1 ms,
/// with no refusal at 50 % load (docs/benchmarks.md). A machine slower
/// than that is covered by the floor (`2 × floor`).
pub const DEFAULT_ADMISSION_TARGET_MS: u64 = 1;
/// The default sojourn target.
pub const DEFAULT_ADMISSION_TARGET: Duration = Duration::from_millis(DEFAULT_ADMISSION_TARGET_MS);
/// The lowest limit per known slot (as a fraction: 5/4) when
/// `--admission-min-limit` is not given.
pub const MIN_LIMIT_PER_SLOT: (u64, u64) = (5, 4);

/// The lowest limit that follows a cluster of `slots` slots:
/// `⌈max(1, slots) × 5/4⌉`.
pub fn min_limit_for_slots(slots: u64) -> u64 {
    let (numerator, denominator) = MIN_LIMIT_PER_SLOT;
    slots.max(1).saturating_mul(numerator).div_ceil(denominator)
}

/// The share of the limit that must have been in use for a good interval
/// to grow it.
const GROW_WHEN_USED: f64 = 0.8;
/// The growth of the limit after a good, busy interval.
const GROW_FACTOR: f64 = 1.1;
/// The cut after a congested interval, applied to the interval's peak.
const SHRINK_FACTOR: f64 = 0.9;
/// How far the floor rises toward a higher interval minimum per interval.
const FLOOR_RISE_DIVISOR: u32 = 64;

/// What the limit is tuned by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionSettings {
    /// The sojourn below which an interval is never congested.
    pub target: Duration,
    /// The lowest the limit goes (kept at [`min_limit_for_slots`] of the
    /// known slots when `follows_slots`).
    pub min_limit: u64,
    /// Whether `min_limit` follows the slots the scheduler knows (no
    /// `--admission-min-limit` given).
    pub follows_slots: bool,
    /// The highest the limit goes (the fixed `--max-inflight-tasks`).
    pub max_limit: u64,
    /// How long one interval lasts.
    pub interval: Duration,
}

impl AdmissionSettings {
    /// Settings with the default interval and a fixed `min_limit`, raised
    /// to 1 and capped at `max_limit`.
    pub fn new(target: Duration, min_limit: u64, max_limit: u64) -> Self {
        let max_limit = max_limit.max(1);
        Self {
            target,
            min_limit: min_limit.clamp(1, max_limit),
            follows_slots: false,
            max_limit,
            interval: ADMISSION_INTERVAL,
        }
    }

    /// Settings whose lowest limit follows the known slots (see
    /// [`AdmissionLimit::set_slots`]); until slots are known it is that of
    /// one slot.
    pub fn following_slots(target: Duration, max_limit: u64) -> Self {
        Self { follows_slots: true, ..Self::new(target, min_limit_for_slots(0), max_limit) }
    }
}

/// Why a job was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The limit in force.
    pub limit: u64,
    /// When to try again: about one interval, when the verdict is renewed.
    pub retry_after: Duration,
}

/// The verdict on the last closed interval (for metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalVerdict {
    /// No first launch in the interval: the limit held.
    NoSignal,
    /// The minimum sojourn exceeded the threshold: the limit was cut.
    Congested,
    /// Below the threshold: the limit grew if it was mostly used.
    Good,
}

/// The adaptive limit on tasks in flight.
#[derive(Debug, Clone)]
pub struct AdmissionLimit {
    settings: AdmissionSettings,
    limit: u64,
    interval_started_at: Duration,
    interval_min_sojourn_opt: Option<Duration>,
    interval_peak_in_flight: u64,
    floor: Duration,
    last_verdict: IntervalVerdict,
}

impl AdmissionLimit {
    /// A limit at `settings.max_limit`, its first interval starting at `now`.
    pub fn new(settings: AdmissionSettings, now: Duration) -> Self {
        debug_assert!(settings.min_limit >= 1 && settings.min_limit <= settings.max_limit);
        Self {
            settings,
            limit: settings.max_limit,
            interval_started_at: now,
            interval_min_sojourn_opt: None,
            interval_peak_in_flight: 0,
            floor: Duration::ZERO,
            last_verdict: IntervalVerdict::NoSignal,
        }
    }

    /// The current limit on tasks in flight.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The lowest the limit goes now.
    pub fn min_limit(&self) -> u64 {
        self.settings.min_limit
    }

    /// The cluster now has `slots` slots on node monitors that are up: the
    /// lowest limit follows it (unless it was fixed), and the limit is
    /// raised to it if below.
    pub fn set_slots(&mut self, slots: u64) {
        if !self.settings.follows_slots {
            return;
        }
        self.settings.min_limit = min_limit_for_slots(slots).min(self.settings.max_limit);
        self.limit = self.limit.max(self.settings.min_limit);
    }

    /// The slow-moving floor of recent interval minima.
    pub fn floor(&self) -> Duration {
        self.floor
    }

    /// The verdict on the last closed interval.
    pub fn last_verdict(&self) -> IntervalVerdict {
        self.last_verdict
    }

    /// The sojourn above which an interval is congested.
    pub fn threshold(&self) -> Duration {
        self.settings.target.max(self.floor * 2)
    }

    /// Whether a job of `task_count` tasks may be admitted at `now` with
    /// `in_flight` tasks already in flight. An idle scheduler always admits.
    pub fn admit(&mut self, in_flight: u64, task_count: u64, now: Duration) -> Result<(), Refusal> {
        self.roll(now);
        self.note_in_flight(in_flight);
        if in_flight == 0 || in_flight.saturating_add(task_count) <= self.limit {
            self.note_in_flight(in_flight.saturating_add(task_count));
            return Ok(());
        }
        Err(Refusal { limit: self.limit, retry_after: self.settings.interval })
    }

    /// A job's first task launched `sojourn` after the job was accepted.
    pub fn first_launch(&mut self, sojourn: Duration, now: Duration) {
        self.roll(now);
        let lowest = self.interval_min_sojourn_opt.map_or(sojourn, |lowest| lowest.min(sojourn));
        self.interval_min_sojourn_opt = Some(lowest);
    }

    /// Closes the interval if it has ended by `now` and adjusts the limit;
    /// called by the scheduler's tick (and by the other calls, so it is
    /// never late). An interval ends once `settings.interval` has passed.
    pub fn roll(&mut self, now: Duration) {
        if now.saturating_sub(self.interval_started_at) < self.settings.interval {
            return;
        }
        let was_at_min_limit = self.limit == self.settings.min_limit;
        self.last_verdict = match self.interval_min_sojourn_opt {
            None => IntervalVerdict::NoSignal,
            Some(lowest) => {
                let congested = lowest > self.threshold();
                self.update_floor(lowest, was_at_min_limit);
                if congested {
                    self.shrink();
                    IntervalVerdict::Congested
                } else {
                    self.grow_if_used();
                    IntervalVerdict::Good
                }
            }
        };
        self.interval_started_at = now;
        self.interval_min_sojourn_opt = None;
        self.interval_peak_in_flight = 0;
    }

    fn note_in_flight(&mut self, in_flight: u64) {
        self.interval_peak_in_flight = self.interval_peak_in_flight.max(in_flight);
    }

    /// The floor drops at once to a lower minimum and, while the limit is
    /// at its minimum, creeps up toward a higher one.
    fn update_floor(&mut self, lowest: Duration, was_at_min_limit: bool) {
        if lowest <= self.floor {
            self.floor = lowest;
        } else if was_at_min_limit {
            self.floor += (lowest - self.floor) / FLOOR_RISE_DIVISOR;
        }
    }

    fn shrink(&mut self) {
        let cut = (self.interval_peak_in_flight as f64 * SHRINK_FACTOR) as u64;
        self.limit = cut.min(self.limit).clamp(self.settings.min_limit, self.settings.max_limit);
    }

    fn grow_if_used(&mut self) {
        if (self.interval_peak_in_flight as f64) <= self.limit as f64 * GROW_WHEN_USED {
            return;
        }
        let grown = (self.limit as f64 * GROW_FACTOR) as u64;
        let at_least = self.limit + (self.settings.min_limit / 8).max(1);
        self.limit = grown.max(at_least).min(self.settings.max_limit);
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
