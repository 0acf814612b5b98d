//! Renders a [`Comparison`]: the table printed to the terminal, the plots,
//! and `docs/benchmarks.md` (which keeps whatever follows its notes marker
//! across runs, so findings written by hand survive a re-run).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::compare::{Comparison, Row};
use super::output::{write_svg, LinePlot, Series};

/// Everything after this line of an existing docs/benchmarks.md is kept.
pub const NOTES_MARKER: &str = "<!-- notes below are kept when passer-bench compare rewrites this file -->";

/// The systems' names, passer first, with versions.
fn headers(comparison: &Comparison) -> Vec<String> {
    let mut names = vec![format!("passer {}", comparison.machine.passer)];
    names.extend(comparison.peer_reports().iter().map(|report| format!("{} {}", report.system, report.version)));
    names
}

fn figure(value: Option<f64>) -> String {
    match value {
        None => "—".to_owned(),
        Some(value) if value >= 100.0 => format!("{value:.0}"),
        Some(value) if value >= 10.0 => format!("{value:.1}"),
        Some(value) => format!("{value:.2}"),
    }
}

fn advantage(row: &Row, peer_index: usize) -> String {
    match (row.advantage(peer_index), row.advantage_at_least(peer_index)) {
        (Some(ratio), _) => format!("{ratio:.1}×"),
        (None, Some(least)) => format!("> {least:.0}×"),
        (None, None) => "—".to_owned(),
    }
}

/// A value's cell: the figure, or the timeout its run did not finish in.
fn cell(row: &Row, index: usize) -> String {
    let value = row.values.get(index).copied().flatten();
    match (value, row.unfinished.get(index).copied().flatten()) {
        (None, Some(unfinished)) => format!("did not finish in {:.0} s", unfinished.timeout_seconds),
        _ => figure(value),
    }
}

/// The side-by-side table as Markdown (also readable in a terminal).
pub fn table(comparison: &Comparison) -> String {
    let systems: Vec<&str> = comparison.peer_reports().iter().map(|report| report.system.as_str()).collect();
    rows_table(&headers(comparison), &systems, &comparison.rows)
}

/// `rows` as a Markdown table: a column per system (`names`, passer first),
/// then passer's advantage over each peer (`peer_systems`).
pub fn rows_table(names: &[String], peer_systems: &[&str], rows: &[Row]) -> String {
    let mut header = vec!["figure".to_owned()];
    header.extend(names.iter().cloned());
    header.extend(peer_systems.iter().map(|system| format!("passer vs {system}")));
    let mut text = format!("| {} |\n", header.join(" | "));
    let _ = writeln!(text, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let mut cells = vec![row.label.clone()];
        cells.extend((0..row.values.len()).map(|index| cell(row, index)));
        cells.extend((0..peer_systems.len()).map(|peer_index| advantage(row, peer_index)));
        let _ = writeln!(text, "| {} |", cells.join(" | "));
    }
    text
}

/// Issue 18's bars against this run.
pub fn job_cost_targets(comparison: &Comparison) -> Vec<super::job_cost::Target> {
    super::job_cost::targets(&super::job_cost::Measured {
        round_trip_p50_us: comparison.latency.result.round_trip_us.p50,
        batched_tasks_per_second: comparison.throughput.result.tasks_per_second,
        wide_load: comparison.wide_load.as_ref(),
        job_cost: &comparison.job_cost,
    })
}

/// Plots the load sweep of every system, and passer's scaling and probe ratios.
pub fn plots(comparison: &Comparison, dir: &Path) -> anyhow::Result<()> {
    let mut series = vec![Series {
        name: "passer p50".to_owned(),
        points: comparison.load.points.iter().map(|point| (point.load, point.response_ratio.p50)).collect(),
    }];
    for report in comparison.peer_reports() {
        series.push(Series {
            name: format!("{} p50", report.system),
            points: report.load.iter().map(|point| (point.load, point.response_ratio.p50)).collect(),
        });
    }
    let plot =
        LinePlot { title: "median response / service time", x_label: "load", y_label: "response / ideal", series };
    write_svg(dir, "load", &plot)?;
    if !comparison.scaling.is_empty() {
        let measured = comparison.scaling.iter().map(|point| (point.node_monitors as f64, point.speedup)).collect();
        let ideal = comparison.scaling.iter().map(|point| (point.node_monitors as f64, point.node_monitors as f64));
        let series = vec![
            Series { name: "passer".to_owned(), points: measured },
            Series { name: "linear".to_owned(), points: ideal.collect() },
        ];
        let plot = LinePlot { title: "scaling", x_label: "node monitors", y_label: "speed-up", series };
        write_svg(dir, "scaling", &plot)?;
    }
    if !comparison.probe_ratio.is_empty() {
        let points = |pick: fn(&super::stats::Summary) -> f64| {
            comparison.probe_ratio.iter().map(|point| (point.probe_ratio, pick(&point.point.response_ratio))).collect()
        };
        let series = vec![
            Series { name: "p50".to_owned(), points: points(|summary| summary.p50) },
            Series { name: "p99".to_owned(), points: points(|summary| summary.p99) },
        ];
        let plot = LinePlot { title: "probe ratio at 80% load", x_label: "d", y_label: "response / ideal", series };
        write_svg(dir, "probe-ratio", &plot)?;
    }
    Ok(())
}

