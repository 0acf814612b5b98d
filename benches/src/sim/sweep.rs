//! Runs a preset: every (load, probe ratio, strategy) point on the same
//! workload per load and seed, each run checked by the ledger, summarized
//! per group, and averaged over the seeds with the medians' spread. Seeds
//! and points run on a few threads; rows come out in table order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
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
    /// Seeds the figures are averaged over.
    pub seeds: usize,
    /// How far the seeds' medians spread.
    pub median_spread: Spread,
    /// A short label of the configuration ("default": production's).
    pub configuration: &'static str,
    /// The configuration in full.
    pub configuration_detail: String,
}

/// The spread of one figure over seeds, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spread {
    /// The lowest seed's value.
    pub min_ms: f64,
    /// The highest seed's value.
    pub max_ms: f64,
    /// The standard deviation over seeds.
    pub sd_ms: f64,
}

/// One strategy at one point for one seed: the run's stats, checked against
/// the invariants.
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

/// Runs every point of `preset` for one seed, calling `on_row` as rows are ready.
pub fn run_preset(preset: &Preset, seed: u64, on_row: impl FnMut(&Row)) -> Result<Vec<Row>, String> {
    run_preset_seeds(preset, &[seed], 1, on_row)
}

/// One strategy at one point: what the sweep runs for each seed.
#[derive(Debug, Clone, Copy)]
struct Point {
    load: f64,
    probe_ratio: f64,
    strategy: Strategy,
}

/// One seed's run of a point: per-group summaries and the run's figures.
struct SeedRun {
    groups: Vec<(String, Summary)>,
    events: u64,
    asks: u64,
    empty_asks: u64,
    wall_seconds: f64,
    cpu_seconds: f64,
}

/// Runs every point of `preset` for each of `seeds`, on up to `threads`
/// threads, and calls `on_row` with each point's rows (figures averaged
/// over the seeds, with the medians' spread) as points complete in order.
pub fn run_preset_seeds(
    preset: &Preset,
    seeds: &[u64],
    threads: usize,
    mut on_row: impl FnMut(&Row),
) -> Result<Vec<Row>, String> {
    if seeds.is_empty() {
        return Err("at least one seed is needed".into());
    }
    let points = points_of(preset);
    let work: Vec<(usize, u64)> =
        (0..points.len()).flat_map(|point| seeds.iter().map(move |&seed| (point, seed))).collect();
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel::<(usize, Result<SeedRun, String>)>();
    let mut results: Vec<Option<Result<SeedRun, String>>> = work.iter().map(|_| None).collect();
    let mut rows = Vec::new();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, work.len().max(1)) {
            let (sender, next, work, points) = (sender.clone(), &next, &work, &points);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(point, seed)) = work.get(index) else { break };
                if sender.send((index, run_seed(preset, points[point], seed))).is_err() {
                    break;
                }
            });
        }
        drop(sender);
        let mut emitted = 0;
        for (index, result) in receiver {
            results[index] = Some(result);
            // Emit every point whose seeds have all finished, in order.
            while emitted < points.len() {
                let range = emitted * seeds.len()..(emitted + 1) * seeds.len();
                if results[range.clone()].iter().any(Option::is_none) {
                    break;
                }
                let runs: Result<Vec<SeedRun>, String> =
                    results[range].iter_mut().map(|run| run.take().expect("present")).collect();
                match runs {
                    Ok(runs) => {
                        for row in aggregate(preset, points[emitted], &runs) {
                            on_row(&row);
                            rows.push(row);
                        }
                    }
                    Err(problem) => {
                        // Stop handing out work; the threads finish what they hold.
                        next.store(work.len(), Ordering::Relaxed);
                        return Err(problem);
                    }
                }
                emitted += 1;
            }
        }
        Ok(())
    })?;
    Ok(rows)
}

