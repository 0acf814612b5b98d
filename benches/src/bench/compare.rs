//! `passer-bench compare`: runs passer and each peer on the same workloads,
//! one system at a time, and gathers the figures side by side, with
//! passer's advantage over each peer: the flat workloads (throughput,
//! latency, load) and the task graphs ([`super::graphs`]), or the graphs
//! alone ([`run_graphs`]).

use std::path::PathBuf;

use serde::Serialize;

use super::cluster::{ClusterShape, ExecutorMode};
use super::graphs::{self, GraphSpec, PasserGraphs};
use super::job_cost::{self, JobCost, JobCostSpec};
use super::machine::{self, Machine};
use super::peers::{self, PeerArgs, PeerGraphArgs, PeerReport};
use super::runs::{self, LatencyRun, LoadRun, LoadSweep, ProbeRatioPoint, ScalingPoint, ThroughputRun};

/// Which way a figure is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Better {
    /// More is better (throughput).
    Higher,
    /// Less is better (latency, response, memory).
    Lower,
}

/// One figure of every system, passer first.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What it measures, with its unit.
    pub label: String,
    /// Which way is better.
    pub better: Better,
    /// passer's value, then each peer's (None where a peer did not report it).
    pub values: Vec<Option<f64>>,
    /// Per system as `values`: a run that did not finish within its timeout
    /// (where the value is None), empty when every system finished.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<Option<Unfinished>>,
}

/// A figure a system did not reach: its run passed the workload timeout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Unfinished {
    /// The timeout, in seconds.
    pub timeout_seconds: f64,
    /// The least the figure would have been, in the row's unit.
    pub at_least: f64,
}

/// A peer's graph figure for a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PeerFigure {
    /// The median, in seconds.
    Measured(f64),
    /// A run did not finish within this many seconds.
    DidNotFinish(f64),
}

impl Row {
    /// How many times better passer is than peer `peer_index` (> 1: passer is better).
    pub fn advantage(&self, peer_index: usize) -> Option<f64> {
        let passer = self.values.first().copied().flatten()?;
        let peer = self.values.get(peer_index + 1).copied().flatten()?;
        if passer <= 0.0 || peer <= 0.0 {
            return None;
        }
        Some(match self.better {
            Better::Higher => passer / peer,
            Better::Lower => peer / passer,
        })
    }

    /// The least passer's advantage over peer `peer_index` is when that peer
    /// did not finish (a lower-is-better figure it did not get below).
    pub fn advantage_at_least(&self, peer_index: usize) -> Option<f64> {
        let passer = self.values.first().copied().flatten()?;
        let unfinished = self.unfinished.get(peer_index + 1).copied().flatten()?;
        (self.better == Better::Lower && passer > 0.0).then(|| unfinished.at_least / passer)
    }
}

/// What `compare` runs.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    /// passer's cluster.
    pub shape: ClusterShape,
    /// No-op tasks of passer's throughput run.
    pub throughput_tasks: usize,
    /// No-op tasks of each peer's throughput run (they are far slower).
    pub peer_throughput_tasks: usize,
    /// passer's job size in the throughput run.
    pub job_size: usize,
    /// passer's jobs in flight in the throughput run.
    pub inflight_jobs: usize,
    /// Sequential round trips.
    pub latency_count: usize,
    /// The makespan batch and load sweep (single-task jobs, as the peers submit).
    pub sweep: LoadSweep,
    /// Peers to run (`ray`, `dask`, `celery`); empty runs passer only.
    pub peers: Vec<String>,
    /// The peers' Python.
    pub python: PathBuf,
    /// Limit on each peer's run.
    pub peer_timeout: std::time::Duration,
    /// Limit on one graph run of a peer; a run past it is reported as "did not finish".
    pub peer_workload_timeout: std::time::Duration,
    /// Node monitors of the scaling run (0 = skip).
    pub scaling_max_nodes: usize,
    /// Probe ratios to try at 80% load (empty = skip).
    pub probe_ratios: Vec<f64>,
    /// Tasks per slot passer's node monitors take ahead in the throughput run.
    pub throughput_prefetch: u32,
    /// The same for the makespan batch and the load sweep.
    pub load_prefetch: u32,
    /// Node monitors (4 built-in slots each) of the wider load sweep (0 = skip).
    pub wide_nodes: usize,
    /// The task-graph workloads (None = skip).
    pub graphs: Option<GraphSpec>,
    /// The cost of one job: single-task jobs/s and the overload sweeps.
    pub job_cost: JobCostSpec,
}

