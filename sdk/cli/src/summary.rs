//! The end-of-job summary: counts, wall time, rate and latency percentiles.

use std::time::Duration;

use passer::TaskOutput;
use passer_proto::pb::TaskStatus;

/// Figures about a finished job.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Summary {
    /// Tasks in the job.
    pub(crate) tasks: usize,
    /// Tasks that succeeded.
    pub(crate) succeeded: usize,
    /// Tasks that failed.
    pub(crate) failed: usize,
    /// Tasks cancelled.
    pub(crate) cancelled: usize,
    /// Seconds from submission to the last result.
    pub(crate) wall_seconds: f64,
    /// Tasks per second over the wall time.
    pub(crate) tasks_per_second: f64,
    /// Median time from acceptance to result, in milliseconds.
    pub latency_p50_ms: f64,
    /// 99th percentile of the same.
    pub latency_p99_ms: f64,
}

impl Summary {
    /// Summarises `results` that took `wall` in all.
    pub(crate) fn new(results: &[TaskOutput], wall: Duration) -> Self {
        let count = |status: TaskStatus| results.iter().filter(|r| r.status == status).count();
        let mut latencies: Vec<Duration> = results.iter().map(|r| r.total).collect();
        latencies.sort_unstable();
        let wall_seconds = wall.as_secs_f64();
        Self {
            tasks: results.len(),
            succeeded: count(TaskStatus::Succeeded),
            failed: count(TaskStatus::Failed),
            cancelled: count(TaskStatus::Cancelled),
            wall_seconds,
            tasks_per_second: if wall_seconds > 0.0 { results.len() as f64 / wall_seconds } else { 0.0 },
            latency_p50_ms: percentile(&latencies, 0.50),
            latency_p99_ms: percentile(&latencies, 0.99),
        }
    }

    /// The human-readable lines.
    pub(crate) fn render(&self) -> String {
        format!(
            "tasks:      {}/{} succeeded, {} failed, {} cancelled\nwall time:  {:.3} s\nthroughput: {:.0} tasks/s\nlatency:    p50 {:.2} ms, p99 {:.2} ms (acceptance to result)",
            self.succeeded, self.tasks, self.failed, self.cancelled, self.wall_seconds, self.tasks_per_second, self.latency_p50_ms, self.latency_p99_ms
        )
    }
}

/// The `q` quantile of sorted durations, in milliseconds (nearest rank).
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.5), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
