//! `passer-bench`: benchmarks on a real cluster of processes on loopback.
//!
//! - [`cluster`]: start schedulers, node monitors and executors; peak memory.
//! - [`cpu`]: CPU time per job and per task of each role, from `/proc/PID/stat`.
//! - [`workloads`]: throughput, latency, makespan and Poisson load, through the SDK.
//! - [`runs`]: one fresh cluster per benchmark, with its report.
//! - [`cpu_hog`]: a CPU-bound process beside the cluster (`load --cpu-hog`).
//! - [`stats`]: percentiles of the measured latencies.
//! - [`hops`]: the per-hop breakdown of a round trip from the stamps on the messages.
//! - [`job_cost`]: single-task jobs/s, CPU per job and the overload sweeps
//!   in `compare`, against issue 18's bars.
//! - [`output`]: JSON files and SVG plots.
//! - [`peers`]: Ray, Dask and Celery running the same workloads (`benches/peers/`).
//! - [`compare`]: passer against the peers; [`report`] renders it; [`machine`]
//!   describes where it ran.
//! - [`graphs`]: the task-graph workloads in `compare` ([`graph_workloads`]
//!   drives them through `passer::graph`, [`graph_executor`] serves their
//!   tasks, [`wc_tasks`] holds the word count's task bodies and shuffle,
//!   [`graph_report`] renders them).

pub mod cluster;
pub mod compare;
pub mod cpu;
pub mod cpu_hog;
pub mod graph_executor;
pub mod graph_report;
pub mod graph_workloads;
pub mod graphs;
pub mod hops;
pub mod job_cost;
pub mod machine;
pub mod output;
pub mod peers;
pub mod report;
pub mod runs;
pub mod stats;
pub mod wc_tasks;
pub mod workloads;