/// Slots per node monitor of the wider load sweep.
const WIDE_SLOTS: u32 = 4;

/// Everything one `compare` measured.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The machine, described before the runs.
    pub machine: Machine,
    /// Load average after the runs.
    pub load_average_after: String,
    /// passer's throughput run.
    pub throughput: ThroughputRun,
    /// passer's latency run.
    pub latency: LatencyRun,
    /// passer's makespan and load sweep.
    pub load: LoadRun,
    /// passer's scaling run.
    pub scaling: Vec<ScalingPoint>,
    /// passer's probe-ratio run.
    pub probe_ratio: Vec<ProbeRatioPoint>,
    /// passer's load sweep on a wider cluster of built-in sleep slots.
    pub wide_load: Option<LoadRun>,
    /// Each peer's report, or the error it failed with.
    pub peers: Vec<Result<PeerReport, String>>,
    /// The side-by-side figures.
    pub rows: Vec<Row>,
    /// The task graphs, if they ran.
    pub graphs: Option<GraphResults>,
    /// Single-task jobs/s and the overload sweeps.
    pub job_cost: JobCost,
}

/// passer's task-graph figures and the side-by-side rows.
#[derive(Debug, Clone, Serialize)]
pub struct GraphResults {
    /// What ran.
    pub spec: GraphSpec,
    /// passer's figures.
    pub passer: PasserGraphs,
    /// passer's medians, then each peer's.
    pub rows: Vec<Row>,
}

/// What `compare --graphs-only` measured.
#[derive(Debug, Clone, Serialize)]
pub struct GraphComparison {
    /// The machine, described before the runs.
    pub machine: Machine,
    /// Load average after the runs.
    pub load_average_after: String,
    /// Each peer's report, or the error it failed with.
    pub peers: Vec<Result<PeerReport, String>>,
    /// The figures.
    pub graphs: GraphResults,
}

impl GraphComparison {
    /// The peers that reported, in order.
    pub fn peer_reports(&self) -> Vec<&PeerReport> {
        self.peers.iter().filter_map(|peer| peer.as_ref().ok()).collect()
    }
}

/// Runs the task graphs alone: passer's, then each peer's.
pub async fn run_graphs(spec: CompareSpec) -> anyhow::Result<GraphComparison> {
    let machine = Machine::describe();
    let graph_spec = spec.graphs.clone().ok_or_else(|| anyhow::anyhow!("no graph workloads to run"))?;
    let corpus = graphs::corpus(&graph_spec)?;
    let shape = ClusterShape { prefetch_per_slot: spec.throughput_prefetch, ..spec.shape.clone() };
    let passer = graphs::run_passer(shape, &graph_spec, &corpus).await?;
    let peer_args = peer_args(&spec, false);
    let peer_results = run_peers(&spec, &peer_args).await;
    let reports: Vec<&PeerReport> = peer_results.iter().filter_map(|peer| peer.as_ref().ok()).collect();
    let rows = graphs::rows(&graph_spec, &passer, &reports);
    Ok(GraphComparison {
        machine,
        load_average_after: machine::load_average(),
        peers: peer_results,
        graphs: GraphResults { spec: graph_spec, passer, rows },
    })
}

fn peer_args(spec: &CompareSpec, flat: bool) -> PeerArgs {
    PeerArgs {
        workers: spec.shape.total_slots(),
        throughput_tasks: spec.peer_throughput_tasks,
        latency_count: spec.latency_count,
        makespan_tasks: spec.sweep.makespan_tasks,
        service_ms: spec.sweep.service_ms,
        loads: spec.sweep.loads.clone(),
        load_seconds: spec.sweep.seconds,
        load_max_tasks: spec.sweep.max_tasks,
        timeout: spec.peer_timeout,
        workload_timeout: spec.peer_workload_timeout,
        flat,
        graphs: spec.graphs.as_ref().map(|graphs| PeerGraphArgs {
            chain_links: graphs.chain_links,
            fan_out_tasks: graphs.fan_out_tasks,
            wordcount_dir: graphs.corpus_dir.clone(),
            wordcount_reducers: graphs.wordcount_reducers,
            runs: graphs.peer_runs,
        }),
    }
}

