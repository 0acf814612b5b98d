//! Starts the cluster a benchmark runs on: real `passer-scheduler` and
//! `passer-node-monitor` processes on loopback (through the integration
//! tests' harness, `passer-tests`), each node monitor either supervising a
//! `passer executor` process or running the built-in executors in-process,
//! and reads the processes' peak memory afterwards and their CPU time
//! around a measured phase.

use std::time::Duration;

use anyhow::Context;
use passer::{Client, ClientConfig};
use passer_tests::process::{bin_path, children_of, peak_rss_kib};
use passer_tests::Cluster;
use serde::Serialize;

use super::cpu::{parse_stat, sum_ticks, CpuSnapshot, CpuTicks};

/// Where the executors run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutorMode {
    /// One `passer executor` process per node monitor, supervised by it
    /// (`--executor`): a worker process, as the peers have.
    Process,
    /// The node monitor's built-in `echo` and `sleep` executors, in-process.
    Builtin,
    /// One `passer-bench executor` process per node monitor, supervised by
    /// it: the built-ins plus the task-graph workloads' handlers (`noop`,
    /// `fan-in`, `wc-map`, `wc-reduce`).
    Bench,
}

/// The shape of a benchmark cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterShape {
    /// Node monitors.
    pub node_monitors: usize,
    /// Executor slots per node monitor (per executor type).
    pub slots_per_node: u32,
    /// Where the executors run.
    pub executors: ExecutorMode,
    /// Sparrow's probe ratio d.
    pub probe_ratio: f64,
    /// Runtime worker threads of the scheduler and node monitors (0 = current-thread).
    pub server_threads: usize,
    /// Tasks per slot taken ahead of a free slot (0 = pure late binding).
    pub prefetch_per_slot: u32,
    /// Whether the benchmark client submits on one `SubmitJobs` stream
    /// (the SDK's default) or one `SubmitJob` call per job.
    pub submit_stream: bool,
}

impl ClusterShape {
    /// Executor slots in the whole cluster (per executor type).
    pub fn total_slots(&self) -> u32 {
        self.node_monitors as u32 * self.slots_per_node
    }
}

/// A running benchmark cluster; its processes die when it is dropped.
pub struct BenchCluster {
    /// The processes.
    pub cluster: Cluster,
    /// How it was started.
    pub shape: ClusterShape,
}

/// Peak resident memory of a cluster's processes, in MiB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PeakMemory {
    /// The scheduler and node monitors together.
    pub servers_mib: f64,
    /// The executor processes together (0 with built-in executors).
    pub executors_mib: f64,
}

impl BenchCluster {
    /// Starts one scheduler and `shape.node_monitors` node monitors and waits
    /// until the scheduler sees every one of them with executors attached.
    pub async fn start(shape: ClusterShape) -> anyhow::Result<BenchCluster> {
        let threads = shape.server_threads.to_string();
        let mut node_args = vec![
            "--slots".to_owned(),
            shape.slots_per_node.to_string(),
            "--prefetch-per-slot".to_owned(),
            shape.prefetch_per_slot.to_string(),
        ];
        match shape.executors {
            ExecutorMode::Builtin => node_args.extend(["--builtin".to_owned(), "echo,sleep".to_owned()]),
            ExecutorMode::Process => {
                let passer = bin_path("passer");
                let command =
                    format!("{} executor --builtin echo,sleep --slots {}", passer.display(), shape.slots_per_node);
                node_args.extend(["--builtin".to_owned(), String::new(), "--executor".to_owned(), command]);
            }
            ExecutorMode::Bench => {
                let bench = bin_path("passer-bench");
                let command = format!("{} executor --slots {}", bench.display(), shape.slots_per_node);
                node_args.extend(["--builtin".to_owned(), String::new(), "--executor".to_owned(), command]);
            }
        }
        let cluster = Cluster::builder()
            .schedulers(1)
            .node_monitors(shape.node_monitors)
            .node_args(node_args)
            .scheduler_args(["--probe-ratio".to_owned(), shape.probe_ratio.to_string()])
            .env("RUST_LOG", "warn")
            .env("PASSER_WORKER_THREADS", &threads)
            .start()
            .await
            .context("start the benchmark cluster")?;
        tokio::time::timeout(Duration::from_secs(30), cluster.wait_nodes_up(0, shape.node_monitors))
            .await
            .context("node monitors did not attach executors within 30 s")??;
        Ok(BenchCluster { cluster, shape })
    }

    /// A client of the scheduler that gives up retrying after `patience`.
    pub fn client(&self, patience: Duration) -> anyhow::Result<Client> {
        let mut config = ClientConfig::new(self.cluster.scheduler_addrs.clone());
        config.max_retry_time = patience;
        config.submit_stream = self.shape.submit_stream;
        Client::new(config).context("client config")
    }

    /// Peak RSS (VmHWM) of every process since it started.
    pub fn peak_memory(&self) -> PeakMemory {
        let servers = self.cluster.schedulers.iter().chain(&self.cluster.node_monitors);
        let servers_kib: u64 = servers.clone().filter_map(|process| peak_rss_kib(process.pid())).sum();
        let executors_kib: u64 = self
            .cluster
            .node_monitors
            .iter()
            .flat_map(|process| children_of(process.pid()))
            .filter_map(peak_rss_kib)
            .sum();
        PeakMemory { servers_mib: servers_kib as f64 / 1024.0, executors_mib: executors_kib as f64 / 1024.0 }
    }

    /// CPU ticks used so far by the scheduler, the node monitors and the
    /// executor processes they supervise. A process whose stat cannot be
    /// read (it exited) counts zero.
    pub fn cpu_snapshot(&self) -> CpuSnapshot {
        let ticks_of = |pid: u32| -> CpuTicks {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parse_stat(&stat).ok())
                .unwrap_or_default()
        };
        let node_monitors = &self.cluster.node_monitors;
        CpuSnapshot {
            scheduler: sum_ticks(self.cluster.schedulers.iter().map(|process| ticks_of(process.pid()))),
            node_monitors: sum_ticks(node_monitors.iter().map(|process| ticks_of(process.pid()))),
            executors: sum_ticks(node_monitors.iter().flat_map(|process| children_of(process.pid())).map(ticks_of)),
        }
    }
}
