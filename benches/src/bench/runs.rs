//! One function per benchmark: start a fresh cluster of the given shape,
//! run the workload on it, read the processes' peak memory, and return a
//! serialisable report. The cluster's processes die when the run ends.

use std::time::Duration;

use serde::Serialize;

use super::cluster::{BenchCluster, ClusterShape, PeakMemory};
use super::cpu::CpuPerJob;
use super::cpu_hog::CpuHog;
use super::workloads::{self, LoadPoint, LoadSpec, Makespan};

/// How long a client keeps retrying a submission the cluster pushes back on.
const CLIENT_PATIENCE: Duration = Duration::from_secs(60);

/// A throughput run.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputRun {
    /// The cluster.
    pub shape: ClusterShape,
    /// What was measured.
    pub result: workloads::Throughput,
    /// Peak memory of the cluster's processes during the run.
    pub memory: PeakMemory,
    /// CPU time of each role over the measured phase (not the warm-up).
    pub cpu: CpuPerJob,
}

/// A latency run.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRun {
    /// The cluster.
    pub shape: ClusterShape,
    /// What was measured.
    pub result: workloads::Latency,
    /// Peak memory of the cluster's processes.
    pub memory: PeakMemory,
}

/// What a load sweep offers.
#[derive(Debug, Clone, Serialize)]
pub struct LoadSweep {
    /// Fractions of slot capacity.
    pub loads: Vec<f64>,
    /// Sleep task service time, in milliseconds.
    pub service_ms: u64,
    /// Tasks per job.
    pub job_size: usize,
    /// Seconds of arrivals per point.
    pub seconds: f64,
    /// Most tasks per point.
    pub max_tasks: usize,
    /// Seed of the arrival process.
    pub seed: u64,
    /// Tasks of the makespan run before the sweep (0 = none).
    pub makespan_tasks: usize,
    /// Whether a CPU hog ([`CpuHog`]) runs beside the cluster.
    pub cpu_hog: bool,
}

/// A load run: the makespan of one batch, then the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct LoadRun {
    /// The cluster.
    pub shape: ClusterShape,
    /// The sweep.
    pub sweep: LoadSweep,
    /// The batch of `makespan_tasks` sleep tasks.
    pub makespan: Option<Makespan>,
    /// One point per load.
    pub points: Vec<LoadPoint>,
    /// Peak memory of the cluster's processes.
    pub memory: PeakMemory,
}

/// One point of the scaling run.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingPoint {
    /// Node monitors.
    pub node_monitors: usize,
    /// Slots in the cluster.
    pub slots: u32,
    /// The batch of slot-bound sleep tasks.
    pub makespan: Makespan,
    /// Tasks per second.
    pub tasks_per_second: f64,
    /// Throughput over the one-node-monitor throughput.
    pub speedup: f64,
}

/// A probe-ratio point.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeRatioPoint {
    /// Sparrow's d.
    pub probe_ratio: f64,
    /// The load point measured with it.
    pub point: LoadPoint,
}

/// Runs no-op throughput (echo tasks of `payload_bytes`) on a fresh cluster.
pub async fn throughput(
    shape: ClusterShape,
    tasks: usize,
    job_size: usize,
    inflight_jobs: usize,
    payload_bytes: usize,
) -> anyhow::Result<ThroughputRun> {
    let cluster = BenchCluster::start(shape.clone()).await?;
    let client = cluster.client(CLIENT_PATIENCE)?;
    workloads::warm_up(&client).await?;
    let cpu_before = cluster.cpu_snapshot();
    let result = workloads::throughput(&client, tasks, job_size, inflight_jobs, payload_bytes).await?;
    let jobs = tasks.div_ceil(job_size);
    let cpu = CpuPerJob::between(&cpu_before, &cluster.cpu_snapshot(), jobs, tasks);
    Ok(ThroughputRun { shape, result, memory: cluster.peak_memory(), cpu })
}

