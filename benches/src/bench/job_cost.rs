//! The cost of one job in `compare`: the runs and the target table of
//! issue 18. Single-task jobs on built-in executors (jobs/s and CPU per job)
//! and the overload sweep on the 16-slot cluster, plain and beside a CPU
//! hog; [`targets`] sets them, with the round trip, the wider sweep and the
//! batched throughput `compare` measured anyway, against the bars.

use serde::Serialize;

use super::cluster::{ClusterShape, ExecutorMode};
use super::runs::{self, LoadRun, LoadSweep, ThroughputRun};
use super::workloads::LoadPoint;

/// Node monitors and built-in slots of the single-task run (the 2 × 4).
const SINGLE_TASK_NODES: usize = 2;
const SINGLE_TASK_SLOTS: u32 = 4;
/// Node monitors and built-in slots of the overload sweep (16 slots).
const OVERLOAD_NODES: usize = 4;
const OVERLOAD_SLOTS: u32 = 4;

/// What the job-cost runs do.
#[derive(Debug, Clone, Serialize)]
pub struct JobCostSpec {
    /// Single-task jobs of the jobs/s run (0 = skip).
    pub single_task_jobs: usize,
    /// Jobs in flight in that run.
    pub inflight_jobs: usize,
    /// Loads of the overload sweep, the first being the reference (empty = skip).
    pub overload_loads: Vec<f64>,
}

/// What the job-cost runs measured.
#[derive(Debug, Clone, Serialize)]
pub struct JobCost {
    /// Single-task jobs on 2 node monitors × 4 built-in slots.
    pub single_task: Option<ThroughputRun>,
    /// The overload sweep on 16 built-in slots.
    pub overload: Option<LoadRun>,
    /// The same beside a CPU hog.
    pub overload_with_hog: Option<LoadRun>,
}

/// Runs the single-task throughput and the overload sweeps, each on a fresh cluster.
pub async fn run(base: &ClusterShape, sweep: &LoadSweep, spec: &JobCostSpec) -> anyhow::Result<JobCost> {
    let builtin = |node_monitors, slots_per_node| ClusterShape {
        node_monitors,
        slots_per_node,
        executors: ExecutorMode::Builtin,
        prefetch_per_slot: 0,
        ..base.clone()
    };
    let single_task = match spec.single_task_jobs {
        0 => None,
        jobs => {
            eprintln!(
                "compare: passer single-task jobs ({jobs} on {SINGLE_TASK_NODES} x {SINGLE_TASK_SLOTS} built-in slots)"
            );
            let shape = builtin(SINGLE_TASK_NODES, SINGLE_TASK_SLOTS);
            Some(runs::throughput(shape, jobs, 1, spec.inflight_jobs).await?)
        }
    };
    let mut overload = None;
    let mut overload_with_hog = None;
    if !spec.overload_loads.is_empty() {
        for (cpu_hog, slot) in [(false, &mut overload), (true, &mut overload_with_hog)] {
            eprintln!("compare: passer overload sweep {:?} (CPU hog: {cpu_hog})", spec.overload_loads);
            let sweep = LoadSweep { loads: spec.overload_loads.clone(), makespan_tasks: 0, cpu_hog, ..sweep.clone() };
            *slot = Some(runs::load(builtin(OVERLOAD_NODES, OVERLOAD_SLOTS), sweep).await?);
        }
    }
    Ok(JobCost { single_task, overload, overload_with_hog })
}

/// One line of the target table.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What is measured, and where.
    pub figure: String,
    /// The bar, in words.
    pub bar: String,
    /// The measured value, formatted.
    pub measured: String,
    /// Whether the bar is met.
    pub met: bool,
}

/// What `compare` measured anyway that the targets need.
pub struct Measured<'a> {
    /// Median single-task round trip through `passer executor`, in µs.
    pub round_trip_p50_us: f64,
    /// Batched no-op throughput in tasks/s.
    pub batched_tasks_per_second: f64,
    /// The 16-slot load sweep, if it ran.
    pub wide_load: Option<&'a LoadRun>,
    /// The job-cost runs.
    pub job_cost: &'a JobCost,
}

/// The bars against what was measured, one line per figure.
pub fn targets(measured: &Measured<'_>) -> Vec<Target> {
    let mut lines = vec![Target {
        figure: "single-task round trip through `passer executor`, p50".to_owned(),
        bar: "≤ 300 µs".to_owned(),
        measured: format!("{:.0} µs", measured.round_trip_p50_us),
        met: measured.round_trip_p50_us <= 300.0,
    }];
    if let Some(run) = &measured.job_cost.single_task {
        let jobs_per_second = run.result.tasks_per_second;
        lines.push(Target {
            figure: format!(
                "single-task jobs, {} × {} built-in slots, {} in flight",
                run.shape.node_monitors, run.shape.slots_per_node, run.result.inflight_jobs
            ),
            bar: "≥ 20,000 jobs/s".to_owned(),
            measured: format!(
                "{jobs_per_second:.0} jobs/s; CPU {:.0} µs/job (scheduler {:.0}, node monitors {:.0})",
                run.cpu.total.per_job_us, run.cpu.scheduler.per_job_us, run.cpu.node_monitors.per_job_us
            ),
            met: jobs_per_second >= 20_000.0,
        });
    }
    if let Some(wide) = measured.wide_load {
        for load in [0.8, 0.9] {
            if let Some(point) = at_load(&wide.points, load) {
                lines.push(Target {
                    figure: format!(
                        "{}-slot sweep at {:.0}% load, response p50 / service",
                        wide.shape.total_slots(),
                        load * 100.0
                    ),
                    bar: "≤ 1.2".to_owned(),
                    measured: format!("{:.2}", point.response_ratio.p50),
                    met: point.response_ratio.p50 <= 1.2,
                });
            }
        }
    }
    for (label, run) in
        [("", &measured.job_cost.overload), (", CPU hog beside it", &measured.job_cost.overload_with_hog)]
    {
        if let Some(run) = run {
            lines.extend(overload_targets(run, label));
        }
    }
    lines.push(Target {
        figure: "batched no-op throughput".to_owned(),
        bar: "≥ 40,000 tasks/s".to_owned(),
        measured: format!("{:.0} tasks/s", measured.batched_tasks_per_second),
        met: measured.batched_tasks_per_second >= 40_000.0,
    });
    lines
}

