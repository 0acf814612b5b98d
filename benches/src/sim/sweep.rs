//! Runs a preset: every (load, probe ratio, strategy) point on the same
//! workload per load, each run checked by the ledger, summarized per group.

use std::time::Instant;

use super::ledger::Ledger;
use super::metrics::{response_times, summarize, Summary};
use super::presets::{Grouping, Preset};
use super::strategy::{self, RunStats, Strategy};
use super::workload::Workload;

/// One line of results: a point of a preset and one group of its jobs.
#[derive(Debug, Clone)]
pub struct Row {
    /// The preset.
    pub preset: &'static str,
    /// The strategy.
    pub strategy: Strategy,
    /// Offered load.
    pub load: f64,
    /// Probe ratio d.
    pub probe_ratio: f64,
    /// The group ("all", a tenant or a class).
    pub group: String,
    /// Response times of the group's measured jobs.
    pub summary: Summary,
    /// Simulated nodes.
    pub nodes: u32,
    /// Events the run processed.
    pub events: u64,
    /// GetTask calls (batch+late-binding only).
    pub asks: u64,
    /// GetTask calls that got no task.
    pub empty_asks: u64,
    /// Wall-clock seconds the run took (whole point, not per group).
    pub wall_seconds: f64,
    /// CPU seconds the run took (user + system; 0 where unmeasurable). On a
    /// shared machine this, not the wall time, says how fast the simulator is.
    pub cpu_seconds: f64,
}

/// One strategy at one point: the run's stats, checked against the invariants.
pub fn run_point(
    preset: &Preset,
    strategy: Strategy,
    load: f64,
    probe_ratio: f64,
    seed: u64,
) -> Result<(Workload, RunStats), String> {
    let setup = strategy::ClusterSetup { probe_ratio, seed, ..preset.cluster.clone() };
    let workload_seed = seed.wrapping_mul(1_000_003).wrapping_add((load * 1e6) as u64);
    let workload = Workload::generate(&preset.classes, preset.jobs, load, setup.total_slots(), workload_seed);
    let mut ledger = Ledger::new(workload.task_count, setup.nodes, setup.slots_per_node);
    let stats = strategy::run(strategy, &setup, &workload, &mut ledger);
    ledger.verify().map_err(|problem| format!("{strategy} at load {load}, d={probe_ratio}: {problem}"))?;
    Ok((workload, stats))
}

/// Runs every point of `preset`, calling `on_row` as rows are ready.
pub fn run_preset(preset: &Preset, seed: u64, mut on_row: impl FnMut(&Row)) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for &load in &preset.loads {
        for (ratio_index, &probe_ratio) in preset.probe_ratios.iter().enumerate() {
            for &strategy in &preset.strategies {
                let samples = matches!(strategy, Strategy::PerTask | Strategy::Batch | Strategy::BatchLateBinding);
                if !samples && ratio_index > 0 {
                    continue;
                }
                let started = Instant::now();
                let cpu_before = process_cpu_seconds();
                let (workload, stats) = run_point(preset, strategy, load, probe_ratio, seed)?;
                let wall_seconds = started.elapsed().as_secs_f64();
                let cpu_seconds = (process_cpu_seconds() - cpu_before).max(0.0);
                for (group, mut times) in grouped_times(preset, &workload, &stats) {
                    let Some(summary) = summarize(&mut times) else { continue };
                    let row = Row {
                        preset: preset.name,
                        strategy,
                        load,
                        probe_ratio,
                        group,
                        summary,
                        nodes: preset.cluster.nodes,
                        events: stats.events,
                        asks: stats.asks,
                        empty_asks: stats.empty_asks,
                        wall_seconds,
                        cpu_seconds,
                    };
                    on_row(&row);
                    rows.push(row);
                }
            }
        }
    }
    Ok(rows)
}

fn grouped_times(preset: &Preset, workload: &Workload, stats: &RunStats) -> Vec<(String, Vec<f64>)> {
    let finish = &stats.finish;
    match preset.grouping {
        Grouping::AllJobs => vec![("all".to_owned(), response_times(workload, finish, |_| true))],
        Grouping::ByTenant => (0..preset.cluster.tenants.len())
            .map(|tenant| {
                let name = preset.cluster.tenants[tenant].name.clone();
                (name, response_times(workload, finish, |job| usize::from(job.tenant) == tenant))
            })
            .collect(),
        Grouping::ByClass => (0..preset.classes.len())
            .map(|class| {
                let name = preset.classes[class].name.to_owned();
                (name, response_times(workload, finish, |job| usize::from(job.class) == class))
            })
            .collect(),
    }
}

/// CPU time this process used so far, from `/proc/self/stat` (user + system
/// clock ticks at the usual 100 Hz); 0 where that file does not exist.
fn process_cpu_seconds() -> f64 {
    const TICKS_PER_SECOND: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of them.
    let Some((_, after_name)) = stat.rsplit_once(')') else { return 0.0 };
    let ticks: Vec<f64> = after_name.split_whitespace().skip(11).take(2).filter_map(|t| t.parse().ok()).collect();
    ticks.iter().sum::<f64>() / TICKS_PER_SECOND
}