/// The points of `preset` in table order (strategies that do not sample
/// run only the first probe ratio).
fn points_of(preset: &Preset) -> Vec<Point> {
    let mut points = Vec::new();
    for &load in &preset.loads {
        for (ratio_index, &probe_ratio) in preset.probe_ratios.iter().enumerate() {
            for &strategy in &preset.strategies {
                let samples = matches!(strategy, Strategy::PerTask | Strategy::Batch | Strategy::BatchLateBinding);
                if samples || ratio_index == 0 {
                    points.push(Point { load, probe_ratio, strategy });
                }
            }
        }
    }
    points
}

fn run_seed(preset: &Preset, point: Point, seed: u64) -> Result<SeedRun, String> {
    let started = Instant::now();
    let cpu_before = thread_cpu_seconds();
    let (workload, stats) = run_point(preset, point.strategy, point.load, point.probe_ratio, seed)?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = (thread_cpu_seconds() - cpu_before).max(0.0);
    let groups = grouped_times(preset, &workload, &stats)
        .into_iter()
        .filter_map(|(group, mut times)| summarize(&mut times).map(|summary| (group, summary)))
        .collect();
    Ok(SeedRun {
        groups,
        events: stats.events,
        asks: stats.asks,
        empty_asks: stats.empty_asks,
        wall_seconds,
        cpu_seconds,
    })
}

/// One row per group: each figure the mean over the seeds' runs, the
/// medians' spread beside it; events and asks per run, times summed.
fn aggregate(preset: &Preset, point: Point, runs: &[SeedRun]) -> Vec<Row> {
    let count = runs.len() as f64;
    let mean_of = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let (label, description) = strategy::configuration(point.strategy, &preset.cluster);
    let mut rows = Vec::new();
    for (group, _) in &runs[0].groups {
        let summaries: Vec<&Summary> = runs
            .iter()
            .filter_map(|run| run.groups.iter().find(|(name, _)| name == group).map(|(_, summary)| summary))
            .collect();
        let pick = |field: fn(&Summary) -> f64| summaries.iter().map(|summary| field(summary)).collect::<Vec<f64>>();
        let medians = pick(|summary| summary.median_ms);
        let median_mean = mean_of(&medians);
        let variance = medians.iter().map(|median| (median - median_mean).powi(2)).sum::<f64>() / count;
        rows.push(Row {
            preset: preset.name,
            strategy: point.strategy,
            load: point.load,
            probe_ratio: point.probe_ratio,
            group: group.clone(),
            summary: Summary {
                jobs: summaries.iter().map(|summary| summary.jobs).sum::<usize>() / summaries.len(),
                median_ms: median_mean,
                p95_ms: mean_of(&pick(|summary| summary.p95_ms)),
                p99_ms: mean_of(&pick(|summary| summary.p99_ms)),
                mean_ms: mean_of(&pick(|summary| summary.mean_ms)),
            },
            nodes: preset.cluster.nodes,
            events: (runs.iter().map(|run| run.events).sum::<u64>() as f64 / count) as u64,
            asks: (runs.iter().map(|run| run.asks).sum::<u64>() as f64 / count) as u64,
            empty_asks: (runs.iter().map(|run| run.empty_asks).sum::<u64>() as f64 / count) as u64,
            wall_seconds: runs.iter().map(|run| run.wall_seconds).sum(),
            cpu_seconds: runs.iter().map(|run| run.cpu_seconds).sum(),
            seeds: runs.len(),
            median_spread: Spread {
                min_ms: medians.iter().copied().fold(f64::INFINITY, f64::min),
                max_ms: medians.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                sd_ms: variance.sqrt(),
            },
            configuration: label,
            configuration_detail: description.clone(),
        });
    }
    rows
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

/// CPU time this thread used so far, from `/proc/thread-self/stat` (user +
/// system clock ticks at the usual 100 Hz); 0 where that file does not exist.
fn thread_cpu_seconds() -> f64 {
    const TICKS_PER_SECOND: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else { return 0.0 };
    // Fields after the parenthesised command name; utime and stime are the
    // 12th and 13th of them.
    let Some((_, after_name)) = stat.rsplit_once(')') else { return 0.0 };
    let ticks: Vec<f64> = after_name.split_whitespace().skip(11).take(2).filter_map(|t| t.parse().ok()).collect();
    ticks.iter().sum::<f64>() / TICKS_PER_SECOND
}
