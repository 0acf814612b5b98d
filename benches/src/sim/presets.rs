//! Named experiments: the Sparrow paper's setting, a probe-ratio sweep, two
//! tenants with weights, and a mix of short and long jobs, plus a small
//! preset for tests. A preset fixes the cluster, the job mix and the points
//! to run; the command line may override its sizes.

use super::events::MILLI;
use super::strategy::{ClusterSetup, Strategy, Tenant};
use super::workload::JobClass;

/// How a preset's results are split into groups (one row per group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One group: every measured job.
    AllJobs,
    /// One group per tenant.
    ByTenant,
    /// One group per job class.
    ByClass,
}

/// The axis the preset varies (the x axis of its plot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Offered load.
    Load,
    /// Probe ratio d.
    ProbeRatio,
}

/// One experiment.
#[derive(Debug, Clone)]
pub struct Preset {
    /// The name on the command line and in file names.
    pub name: &'static str,
    /// What it shows.
    pub description: &'static str,
    /// Nodes, slots, network, queue bound.
    pub cluster: ClusterSetup,
    /// The job mix.
    pub classes: Vec<JobClass>,
    /// Jobs per point.
    pub jobs: usize,
    /// Offered loads.
    pub loads: Vec<f64>,
    /// Probe ratios (strategies that do not sample run only the first).
    pub probe_ratios: Vec<f64>,
    /// Strategies compared.
    pub strategies: Vec<Strategy>,
    /// How rows are grouped.
    pub grouping: Grouping,
    /// The plot's x axis.
    pub axis: Axis,
}

/// Names of every preset.
pub const PRESET_NAMES: [&str; 5] = ["sparrow", "probe-ratio", "tenants", "mixed", "small"];

/// The preset called `name`.
pub fn preset(name: &str) -> Result<Preset, String> {
    match name {
        "sparrow" => Ok(sparrow()),
        "probe-ratio" => Ok(probe_ratio()),
        "tenants" => Ok(tenants()),
        "mixed" => Ok(mixed()),
        "small" => Ok(small()),
        _ => Err(format!("unknown preset '{name}' (expected one of {})", PRESET_NAMES.join(", "))),
    }
}

/// The paper's cluster: 10,000 machines of 4 slots, 1 ms round trip.
fn paper_cluster() -> ClusterSetup {
    ClusterSetup {
        nodes: 10_000,
        slots_per_node: 4,
        round_trip: MILLI,
        probe_ratio: passer_scheduler::config::DEFAULT_PROBE_RATIO,
        queue_capacity: 20_000,
        seed: 1,
        tenants: vec![Tenant { name: "default".into(), weight: 1 }],
        offer_to_idle: None,
    }
}

fn paper_jobs() -> Vec<JobClass> {
    vec![JobClass { name: "all", share: 1.0, tasks: 100, mean_duration_ms: 100.0, tenant: 0 }]
}

fn sparrow() -> Preset {
    Preset {
        name: "sparrow",
        description: "the Sparrow paper's setting: 10,000 nodes x 4 slots, 1 ms RTT, 100 tasks per job, \
                      exponential mean 100 ms per job, every strategy at loads 0.5 to 0.95",
        cluster: paper_cluster(),
        classes: paper_jobs(),
        jobs: 10_000,
        // Below half load every sampler is within a few percent of omniscient
        // (docs/simulation.md); `--loads` adds those points back.
        loads: vec![0.5, 0.6, 0.7, 0.8, 0.9, 0.95],
        probe_ratios: vec![passer_scheduler::config::DEFAULT_PROBE_RATIO],
        strategies: Strategy::ALL.to_vec(),
        grouping: Grouping::AllJobs,
        axis: Axis::Load,
    }
}

fn probe_ratio() -> Preset {
    Preset {
        name: "probe-ratio",
        description: "probe ratio d from 1 to 4 at 80% load for the sampling strategies",
        probe_ratios: vec![1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0],
        loads: vec![0.8],
        strategies: vec![Strategy::PerTask, Strategy::Batch, Strategy::BatchLateBinding, Strategy::Omniscient],
        axis: Axis::ProbeRatio,
        ..sparrow()
    }
}

fn tenants() -> Preset {
    let names = ["tenant-a", "tenant-b"];
    let classes = names
        .iter()
        .enumerate()
        .map(|(tenant, _)| JobClass {
            name: "all",
            share: 0.5,
            tasks: 100,
            mean_duration_ms: 100.0,
            tenant: tenant as u8,
        })
        .collect();
    Preset {
        name: "tenants",
        description: "two tenants with weights 3 and 1 submitting equal shares of the paper's jobs",
        cluster: ClusterSetup {
            tenants: vec![Tenant { name: names[0].into(), weight: 3 }, Tenant { name: names[1].into(), weight: 1 }],
            ..paper_cluster()
        },
        classes,
        loads: vec![0.5, 0.7, 0.8, 0.9, 0.95],
        strategies: vec![Strategy::BatchLateBinding],
        grouping: Grouping::ByTenant,
        ..sparrow()
    }
}

fn mixed() -> Preset {
    Preset {
        name: "mixed",
        description: "90% short jobs (10 tasks, mean 10 ms) and 10% long jobs (100 tasks, mean 500 ms)",
        classes: vec![
            JobClass { name: "short", share: 0.9, tasks: 10, mean_duration_ms: 10.0, tenant: 0 },
            JobClass { name: "long", share: 0.1, tasks: 100, mean_duration_ms: 500.0, tenant: 0 },
        ],
        jobs: 40_000,
        loads: vec![0.5, 0.7, 0.8, 0.9],
        grouping: Grouping::ByClass,
        ..sparrow()
    }
}

fn small() -> Preset {
    Preset {
        name: "small",
        description: "100 nodes x 4 slots, 20 tasks per job: a quick check of every strategy",
        cluster: ClusterSetup { nodes: 100, queue_capacity: 1_000, ..paper_cluster() },
        classes: vec![JobClass { name: "all", share: 1.0, tasks: 20, mean_duration_ms: 100.0, tenant: 0 }],
        jobs: 500,
        loads: vec![0.5, 0.9],
        ..sparrow()
    }
}
