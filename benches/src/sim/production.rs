//! The adapter to passer's production policy code: the scheduler's sampler
//! and job state machine (`passer_scheduler::policy`) and the node monitor's
//! reservation queue, slots and decisions (`passer_node_monitor::state`).
//!
//! This is the ONLY file of the simulator that calls the production API, so a
//! change there touches only this file. It turns the simulator's small
//! indices into the ids and protobuf messages the policy code speaks, and the
//! policy's effects back into [`NodeAction`]s the event loop schedules.
//! Messages on the wire (grants, reports) wait in slabs; events carry keys.
//!
//! Each simulated node attaches one executor instance of one slot per slot,
//! so the instance the node picks names the slot and the invariant checker
//! can see two tasks on one slot.

use std::time::Duration;

use passer_node_monitor::state::{Effect, NodeState, StateConfig};
use passer_node_monitor::tenants::TenantPolicy;
use passer_proto::pb::{self, TaskStatus};
use passer_scheduler::policy::job::{Finish, JobState, TaskDefaults};
use passer_scheduler::policy::sampler::sample_nodes;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::events::Nanos;
use super::slab::Slab;

/// The executor type every simulated slot offers.
const EXECUTOR: &str = "sim";
/// The one simulated scheduler's address.
const SCHEDULER: &str = "scheduler";

/// Something a node monitor's decision asks the event loop to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAction {
    /// Send GetTask for `count` tasks of `job` to the scheduler.
    Ask {
        /// The asking node.
        node: u32,
        /// The job whose reservations are redeemed.
        job: u32,
        /// The node's request id, echoed in the grant.
        request_id: u64,
        /// Tasks asked for.
        count: u32,
    },
    /// Start task `task` of `job` on `slot`.
    Run {
        /// The node.
        node: u32,
        /// The slot (executor instance) chosen by the node's policy.
        slot: u32,
        /// The job.
        job: u32,
        /// The task's index within the job.
        task: u32,
        /// The attempt number.
        attempt: u32,
    },
    /// Send a finished attempt's report (key into the report slab).
    Report {
        /// The reporting node.
        node: u32,
        /// The job.
        job: u32,
        /// The report on the wire.
        report: u32,
    },
}

/// What a report did at the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportEffect {
    /// Stale, duplicate, or for a job already gone.
    Ignored,
    /// The task got its terminal result; `job_finished` once all tasks have.
    Terminal {
        /// Every task of the job has its result.
        job_finished: bool,
    },
    /// The task was sent back for another attempt.
    Retried,
}

/// Sizes and knobs of the simulated cluster.
#[derive(Debug, Clone)]
pub struct ProductionConfig {
    /// Node monitors.
    pub nodes: u32,
    /// Slots per node monitor.
    pub slots_per_node: u32,
    /// Each node's reservation queue bound.
    pub queue_capacity: u32,
    /// Batch sampling's probe ratio d.
    pub probe_ratio: f64,
    /// Seed of the scheduler's sampling RNG.
    pub seed: u64,
    /// Each tenant's weight for the node monitors' queues.
    pub tenant_weights: Vec<(String, u32)>,
}

/// Whether the node monitors' queues honour the tenants' weights: they do,
/// through the production queue's weighted fair queuing
/// (`NodeState::set_tenant_policy`).
pub const TENANT_WEIGHTS_APPLIED: bool = true;

/// One scheduler and all node monitors, running the production policy.
pub struct ProductionCluster {
    nodes: Vec<NodeState>,
    node_ids: Vec<String>,
    jobs: Vec<Option<JobState>>,
    grants: Slab<pb::GetTaskResponse>,
    reports: Slab<pb::TaskOutcome>,
    rng: SmallRng,
    probe_ratio: f64,
}

