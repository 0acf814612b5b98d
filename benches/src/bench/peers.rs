//! Runs the peer benchmarks (`benches/peers/<system>_bench.py` for Ray, Dask
//! and Celery) as child processes and reads the JSON report each prints.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::stats::Summary;

/// What a peer benchmark reports (fields passer-bench does not use are ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerReport {
    /// `ray`, `dask` or `celery`.
    pub system: String,
    /// The system's version.
    pub version: String,
    /// Worker processes.
    pub workers: u32,
    /// No-op throughput.
    pub throughput: Option<PeerThroughput>,
    /// Sequential round trips.
    pub latency: Option<PeerLatency>,
    /// The sleep-task batch.
    pub makespan: Option<PeerMakespan>,
    /// The load sweep.
    #[serde(default)]
    pub load: Vec<PeerLoadPoint>,
    /// The chain of no-op tasks.
    #[serde(default)]
    pub chain: Option<PeerRepeated>,
    /// Fan-out then fan-in.
    #[serde(default)]
    pub fan_out: Option<PeerRepeated>,
    /// Word count.
    #[serde(default)]
    pub word_count: Option<PeerRepeated>,
    /// Peak summed RSS of the benchmark and every process it started.
    pub peak_rss_mib: f64,
}

/// A peer's repeated graph workload: each run's seconds and their median,
/// or, when a run passed the workload timeout, the runs before it and that
/// timeout (no median).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerRepeated {
    /// Each finished run's seconds, in order.
    #[serde(default)]
    pub runs: Vec<f64>,
    /// The median of the runs; none when a run did not finish.
    pub median_seconds: Option<f64>,
    /// The timeout a run did not finish in, in seconds.
    #[serde(default)]
    pub timed_out_after_seconds: Option<f64>,
}

impl PeerRepeated {
    /// The figure for the table: its median, or how long it ran without
    /// finishing.
    pub fn figure(&self) -> Option<super::compare::PeerFigure> {
        use super::compare::PeerFigure;
        match (self.median_seconds, self.timed_out_after_seconds) {
            (Some(median), _) => Some(PeerFigure::Measured(median)),
            (None, Some(timeout)) => Some(PeerFigure::DidNotFinish(timeout)),
            (None, None) => None,
        }
    }
}

/// A peer's no-op throughput.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerThroughput {
    /// Tasks run.
    pub tasks: usize,
    /// Tasks per second, end to end.
    pub tasks_per_second: f64,
}

/// A peer's sequential round trips.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerLatency {
    /// Round trips in microseconds.
    pub round_trip_us: Summary,
}

/// A peer's sleep-task batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerMakespan {
    /// Tasks run.
    pub tasks: usize,
    /// Seconds from submission to the last result.
    pub seconds: f64,
    /// Over the ideal.
    pub ratio_to_ideal: f64,
}

/// One point of a peer's load sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerLoadPoint {
    /// Offered load as a fraction of capacity.
    pub load: f64,
    /// Tasks offered.
    pub tasks: usize,
    /// Tasks without a result in time.
    pub failed: usize,
    /// Response time over service time.
    pub response_ratio: Summary,
}

/// The workload sizes a peer runs, the same as passer's.
#[derive(Debug, Clone)]
pub struct PeerArgs {
    /// Worker processes.
    pub workers: u32,
    /// No-op tasks of the throughput run.
    pub throughput_tasks: usize,
    /// Sequential round trips.
    pub latency_count: usize,
    /// Sleep tasks of the makespan run.
    pub makespan_tasks: usize,
    /// Sleep task service time.
    pub service_ms: u64,
    /// Load points.
    pub loads: Vec<f64>,
    /// Seconds of arrivals per load point.
    pub load_seconds: f64,
    /// Most tasks per load point.
    pub load_max_tasks: usize,
    /// Limit on the whole peer run.
    pub timeout: Duration,
    /// Limit on one graph run; a run past it is reported as not finished.
    pub workload_timeout: Duration,
    /// The flat workloads to run (throughput, latency, makespan, load).
    pub flat: bool,
    /// The graph workloads to run, if any.
    pub graphs: Option<PeerGraphArgs>,
}

/// The graph workloads' sizes, the same as passer's.
#[derive(Debug, Clone)]
pub struct PeerGraphArgs {
    /// Links of the chain.
    pub chain_links: usize,
    /// Fan-out tasks.
    pub fan_out_tasks: usize,
    /// The word count's files (written by passer-bench).
    pub wordcount_dir: PathBuf,
    /// Reduce tasks.
    pub wordcount_reducers: usize,
    /// Repetitions of each.
    pub runs: usize,
}

/// The peers' directory in the source tree.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// Runs `system`'s benchmark with `python` and parses its report.
pub async fn run_peer(python: &Path, system: &str, args: &PeerArgs) -> anyhow::Result<PeerReport> {
    let script = peers_dir().join(format!("{system}_bench.py"));
    if !script.exists() {
        bail!("no benchmark for peer {system:?} at {}", script.display());
    }
    // Not canonicalized: a venv's python is a symlink that must stay one.
    let python = std::path::absolute(python).with_context(|| format!("resolve {}", python.display()))?;
    if !python.exists() {
        bail!("no python at {}: run benches/peers/setup.sh first", python.display());
    }
    let loads: Vec<String> = args.loads.iter().map(f64::to_string).collect();
    let mut command = tokio::process::Command::new(&python);
    command
        .arg(&script)
        .args(["--workers", &args.workers.to_string()])
        .args(["--throughput-tasks", &args.throughput_tasks.to_string()])
        .args(["--latency-count", &args.latency_count.to_string()])
        .args(["--makespan-tasks", &args.makespan_tasks.to_string()])
        .args(["--service-ms", &args.service_ms.to_string()])
        .args(["--loads", &loads.join(",")])
        .args(["--load-seconds", &args.load_seconds.to_string()])
        .args(["--load-max-tasks", &args.load_max_tasks.to_string()]);
    let mut workloads: Vec<&str> = Vec::new();
    if args.flat {
        workloads.extend(["throughput", "latency", "makespan", "load"]);
    }
    if let Some(graphs) = &args.graphs {
        workloads.extend(["chain", "fan-out", "wordcount"]);
        command
            .args(["--chain-links", &graphs.chain_links.to_string()])
            .args(["--fan-out-tasks", &graphs.fan_out_tasks.to_string()])
            .arg("--wordcount-dir")
            .arg(&graphs.wordcount_dir)
            .args(["--wordcount-reducers", &graphs.wordcount_reducers.to_string()])
            .args(["--graph-runs", &graphs.runs.to_string()])
            .args(["--workload-timeout", &args.workload_timeout.as_secs_f64().to_string()]);
    }
    command
        .args(["--workloads", &workloads.join(",")])
        .current_dir(peers_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().with_context(|| format!("start {} {}", python.display(), script.display()))?;
    let output = tokio::time::timeout(args.timeout, child.wait_with_output())
        .await
        .with_context(|| format!("peer {system} did not finish within {:?}", args.timeout))?
        .with_context(|| format!("run peer {system}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        bail!(
            "peer {system} exited with {}:\n{}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|line| line.starts_with('{')).context("peer printed no JSON report")?;
    serde_json::from_str(line).with_context(|| format!("parse peer {system}'s report"))
}