async fn run_peers(spec: &CompareSpec, peer_args: &PeerArgs) -> Vec<Result<PeerReport, String>> {
    let mut peer_results = Vec::with_capacity(spec.peers.len());
    for system in &spec.peers {
        eprintln!("compare: peer {system}");
        let result = peers::run_peer(&spec.python, system, peer_args).await.map_err(|error| format!("{error:#}"));
        if let Err(error) = &result {
            eprintln!("compare: peer {system} failed: {error}");
        }
        peer_results.push(result);
    }
    peer_results
}

impl Comparison {
    /// The peers that reported, in order.
    pub fn peer_reports(&self) -> Vec<&PeerReport> {
        self.peers.iter().filter_map(|peer| peer.as_ref().ok()).collect()
    }
}

/// Runs passer, then each peer, and builds the rows.
pub async fn run(spec: CompareSpec) -> anyhow::Result<Comparison> {
    let machine = Machine::describe();
    eprintln!("compare: passer throughput ({} tasks)", spec.throughput_tasks);
    let throughput_shape = ClusterShape { prefetch_per_slot: spec.throughput_prefetch, ..spec.shape.clone() };
    let throughput =
        runs::throughput(throughput_shape, spec.throughput_tasks, spec.job_size, spec.inflight_jobs).await?;
    eprintln!("compare: passer latency ({} round trips)", spec.latency_count);
    let latency = runs::latency(spec.shape.clone(), spec.latency_count).await?;
    eprintln!("compare: passer makespan and load sweep");
    let load_shape = ClusterShape { prefetch_per_slot: spec.load_prefetch, ..spec.shape.clone() };
    let load = runs::load(load_shape, spec.sweep.clone()).await?;
    let wide_load = match spec.wide_nodes {
        0 => None,
        node_monitors => {
            eprintln!("compare: passer load sweep on {node_monitors} node monitors x {WIDE_SLOTS} built-in slots");
            let shape = ClusterShape {
                node_monitors,
                slots_per_node: WIDE_SLOTS,
                executors: ExecutorMode::Builtin,
                ..spec.shape.clone()
            };
            Some(runs::load(shape, LoadSweep { makespan_tasks: 0, ..spec.sweep.clone() }).await?)
        }
    };
    let job_cost = job_cost::run(&spec.shape, &spec.sweep, &spec.job_cost).await?;
    let scaling = match spec.scaling_max_nodes {
        0 => Vec::new(),
        max_nodes => {
            eprintln!("compare: passer scaling (1..={max_nodes} node monitors)");
            runs::scaling(spec.shape.clone(), max_nodes, spec.sweep.service_ms, 200).await?
        }
    };
    let probe_ratio = if spec.probe_ratios.is_empty() {
        Vec::new()
    } else {
        eprintln!("compare: passer probe ratios {:?} at 80% load", spec.probe_ratios);
        runs::probe_ratio(spec.shape.clone(), &spec.probe_ratios, spec.sweep.clone(), 0.8).await?
    };
    let graph_run = match &spec.graphs {
        None => None,
        Some(graph_spec) => {
            let corpus = graphs::corpus(graph_spec)?;
            let shape = ClusterShape { prefetch_per_slot: spec.throughput_prefetch, ..spec.shape.clone() };
            Some((graph_spec.clone(), graphs::run_passer(shape, graph_spec, &corpus).await?))
        }
    };
    let peer_results = run_peers(&spec, &peer_args(&spec, true)).await;
    let mut comparison = Comparison {
        machine,
        load_average_after: machine::load_average(),
        throughput,
        latency,
        load,
        scaling,
        probe_ratio,
        wide_load,
        peers: peer_results,
        rows: Vec::new(),
        graphs: None,
        job_cost,
    };
    comparison.rows = rows(&comparison);
    comparison.graphs = graph_run.map(|(graph_spec, passer)| {
        let rows = graphs::rows(&graph_spec, &passer, &comparison.peer_reports());
        GraphResults { spec: graph_spec, passer, rows }
    });
    Ok(comparison)
}