/// The overload bars of one sweep: each point past the first against the first.
fn overload_targets(run: &LoadRun, label: &str) -> Vec<Target> {
    let Some((reference, rest)) = run.points.split_first() else {
        return Vec::new();
    };
    let base_ms = reference.admitted_response_ms.p50;
    rest.iter()
        .map(|point| {
            let ratio = point.admitted_response_ms.p50 / base_ms;
            Target {
                figure: format!(
                    "overload {:.0}% on {} slots{label}: admitted p50 over the {:.0}% figure",
                    point.load * 100.0,
                    run.shape.total_slots(),
                    reference.load * 100.0
                ),
                bar: "≤ 2×, 0 failed".to_owned(),
                measured: format!(
                    "{ratio:.2}× ({:.1} vs {base_ms:.1} ms); {} failed; {} refusals; servers {:.0} MiB",
                    point.admitted_response_ms.p50, point.failed, point.refusals, point.servers_peak_rss_mib
                ),
                met: ratio <= 2.0 && point.failed == 0,
            }
        })
        .collect()
}

fn at_load(points: &[LoadPoint], load: f64) -> Option<&LoadPoint> {
    points.iter().find(|point| (point.load - load).abs() < 1e-9)
}

/// The target table as Markdown.
pub fn section(targets: &[Target]) -> String {
    let mut text = String::from(
        "## The cost of one job (issue 18's bars, this run)\n\n| figure | bar | measured | met |\n|---|---|---|---|\n",
    );
    for target in targets {
        let met = if target.met { "yes" } else { "**no**" };
        text.push_str(&format!("| {} | {} | {} | {met} |\n", target.figure, target.bar, target.measured));
    }
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::super::cluster::PeakMemory;
    use super::super::stats::Summary;
    use super::*;

    fn point(load: f64, admitted_p50_ms: f64, failed: usize) -> LoadPoint {
        LoadPoint {
            load,
            offered_tasks_per_second: 0.0,
            job_size: 1,
            service_ms: 10,
            tasks: 100,
            failed,
            response_ratio: Summary::of(&[1.0]),
            response_ms: Summary::of(&[admitted_p50_ms]),
            admitted_response_ms: Summary::of(&[admitted_p50_ms]),
            refusals: 7,
            servers_peak_rss_mib: 50.0,
        }
    }

    fn sweep_run(points: Vec<LoadPoint>) -> LoadRun {
        let shape = ClusterShape {
            node_monitors: 4,
            slots_per_node: 4,
            executors: ExecutorMode::Builtin,
            probe_ratio: 3.0,
            server_threads: 0,
            prefetch_per_slot: 0,
            submit_stream: true,
        };
        let sweep = LoadSweep {
            loads: points.iter().map(|point| point.load).collect(),
            service_ms: 10,
            job_size: 1,
            seconds: 1.0,
            max_tasks: 100,
            seed: 1,
            makespan_tasks: 0,
            cpu_hog: false,
        };
        LoadRun { shape, sweep, makespan: None, points, memory: PeakMemory { servers_mib: 50.0, executors_mib: 0.0 } }
    }

    #[test]
    fn overload_points_are_judged_against_the_first_load() {
        let run = sweep_run(vec![point(0.5, 10.0, 0), point(0.95, 19.0, 0), point(1.2, 25.0, 0), point(1.2, 12.0, 3)]);
        let lines = overload_targets(&run, "");
        assert_eq!(lines.len(), 3);
        assert!(lines[0].met, "1.9× with nothing failed meets the bar: {:?}", lines[0]);
        assert!(!lines[1].met, "2.5× misses it: {:?}", lines[1]);
        assert!(!lines[2].met, "a failed task misses it whatever the latency: {:?}", lines[2]);
        assert!(lines[1].measured.starts_with("2.50×"), "{}", lines[1].measured);
        assert!(lines[0].figure.contains("95% on 16 slots"), "{}", lines[0].figure);
    }

    #[test]
    fn the_table_marks_missed_bars() {
        let job_cost = JobCost { single_task: None, overload: None, overload_with_hog: None };
        let wide = sweep_run(vec![point(0.8, 10.0, 0), point(0.9, 10.0, 0)]);
        let measured = Measured {
            round_trip_p50_us: 420.0,
            batched_tasks_per_second: 50_000.0,
            wide_load: Some(&wide),
            job_cost: &job_cost,
        };
        let lines = targets(&measured);
        assert_eq!(lines.len(), 4, "round trip, two sweep points, batched: {lines:?}");
        assert!(!lines[0].met && lines[1].met && lines[2].met && lines[3].met, "{lines:?}");
        let table = section(&lines);
        assert!(table.contains("| 420 µs | **no** |"), "{table}");
    }
}