impl ProductionCluster {
    /// Nodes with their slots attached and empty queues; room for `job_count` jobs.
    pub fn new(config: ProductionConfig, job_count: usize) -> Self {
        let state_config = StateConfig {
            queue_capacity: config.queue_capacity,
            cancel_grace: Duration::from_secs(1),
            prefetch_per_slot: 0,
            ..StateConfig::with_capacity(config.queue_capacity)
        };
        let node_ids: Vec<String> = (0..config.nodes).map(|node| format!("n{node}")).collect();
        let nodes = node_ids
            .iter()
            .map(|node_id| {
                let mut state = NodeState::new(node_id.clone(), Vec::new(), state_config);
                apply_tenant_weights(&mut state, &config.tenant_weights);
                for slot in 0..config.slots_per_node {
                    let effects = state.on_attach(u64::from(slot), EXECUTOR, 1, 0, format!("slot{slot}"));
                    debug_assert!(effects.is_empty(), "an empty node asks for nothing");
                }
                state
            })
            .collect();
        Self {
            nodes,
            node_ids,
            jobs: (0..job_count).map(|_| None).collect(),
            grants: Slab::default(),
            reports: Slab::default(),
            rng: SmallRng::seed_from_u64(config.seed),
            probe_ratio: config.probe_ratio,
        }
    }