fn rows(comparison: &Comparison) -> Vec<Row> {
    let peers = comparison.peer_reports();
    let row = |label: String, better: Better, passer: Option<f64>, peer: &dyn Fn(&PeerReport) -> Option<f64>| Row {
        label,
        better,
        values: std::iter::once(passer).chain(peers.iter().map(|report| peer(report))).collect(),
        unfinished: Vec::new(),
    };
    let mut rows = vec![row(
        "no-op throughput (tasks/s)".to_owned(),
        Better::Higher,
        Some(comparison.throughput.result.tasks_per_second),
        &|report| report.throughput.as_ref().map(|throughput| throughput.tasks_per_second),
    )];
    if let Some(single_task) = &comparison.job_cost.single_task {
        rows.push(row(
            "single-task jobs/s (passer: built-in executors; peers: one task per call)".to_owned(),
            Better::Higher,
            Some(single_task.result.tasks_per_second),
            &|report| report.throughput.as_ref().map(|throughput| throughput.tasks_per_second),
        ));
    }
    rows.extend([
        row(
            "round trip p50 (µs)".to_owned(),
            Better::Lower,
            Some(comparison.latency.result.round_trip_us.p50),
            &|report| report.latency.as_ref().map(|latency| latency.round_trip_us.p50),
        ),
        row(
            "round trip p99 (µs)".to_owned(),
            Better::Lower,
            Some(comparison.latency.result.round_trip_us.p99),
            &|report| report.latency.as_ref().map(|latency| latency.round_trip_us.p99),
        ),
    ]);
    if let Some(makespan) = &comparison.load.makespan {
        rows.push(row(
            format!("{} × {} ms makespan / ideal", makespan.tasks, makespan.service_ms),
            Better::Lower,
            Some(makespan.ratio_to_ideal),
            &|report| report.makespan.as_ref().map(|makespan| makespan.ratio_to_ideal),
        ));
    }
    for point in &comparison.load.points {
        let load = point.load;
        let at = move |report: &PeerReport| report.load.iter().find(|peer| (peer.load - load).abs() < 1e-9).cloned();
        rows.push(row(
            format!("load {:.0}%: response p50 / service", load * 100.0),
            Better::Lower,
            Some(point.response_ratio.p50),
            &|report| at(report).map(|peer| peer.response_ratio.p50),
        ));
        rows.push(row(
            format!("load {:.0}%: response p99 / service", load * 100.0),
            Better::Lower,
            Some(point.response_ratio.p99),
            &|report| at(report).map(|peer| peer.response_ratio.p99),
        ));
    }
    let memory = &comparison.throughput.memory;
    rows.push(row(
        "peak RSS, all processes (MiB)".to_owned(),
        Better::Lower,
        Some(memory.servers_mib + memory.executors_mib),
        &|report| Some(report.peak_rss_mib),
    ));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advantage_is_above_one_when_passer_is_better() {
        let faster = Row {
            label: "tasks/s".into(),
            better: Better::Higher,
            values: vec![Some(3000.0), Some(1000.0), None],
            unfinished: vec![],
        };
        assert_eq!(faster.advantage(0), Some(3.0));
        assert_eq!(faster.advantage(1), None, "a peer without the figure has no ratio");
        let quicker = Row {
            label: "µs".into(),
            better: Better::Lower,
            values: vec![Some(500.0), Some(2000.0), None],
            unfinished: vec![None, None, Some(Unfinished { timeout_seconds: 120.0, at_least: 120_000.0 })],
        };
        assert_eq!(quicker.advantage(0), Some(4.0));
        assert_eq!(quicker.advantage(1), None);
        assert_eq!(quicker.advantage_at_least(1), Some(240.0), "a peer that did not finish: at least");
        assert_eq!(quicker.advantage_at_least(0), None);
        let zero = Row {
            label: "µs".into(),
            better: Better::Lower,
            values: vec![Some(0.0), Some(2000.0)],
            unfinished: vec![],
        };
        assert_eq!(zero.advantage(0), None);
    }
}