/// Writes `path` (docs/benchmarks.md), keeping the notes of an older version.
pub fn write_markdown(comparison: &Comparison, path: &Path, command: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let notes = old.split_once(NOTES_MARKER).map_or("\n", |(_, notes)| notes);
    let mut text = markdown(comparison, command);
    if comparison.graphs.is_none() {
        // A run without the graphs (`--graph-runs 0`) keeps the last graph section.
        if let Some(section) = super::graph_report::existing_section(&old) {
            text.push_str(section);
            text.push_str("\n\n");
        }
    }
    let text = format!("{text}{NOTES_MARKER}{notes}");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

fn markdown(comparison: &Comparison, command: &str) -> String {
    let machine = &comparison.machine;
    let shape = &comparison.throughput.shape;
    let mut text = String::from("# Benchmarks\n\n");
    let _ = writeln!(text, "Written by `{command}` (see `benches/`); every figure comes from one run on one machine,");
    let _ =
        writeln!(text, "one system at a time. Re-run it to reproduce; `benches/peers/setup.sh` prepares the peers.\n");
    let _ = writeln!(text, "## Machine\n");
    let _ = writeln!(
        text,
        "- {} CPUs ({}), {} MiB memory, {}",
        machine.cpus, machine.cpu_model, machine.memory_mib, machine.kernel
    );
    let _ = writeln!(
        text,
        "- load average (1, 5, 15 min): {} before the run, {} after",
        machine.load_average, comparison.load_average_after
    );
    let _ = writeln!(text, "- passer {}, {}", machine.passer, machine.rustc);
    for peer in &comparison.peers {
        match peer {
            Ok(report) => {
                let _ =
                    writeln!(text, "- {} {} with {} worker processes", report.system, report.version, report.workers);
            }
            Err(error) => {
                let _ = writeln!(text, "- a peer failed: `{}`", error.lines().next().unwrap_or_default());
            }
        }
    }
    let _ = writeln!(
        text,
        "- passer: 1 scheduler, {} node monitors × {} slots ({}), probe ratio {}: {} executor slots in all\n",
        shape.node_monitors,
        shape.slots_per_node,
        match shape.executors {
            super::cluster::ExecutorMode::Process => "each node monitor supervises one `passer executor` process",
            super::cluster::ExecutorMode::Builtin => "built-in executors inside the node monitors",
            super::cluster::ExecutorMode::Bench => "each node monitor supervises one `passer-bench executor` process",
        },
        shape.probe_ratio,
        shape.total_slots()
    );
    let _ = writeln!(text, "## Side by side\n");
    let _ = writeln!(
        text,
        "\"passer vs X\" is how many times better passer is (higher throughput, or lower time / memory).\n"
    );
    text.push_str(&table(comparison));
    let throughput = &comparison.throughput;
    let _ = writeln!(
        text,
        "\nThroughput: {} no-op tasks for passer, in jobs of {} ({} in flight); {} for each peer, one task per call. \
         Round trips: sequential single-task jobs. Load: Poisson arrivals of single-task jobs of {} ms sleep \
         tasks; the response time runs from submission to the result at the client. Peak RSS: passer's scheduler, \
         node monitors and executors during the throughput run (not the benchmark client); a peer's whole process \
         tree (driver included) over its run.\n",
        throughput.result.tasks,
        throughput.result.job_size,
        throughput.result.inflight_jobs,
        comparison.peer_reports().first().and_then(|report| report.throughput.as_ref()).map_or(0, |peer| peer.tasks),
        comparison.load.sweep.service_ms
    );
    let _ = writeln!(
        text,
        "passer's node monitors took {} task(s) per slot ahead of a free slot (`--prefetch-per-slot`) in the \
         throughput run, {} in the makespan and load runs, {} in the round trips (pure late binding); `passer \
         executor` queues the tasks taken ahead and starts each as its slot frees.\n",
        throughput.shape.prefetch_per_slot,
        comparison.load.shape.prefetch_per_slot,
        comparison.latency.shape.prefetch_per_slot
    );
    let _ = writeln!(text, "![response over service time against load](benchmarks/load.svg)\n");
    let _ = writeln!(
        text,
        "passer's memory during the throughput run: scheduler and node monitors together {:.1} MiB, executors {:.1} MiB.\n",
        throughput.memory.servers_mib, throughput.memory.executors_mib
    );
    let cpu = &throughput.cpu;
    let _ = writeln!(
        text,
        "passer's CPU time in the throughput run (user + system from /proc/PID/stat, {} jobs of {} tasks in all): \
         scheduler {:.1} µs/job, node monitors {:.1} µs/job, executors {:.1} µs/job; {:.1} µs/job and {:.1} µs/task \
         in total.\n",
        cpu.jobs,
        cpu.tasks,
        cpu.scheduler.per_job_us,
        cpu.node_monitors.per_job_us,
        cpu.executors.per_job_us,
        cpu.total.per_job_us,
        cpu.total.per_task_us
    );
    let latency = &comparison.latency.result;
    let _ = writeln!(
        text,
        "Inside passer's round trip (medians): {:.0} µs at the client, of which {:.0} µs from acceptance to the result \
         at the scheduler; {:.0} µs from acceptance to launch on a node monitor, {:.0} µs in the executor.\n",
        latency.round_trip_us.p50, latency.scheduler_us.p50, latency.queued_us.p50, latency.run_us.p50
    );
    if !latency.hops.is_empty() {
        let _ = writeln!(text, "| hop of the round trip | median µs | p90 µs |\n|---|---|---|");
        for hop in &latency.hops {
            let _ = writeln!(text, "| {} | {:.0} | {:.0} |", hop.hop, hop.micros.p50, hop.micros.p90);
        }
        text.push('\n');
    }
    text.push_str(&super::job_cost::section(&job_cost_targets(comparison)));
    if !comparison.scaling.is_empty() {
        let _ = writeln!(text, "## Scaling (passer)\n\n| node monitors | slots | tasks | seconds | tasks/s | speed-up |\n|---|---|---|---|---|---|");
        for point in &comparison.scaling {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {:.2} | {:.0} | {:.2}× |",
                point.node_monitors,
                point.slots,
                point.makespan.tasks,
                point.makespan.seconds,
                point.tasks_per_second,
                point.speedup
            );
        }
        let _ = writeln!(text, "\n![scaling](benchmarks/scaling.svg)\n");
    }
    if let Some(wide) = &comparison.wide_load {
        let _ = writeln!(
            text,
            "## Load on a wider cluster (passer)\n\n{} node monitors × {} built-in sleep slots ({} slots), \
             {} task(s) per slot taken ahead, Poisson arrivals of single-task jobs of {} ms sleep tasks: with more \
             slots than two, a task rarely has to queue behind another, as on the clusters Sparrow targets.\n\n\
             | load | tasks | response p50 / service | p99 / service |\n|---|---|---|---|",
            wide.shape.node_monitors,
            wide.shape.slots_per_node,
            wide.shape.total_slots(),
            wide.shape.prefetch_per_slot,
            wide.sweep.service_ms
        );
        for point in &wide.points {
            let summary = &point.response_ratio;
            let _ = writeln!(
                text,
                "| {:.0}% | {} | {:.3} | {:.3} |",
                point.load * 100.0,
                point.tasks,
                summary.p50,
                summary.p99
            );
        }
        text.push('\n');
    }
    if !comparison.probe_ratio.is_empty() {
        let _ = writeln!(text, "## Probe ratio at 80% load (passer)\n\n| d | tasks | response p50 / service | p99 / service |\n|---|---|---|---|");
        for point in &comparison.probe_ratio {
            let summary = &point.point.response_ratio;
            let _ = writeln!(
                text,
                "| {} | {} | {:.2} | {:.2} |",
                point.probe_ratio, point.point.tasks, summary.p50, summary.p99
            );
        }
        let _ = writeln!(text, "\n![probe ratio](benchmarks/probe-ratio.svg)\n");
    }
    if let Some(graphs) = &comparison.graphs {
        let peers = comparison.peer_reports();
        text.push_str(&super::graph_report::section(graphs, &comparison.machine.passer, &peers, None));
    }
    text
}
