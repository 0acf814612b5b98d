//! The last minutes of the scheduler's activity, sampled once a second, for
//! the status page's charts: throughput, launches, mean latency and load.
//! Samples hold running totals; rates are differences of neighbours.

use std::collections::VecDeque;

use parking_lot::Mutex;

/// Samples kept: five minutes at one per second.
pub const HISTORY_SAMPLES: usize = 300;

/// Running totals and load at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the scheduler started.
    pub t: f64,
    /// Tasks finished so far.
    pub finished: u64,
    /// Attempts launched so far.
    pub launched: u64,
    /// Sum of acceptance-to-result microseconds so far.
    pub latency_sum_micros: u64,
    /// Results whose latency is in the sum.
    pub latency_count: u64,
    /// Busy slots over the cluster.
    pub slots_busy: u64,
    /// Slots over the cluster.
    pub slots_total: u64,
    /// Reservations queued over the cluster.
    pub queue_length: u64,
}

/// One chart point: rates over the interval ending at `t`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Point {
    /// Seconds since the scheduler started.
    pub t: f64,
    /// Tasks finished per second.
    pub finished_per_s: f64,
    /// Attempts launched per second.
    pub launched_per_s: f64,
    /// Mean acceptance-to-result latency of the tasks finished in the
    /// interval, in milliseconds (0 when none finished).
    pub latency_ms: f64,
    /// Busy slots.
    pub slots_busy: u64,
    /// All slots.
    pub slots_total: u64,
    /// Queued reservations.
    pub queue_length: u64,
}

/// A bounded ring of samples.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    /// Adds a sample, dropping the oldest beyond [`HISTORY_SAMPLES`].
    pub fn record(&self, sample: Sample) {
        let mut samples = self.samples.lock();
        if samples.len() == HISTORY_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// Chart points, oldest first (one fewer than the samples).
    pub fn points(&self) -> Vec<Point> {
        let samples = self.samples.lock();
        samples.iter().zip(samples.iter().skip(1)).map(|(before, after)| point(before, after)).collect()
    }
}

fn point(before: &Sample, after: &Sample) -> Point {
    let dt = (after.t - before.t).max(1e-3);
    let results = after.latency_count.saturating_sub(before.latency_count);
    let latency_micros = after.latency_sum_micros.saturating_sub(before.latency_sum_micros);
    Point {
        t: after.t,
        finished_per_s: after.finished.saturating_sub(before.finished) as f64 / dt,
        launched_per_s: after.launched.saturating_sub(before.launched) as f64 / dt,
        latency_ms: if results == 0 { 0.0 } else { latency_micros as f64 / results as f64 / 1000.0 },
        slots_busy: after.slots_busy,
        slots_total: after.slots_total,
        queue_length: after.queue_length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_rates_between_neighbours() {
        let history = History::default();
        history.record(Sample {
            t: 1.0,
            finished: 10,
            launched: 12,
            latency_sum_micros: 0,
            latency_count: 0,
            ..Sample::default()
        });
        history.record(Sample {
            t: 3.0,
            finished: 30,
            launched: 40,
            latency_sum_micros: 40_000,
            latency_count: 20,
            ..Sample::default()
        });
        let points = history.points();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].finished_per_s, 10.0);
        assert_eq!(points[0].launched_per_s, 14.0);
        assert_eq!(points[0].latency_ms, 2.0);
    }

    #[test]
    fn keeps_a_bounded_window() {
        let history = History::default();
        for i in 0..HISTORY_SAMPLES + 10 {
            history.record(Sample { t: i as f64, ..Sample::default() });
        }
        let points = history.points();
        assert_eq!(points.len(), HISTORY_SAMPLES - 1);
        assert_eq!(points[0].t, 11.0);
    }
}