/// Runs `count` sequential round trips on a fresh cluster.
pub async fn latency(shape: ClusterShape, count: usize) -> anyhow::Result<LatencyRun> {
    let cluster = BenchCluster::start(shape.clone()).await?;
    let client = cluster.client(CLIENT_PATIENCE)?;
    workloads::warm_up(&client).await?;
    let result = workloads::latency(&client, count).await?;
    Ok(LatencyRun { shape, result, memory: cluster.peak_memory() })
}

/// Runs the makespan batch and the load sweep on one fresh cluster.
pub async fn load(shape: ClusterShape, sweep: LoadSweep) -> anyhow::Result<LoadRun> {
    let cluster = BenchCluster::start(shape.clone()).await?;
    let client = cluster.client(CLIENT_PATIENCE)?;
    workloads::warm_up(&client).await?;
    let slots = shape.total_slots();
    let makespan = match sweep.makespan_tasks {
        0 => None,
        tasks => Some(workloads::makespan(&client, tasks, sweep.service_ms, slots).await?),
    };
    let _hog_opt = if sweep.cpu_hog { Some(CpuHog::start()?) } else { None };
    let mut points = Vec::with_capacity(sweep.loads.len());
    for &load in &sweep.loads {
        let mut point = workloads::load_point(&client, load_spec(&sweep, load, slots)).await?;
        point.servers_peak_rss_mib = cluster.peak_memory().servers_mib;
        points.push(point);
    }
    Ok(LoadRun { shape, sweep, makespan, points, memory: cluster.peak_memory() })
}

fn load_spec(sweep: &LoadSweep, load: f64, slots: u32) -> LoadSpec {
    LoadSpec {
        load,
        slots,
        service_ms: sweep.service_ms,
        job_size: sweep.job_size,
        duration: Duration::from_secs_f64(sweep.seconds),
        max_tasks: sweep.max_tasks,
        seed: sweep.seed,
    }
}

/// Runs `tasks_per_slot` sleep tasks per slot on 1..=`max_nodes` node monitors.
pub async fn scaling(
    shape: ClusterShape,
    max_nodes: usize,
    service_ms: u64,
    tasks_per_slot: usize,
) -> anyhow::Result<Vec<ScalingPoint>> {
    let mut points: Vec<ScalingPoint> = Vec::with_capacity(max_nodes);
    for node_monitors in 1..=max_nodes {
        let shape = ClusterShape { node_monitors, ..shape.clone() };
        let slots = shape.total_slots();
        let cluster = BenchCluster::start(shape).await?;
        let client = cluster.client(CLIENT_PATIENCE)?;
        workloads::warm_up(&client).await?;
        let tasks = tasks_per_slot * slots as usize;
        let makespan = workloads::makespan(&client, tasks, service_ms, slots).await?;
        let tasks_per_second = tasks as f64 / makespan.seconds;
        let base = points.first().map_or(tasks_per_second, |first| first.tasks_per_second);
        points.push(ScalingPoint {
            node_monitors,
            slots,
            makespan,
            tasks_per_second,
            speedup: tasks_per_second / base,
        });
    }
    Ok(points)
}

/// Runs one load point per probe ratio, each on a fresh cluster.
pub async fn probe_ratio(
    shape: ClusterShape,
    ratios: &[f64],
    sweep: LoadSweep,
    load: f64,
) -> anyhow::Result<Vec<ProbeRatioPoint>> {
    let mut points = Vec::with_capacity(ratios.len());
    for &probe_ratio in ratios {
        let shape = ClusterShape { probe_ratio, ..shape.clone() };
        let slots = shape.total_slots();
        let cluster = BenchCluster::start(shape).await?;
        let client = cluster.client(CLIENT_PATIENCE)?;
        workloads::warm_up(&client).await?;
        let point = workloads::load_point(&client, load_spec(&sweep, load, slots)).await?;
        points.push(ProbeRatioPoint { probe_ratio, point });
    }
    Ok(points)
}
