//! Summaries of measured samples: percentiles of durations and ratios, in
//! the units the reports use (microseconds, milliseconds, plain ratios).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Median, p99 and extremes of a set of samples, in the samples' unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// Smallest sample.
    pub min: f64,
    /// 50th percentile.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Summary {
    /// Summarises `samples` (any order); all zeros when empty.
    pub fn of(samples: &[f64]) -> Summary {
        if samples.is_empty() {
            return Summary { count: 0, min: 0.0, p50: 0.0, p90: 0.0, p99: 0.0, max: 0.0, mean: 0.0 };
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
        Summary {
            count: sorted.len(),
            min: sorted[0],
            p50: percentile(&sorted, 0.50),
            p90: percentile(&sorted, 0.90),
            p99: percentile(&sorted, 0.99),
            max: sorted[sorted.len() - 1],
            mean,
        }
    }

    /// Summarises durations in microseconds.
    pub fn of_micros(durations: &[Duration]) -> Summary {
        let micros: Vec<f64> = durations.iter().map(|duration| duration.as_secs_f64() * 1e6).collect();
        Summary::of(&micros)
    }
}

/// The `quantile` (0..=1) of `sorted` by the nearest-rank method.
pub fn percentile(sorted: &[f64], quantile: f64) -> f64 {
    debug_assert!((0.0..=1.0).contains(&quantile), "quantile {quantile} out of range");
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let summary = Summary::of(&samples);
        assert_eq!((summary.min, summary.p50, summary.p90, summary.p99, summary.max), (1.0, 50.0, 90.0, 99.0, 100.0));
        assert_eq!(summary.count, 100);
        assert!((summary.mean - 50.5).abs() < 1e-9);
    }

    #[test]
    fn empty_and_single_samples() {
        assert_eq!(Summary::of(&[]).count, 0);
        let one = Summary::of(&[7.0]);
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        let micros = Summary::of_micros(&[Duration::from_millis(2)]);
        assert_eq!(micros.p50, 2000.0);
    }
}
