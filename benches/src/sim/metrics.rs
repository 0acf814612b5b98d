//! Job response times and their summaries. A job's response time runs from
//! its arrival until its last task's result reaches the scheduler (every
//! strategy's finish times include that hop). The first jobs of a run meet an
//! empty cluster, so a warm-up fraction of them is left out.

use super::events::{Nanos, MILLI};
use super::workload::{JobSpec, Workload};
use crate::bench::stats::percentile;

/// The fraction of jobs, by arrival, left out as warm-up.
pub const WARMUP_FRACTION: f64 = 0.1;

/// Percentiles of job response time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Jobs measured.
    pub jobs: usize,
    /// Median.
    pub median_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// Response times (ms) of the measured jobs that `include` selects.
///
/// Panics if a measured job never finished: the run lost a task.
pub fn response_times(workload: &Workload, finish: &[Nanos], include: impl Fn(&JobSpec) -> bool) -> Vec<f64> {
    let skip = (workload.jobs.len() as f64 * WARMUP_FRACTION) as usize;
    workload
        .jobs
        .iter()
        .zip(finish)
        .skip(skip)
        .filter(|(job, _)| include(job))
        .map(|(job, &done)| {
            assert!(done != Nanos::MAX, "a job never finished");
            (done - job.arrival) as f64 / MILLI as f64
        })
        .collect()
}

/// Summarizes response times (sorts them in place). `None` if empty.
pub fn summarize(times: &mut [f64]) -> Option<Summary> {
    if times.is_empty() {
        return None;
    }
    times.sort_unstable_by(f64::total_cmp);
    let mean_ms = times.iter().sum::<f64>() / times.len() as f64;
    Some(Summary {
        jobs: times.len(),
        median_ms: percentile(times, 0.5),
        p95_ms: percentile(times, 0.95),
        p99_ms: percentile(times, 0.99),
        mean_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut times: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let summary = summarize(&mut times).unwrap();
        assert_eq!(summary.median_ms, 50.0);
        assert_eq!(summary.p95_ms, 95.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.mean_ms, 50.5);
        assert!(summarize(&mut []).is_none());
    }
}