    /// A job of `tasks` tasks reaches the scheduler.
    pub fn submit(&mut self, job: u32, tasks: u32, tenant: &str, now: Nanos) {
        let request = pb::SubmitJobRequest {
            job_id: job_name(job),
            tenant: tenant.to_owned(),
            tasks: (0..tasks)
                .map(|task| pb::TaskSpec {
                    task_id: format!("t{task}"),
                    executor: EXECUTOR.to_owned(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        self.jobs[job as usize] = Some(JobState::new(request, TaskDefaults::default(), at(now)));
    }

    /// Batch sampling for the job's unreserved tasks: `(node, reservations)`
    /// pairs appended to `probes` (nothing if none are needed).
    pub fn sample(&mut self, job: u32, probes: &mut Vec<(u32, u32)>) {
        let Some(state) = self.jobs[job as usize].as_ref() else { return };
        for demand in state.probe_demands() {
            let chosen = sample_nodes(self.nodes.len(), demand.count as usize, self.probe_ratio, &mut self.rng);
            probes.extend(chosen.into_iter().map(|probe| (probe.node_index as u32, probe.reservations)));
        }
    }

    /// EnqueueReservations lands on `node`; returns how many it accepted.
    pub fn enqueue(
        &mut self,
        node: u32,
        job: u32,
        count: u32,
        tenant: &str,
        now: Nanos,
        actions: &mut Vec<NodeAction>,
    ) -> u32 {
        let request = pb::EnqueueReservationsRequest {
            job_id: job_name(job),
            scheduler_address: SCHEDULER.to_owned(),
            tenant: tenant.to_owned(),
            executor: EXECUTOR.to_owned(),
            count,
            ..Default::default()
        };
        let (response, effects) = self.nodes[node as usize].enqueue(request, at(now));
        self.translate(node, effects, actions);
        response.accepted
    }

    /// The node's answer reaches the scheduler; true if the accepted
    /// reservations are already surplus and must be cancelled.
    pub fn placed(&mut self, job: u32, node: u32, accepted: u32, now: Nanos) -> bool {
        match self.jobs[job as usize].as_mut() {
            Some(state) => state.reservations_placed(EXECUTOR, &self.node_ids[node as usize], accepted, at(now)),
            None => accepted > 0,
        }
    }

    /// GetTask lands at the scheduler (late binding). Returns the grant's
    /// slab key and how many tasks it carries, and appends the nodes whose
    /// leftover reservations to cancel.
    pub fn ask(
        &mut self,
        job: u32,
        node: u32,
        count: u32,
        request_id: u64,
        now: Nanos,
        cancels: &mut Vec<u32>,
    ) -> (u32, u32) {
        let mut response = pb::GetTaskResponse { job_id: job_name(job), tasks: Vec::new(), request_id };
        if let Some(state) = self.jobs[job as usize].as_mut() {
            let assignment = state.assign(&self.node_ids[node as usize], EXECUTOR, count, at(now));
            response.tasks = assignment.launches;
            cancels.extend(assignment.cancel_nodes.iter().map(|name| parse_index(name, 'n')));
        }
        let granted = response.tasks.len() as u32;
        (self.grants.insert(response), granted)
    }

    /// A grant reaches its node, which starts the tasks and asks again.
    pub fn deliver_grant(&mut self, node: u32, grant: u32, now: Nanos, actions: &mut Vec<NodeAction>) {
        let response = self.grants.remove(grant).expect("a grant is delivered once");
        let effects = self.nodes[node as usize].on_grant(response, at(now));
        self.translate(node, effects, actions);
    }

    /// The task on `slot` finished successfully.
    pub fn task_done(
        &mut self,
        node: u32,
        slot: u32,
        job: u32,
        task: u32,
        attempt: u32,
        now: Nanos,
        actions: &mut Vec<NodeAction>,
    ) {
        let result = pb::TaskResult {
            job_id: job_name(job),
            task_id: format!("t{task}"),
            attempt,
            ok: true,
            ..Default::default()
        };
        let effects = self.nodes[node as usize].on_results(u64::from(slot), vec![result], at(now));
        self.translate(node, effects, actions);
    }

    /// A report reaches the scheduler. A finished job is forgotten, as the
    /// scheduler does; later GetTask calls for it get nothing.
    pub fn report(&mut self, job: u32, node: u32, report: u32, now: Nanos) -> ReportEffect {
        let outcome = self.reports.remove(report).expect("a report is delivered once");
        let slot = &mut self.jobs[job as usize];
        let Some(state) = slot.as_mut() else { return ReportEffect::Ignored };
        match state.finish(&self.node_ids[node as usize], outcome, at(now)) {
            Finish::Ignored => ReportEffect::Ignored,
            Finish::Retried { .. } => ReportEffect::Retried,
            Finish::Terminal(result) => {
                debug_assert_eq!(result.status, TaskStatus::Succeeded as i32);
                let job_finished = state.is_finished();
                if job_finished {
                    *slot = None;
                }
                ReportEffect::Terminal { job_finished }
            }
        }
    }

    /// CancelReservations lands on `node` (proactive cancellation).
    pub fn cancel(&mut self, node: u32, job: u32, now: Nanos, actions: &mut Vec<NodeAction>) {
        let request =
            pb::CancelReservationsRequest { job_id: job_name(job), stop_running: false, executor: EXECUTOR.to_owned() };
        let (_, effects) = self.nodes[node as usize].cancel(&request, at(now));
        self.translate(node, effects, actions);
    }

    /// Reservations waiting in `node`'s queue.
    pub fn queue_length(&self, node: u32) -> u32 {
        self.nodes[node as usize].load().queue_length
    }

    fn translate(&mut self, node: u32, effects: Vec<Effect>, actions: &mut Vec<NodeAction>) {
        for effect in effects {
            match effect {
                Effect::AskScheduler { request, .. } => actions.push(NodeAction::Ask {
                    node,
                    job: parse_index(&request.job_id, 'j'),
                    request_id: request.request_id,
                    count: request.max_tasks,
                }),
                Effect::Run { instance, task } => actions.push(NodeAction::Run {
                    node,
                    slot: instance as u32,
                    job: parse_index(&task.job_id, 'j'),
                    task: parse_index(&task.task_id, 't'),
                    attempt: task.attempt,
                }),
                Effect::Report { outcome, .. } => {
                    let job = parse_index(&outcome.job_id, 'j');
                    let report = self.reports.insert(outcome);
                    actions.push(NodeAction::Report { node, job, report });
                }
                Effect::Cancel { .. }
                | Effect::SchedulerSuspect { .. }
                | Effect::Withdraw { .. }
                | Effect::Progress { .. } => {}
            }
        }
    }
}

/// Gives the node's queue the tenants' weights (weighted fair queuing).
fn apply_tenant_weights(state: &mut NodeState, weights: &[(String, u32)]) {
    let policy = TenantPolicy { weights: weights.iter().cloned().collect(), ..TenantPolicy::default() };
    state.set_tenant_policy(policy);
}

fn job_name(job: u32) -> String {
    format!("j{job}")
}

/// The index in a simulator-made id such as `j17` or `n3`.
fn parse_index(name: &str, prefix: char) -> u32 {
    name.strip_prefix(prefix).and_then(|digits| digits.parse().ok()).unwrap_or_else(|| panic!("simulator id {name}"))
}

fn at(now: Nanos) -> Duration {
    Duration::from_nanos(now)
}
