//! The placement strategies the simulator compares, what every strategy is
//! given (the cluster's shape, the network, the seed) and what it returns
//! (when each job finished), and the dispatch to each strategy's module.

use std::fmt;
use std::str::FromStr;

use super::events::Nanos;
use super::ledger::Ledger;
use super::network::Network;
use super::workload::Workload;
use super::{late_binding, omniscient, push};

/// How tasks find slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    /// Each task to a uniformly random node.
    Random,
    /// Power of d choices per task: probe d nodes' queue lengths, pick the shortest.
    PerTask,
    /// Probe d·m nodes for a job of m tasks, place on the least loaded.
    Batch,
    /// passer's real path in its default configuration: offers to idle nodes,
    /// reservations, GetTask, cancellation, re-probe backoff (production code).
    BatchLateBinding,
    /// A central greedy scheduler that sees every slot: each task to the slot
    /// that frees first, paying the same hops as the others (one to place,
    /// one back with the result).
    Omniscient,
}

impl Strategy {
    /// Every strategy, in the order tables list them.
    pub const ALL: [Strategy; 5] =
        [Strategy::Random, Strategy::PerTask, Strategy::Batch, Strategy::BatchLateBinding, Strategy::Omniscient];

    /// The name used on the command line and in CSV.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::PerTask => "per-task",
            Strategy::Batch => "batch",
            Strategy::BatchLateBinding => "batch+late-binding",
            Strategy::Omniscient => "omniscient",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Strategy::ALL.into_iter().find(|strategy| strategy.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
            format!("unknown strategy '{text}' (expected one of {})", names.join(", "))
        })
    }
}

/// The simulated cluster every strategy runs on.
#[derive(Debug, Clone)]
pub struct ClusterSetup {
    /// Node monitors.
    pub nodes: u32,
    /// Slots per node.
    pub slots_per_node: u32,
    /// Network round trip between a scheduler and a node.
    pub round_trip: Nanos,
    /// Probe ratio d of the sampling strategies.
    pub probe_ratio: f64,
    /// Reservation queue bound per node (batch+late-binding).
    pub queue_capacity: u32,
    /// Seed of the placement RNG (the workload has its own).
    pub seed: u64,
    /// Tenants, indexed by the workload's tenant numbers.
    pub tenants: Vec<Tenant>,
    /// Overrides the scheduler's default `--offer-to-idle` (batch+late-binding);
    /// `None` runs the production default.
    pub offer_to_idle: Option<bool>,
}

/// A tenant and the weight its share of each node should follow.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The tenant's name.
    pub name: String,
    /// Its weight in weighted fair queuing.
    pub weight: u32,
}

impl ClusterSetup {
    /// The network between schedulers and nodes.
    pub fn network(&self) -> Network {
        Network::new(self.round_trip)
    }

    /// Slots in the cluster.
    pub fn total_slots(&self) -> u64 {
        u64::from(self.nodes) * u64::from(self.slots_per_node)
    }

    /// The name of tenant `index`.
    pub fn tenant_name(&self, index: u8) -> &str {
        self.tenants.get(usize::from(index)).map_or("default", |tenant| tenant.name.as_str())
    }
}

/// The configuration `strategy` runs in on `setup`: a short label for
/// tables ("default" is the production default) and a full description.
pub fn configuration(strategy: Strategy, setup: &ClusterSetup) -> (&'static str, String) {
    match strategy {
        Strategy::Random | Strategy::PerTask | Strategy::Batch => {
            ("push", "tasks pushed to FIFO node queues; 1 hop to place; 1 hop back with the result".to_owned())
        }
        Strategy::Omniscient => (
            "fair",
            "central; each task to the slot that frees first; 1 hop to place; 1 hop back with the result".to_owned(),
        ),
        Strategy::BatchLateBinding => {
            let (description, default) = super::production::configuration(setup.offer_to_idle);
            (if default { "default" } else { "modified" }, description)
        }
    }
}

/// What one strategy's run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStats {
    /// When each job's last result reached the scheduler, by job index.
    pub finish: Vec<Nanos>,
    /// Events the run processed.
    pub events: u64,
    /// GetTask calls (batch+late-binding only).
    pub asks: u64,
    /// GetTask calls answered with no task: the asking slots idled a round trip.
    pub empty_asks: u64,
}

/// Tasks left per job and when each job finished.
#[derive(Debug)]
pub struct JobProgress {
    remaining: Vec<u32>,
    finish: Vec<Nanos>,
}

impl JobProgress {
    /// Every job of `workload` with all its tasks to do.
    pub fn new(workload: &Workload) -> Self {
        Self {
            remaining: workload.jobs.iter().map(|job| job.tasks).collect(),
            finish: vec![Nanos::MAX; workload.jobs.len()],
        }
    }

    /// One task of `job` finished at `now`.
    pub fn task_finished(&mut self, job: u32, now: Nanos) {
        let remaining = &mut self.remaining[job as usize];
        debug_assert!(*remaining > 0, "job {job} finished more tasks than it has");
        *remaining = remaining.saturating_sub(1);
        if *remaining == 0 {
            self.finish[job as usize] = now;
        }
    }

    /// Finish times by job (`Nanos::MAX` for a job that never finished).
    pub fn into_finish_times(self) -> Vec<Nanos> {
        self.finish
    }
}

/// Runs `workload` under `strategy`, recording starts and finishes in `ledger`.
pub fn run(strategy: Strategy, setup: &ClusterSetup, workload: &Workload, ledger: &mut Ledger) -> RunStats {
    match strategy {
        Strategy::Random | Strategy::PerTask | Strategy::Batch => push::run(strategy, setup, workload, ledger),
        Strategy::BatchLateBinding => late_binding::run(setup, workload, ledger),
        Strategy::Omniscient => omniscient::run(setup, workload, ledger),
    }
}
