//! The adapter to passer's production policy code: the scheduler's
//! placement plan (offers to idle nodes, then batch sampling), idle
//! estimates, re-probe backoff and job state machine
//! (`passer_scheduler::policy`), and the node monitor's reservation queue,
//! slots and decisions (`passer_node_monitor::state`), with both servers'
//! default configuration ([`PRODUCTION_DEFAULTS`]).
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
use passer_node_monitor::NodeMonitorConfig;
use passer_proto::pb::{self, TaskStatus};
use passer_scheduler::policy::idle::IdleEstimate;
use passer_scheduler::policy::job::{Finish, JobState, TaskDefaults};
use passer_scheduler::policy::offers::{plan_calls, PlacementRequest};
use passer_scheduler::policy::probe_backoff::{ProbeBackoff, INITIAL_PROBE_BACKOFF, MAX_PROBE_BACKOFF};
use passer_scheduler::SchedulerConfig;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::events::{Nanos, MILLI};
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
    /// Overrides the scheduler's default `--offer-to-idle`.
    pub offer_to_idle: Option<bool>,
}

/// Whether the node monitors' queues honour the tenants' weights: they do,
/// through the production queue's weighted fair queuing
/// (`NodeState::set_tenant_policy`).
pub const TENANT_WEIGHTS_APPLIED: bool = true;

/// The production defaults the simulator runs, read from the servers'
/// own default configurations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Defaults {
    /// The scheduler offers tasks to nodes that look idle (`--offer-to-idle`).
    pub offer_to_idle: bool,
    /// Milliseconds between the scheduler's load polls (`--node-poll-ms`).
    pub node_poll_ms: u64,
    /// Milliseconds between the scheduler's upkeep ticks, which re-probe
    /// jobs whose backoff has passed.
    pub tick_ms: u64,
    /// Initial and longest re-probe backoff, in milliseconds.
    pub backoff_ms: (u64, u64),
    /// Reservations a node monitor prefetches per slot (`--prefetch-per-slot`).
    pub prefetch_per_slot: u32,
}

/// The defaults of this build's servers.
pub fn production_defaults() -> Defaults {
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let scheduler = SchedulerConfig::local(any, Vec::new());
    let node_monitor = NodeMonitorConfig::local(any, &[], 1);
    Defaults {
        offer_to_idle: scheduler.offer_to_idle,
        node_poll_ms: scheduler.node_poll_ms,
        tick_ms: passer_scheduler::server::TICK.as_millis() as u64,
        backoff_ms: (INITIAL_PROBE_BACKOFF.as_millis() as u64, MAX_PROBE_BACKOFF.as_millis() as u64),
        prefetch_per_slot: node_monitor.prefetch_per_slot,
    }
}

impl Defaults {
    /// A one-line description for tables and CSV (no commas).
    pub fn describe(&self) -> String {
        format!(
            "offers to idle {}; re-probe backoff {}-{} ms doubling checked every {} ms; load polls every {} ms; \
             prefetch {} per slot",
            if self.offer_to_idle { "on" } else { "off" },
            self.backoff_ms.0,
            self.backoff_ms.1,
            self.tick_ms,
            self.node_poll_ms,
            self.prefetch_per_slot
        )
    }
}

/// The configuration batch+late-binding runs under `offer_to_idle`'s
/// override, described, and whether it is the production default.
pub fn configuration(offer_to_idle: Option<bool>) -> (String, bool) {
    let production = production_defaults();
    let chosen = Defaults { offer_to_idle: offer_to_idle.unwrap_or(production.offer_to_idle), ..production };
    (chosen.describe(), chosen == production)
}

/// What a placement does once all its calls are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPlacement {
    /// Probe the job's deficit (if any) at once.
    ProbeNow,
    /// Nodes refused: the next upkeep tick at or after this time re-probes.
    ProbeAt(Nanos),
}

/// No offer rides with a call.
pub const NO_OFFER: u32 = u32::MAX;

/// One call of a placement: node, reservations, the offered tasks' slab key
/// (or [`NO_OFFER`]).
pub type Call = (u32, u32, u32);

/// One scheduler and all node monitors, running the production policy.
pub struct ProductionCluster {
    nodes: Vec<NodeState>,
    node_ids: Vec<String>,
    jobs: Vec<Option<JobState>>,
    backoffs: Vec<ProbeBackoff>,
    /// The scheduler's view of each node: its last poll and idle estimate.
    polled: Vec<Option<pb::NodeLoad>>,
    idle: Vec<IdleEstimate>,
    /// Loads read by a poll in flight.
    poll_answers: Vec<pb::NodeLoad>,
    grants: Slab<pb::GetTaskResponse>,
    reports: Slab<pb::TaskOutcome>,
    offers: Slab<Vec<pb::TaskLaunch>>,
    /// Answers on the wire, with the tasks offered in the call (the real
    /// scheduler keeps those beside the call, to tell taken from declined).
    answers: Slab<(pb::EnqueueReservationsResponse, Vec<pb::TaskLaunch>)>,
    rng: SmallRng,
    probe_ratio: f64,
    defaults: Defaults,
}

impl ProductionCluster {
    /// Nodes with their slots attached and empty queues; room for `job_count` jobs.
    pub fn new(config: ProductionConfig, job_count: usize) -> Self {
        let mut defaults = production_defaults();
        defaults.offer_to_idle = config.offer_to_idle.unwrap_or(defaults.offer_to_idle);
        let state_config = StateConfig {
            queue_capacity: config.queue_capacity,
            cancel_grace: Duration::from_secs(1),
            prefetch_per_slot: defaults.prefetch_per_slot,
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
        let node_count = node_ids.len();
        Self {
            nodes,
            node_ids,
            jobs: (0..job_count).map(|_| None).collect(),
            backoffs: vec![ProbeBackoff::new(Duration::ZERO); job_count],
            polled: vec![None; node_count],
            idle: vec![IdleEstimate::default(); node_count],
            poll_answers: Vec::new(),
            grants: Slab::default(),
            reports: Slab::default(),
            offers: Slab::default(),
            answers: Slab::default(),
            rng: SmallRng::seed_from_u64(config.seed),
            probe_ratio: config.probe_ratio,
            defaults,
        }
    }

    /// The production defaults this cluster runs.
    pub fn defaults(&self) -> Defaults {
        self.defaults
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
        self.backoffs[job as usize] = ProbeBackoff::new(at(now));
    }

    /// The production placement of the job's unmet demand: offers to nodes
    /// that look idle, batch sampling for the rest. Calls are appended to
    /// `calls` (nothing if no task needs placing).
    pub fn plan(&mut self, job: u32, now: Nanos, calls: &mut Vec<Call>) {
        let Some(state) = self.jobs[job as usize].as_mut() else { return };
        for demand in state.probe_demands() {
            let request = PlacementRequest {
                tasks: demand.count,
                probe_ratio: self.probe_ratio,
                offer_to_idle: self.defaults.offer_to_idle,
                eligible: self.nodes.len(),
            };
            let (polled, idle, node_ids) = (&self.polled, &self.idle, &self.node_ids);
            let idle_slots = |node: usize| idle[node].idle_slots(polled[node].as_ref(), EXECUTOR);
            let offer = |node: usize, max: u32| state.offer(&demand, &node_ids[node], max, at(now));
            for call in plan_calls(request, &mut self.rng, idle_slots, offer) {
                let offer_key = if call.offered.is_empty() {
                    NO_OFFER
                } else {
                    self.idle[call.node_index].note_tasks(call.offered.len() as u64, 0);
                    self.offers.insert(call.offered)
                };
                calls.push((call.node_index as u32, call.reservations, offer_key));
            }
        }
    }

    /// EnqueueReservations (with the offered tasks under `offer`) lands on
    /// `node`; returns the answer's slab key.
    // The call's parts as the event carries them, plus the clock and the
    // output buffer, like every handler here.
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue(
        &mut self,
        node: u32,
        job: u32,
        count: u32,
        offer: u32,
        tenant: &str,
        now: Nanos,
        actions: &mut Vec<NodeAction>,
    ) -> u32 {
        let offered = match offer {
            NO_OFFER => Vec::new(),
            key => self.offers.remove(key).expect("an offer is delivered once"),
        };
        let request = pb::EnqueueReservationsRequest {
            job_id: job_name(job),
            scheduler_address: SCHEDULER.to_owned(),
            tenant: tenant.to_owned(),
            executor: EXECUTOR.to_owned(),
            count,
            offered: offered.clone(),
            ..Default::default()
        };
        let (response, effects) = self.nodes[node as usize].enqueue(request, at(now));
        self.translate(node, effects, actions);
        self.answers.insert((response, offered))
    }

    /// The answer to a call of `count` reservations reaches the scheduler,
    /// which applies it as `placement.rs` does: declined offers go back to
    /// the job, the node's idle estimate follows, the reservations are
    /// recorded. Returns whether the accepted reservations are surplus (to
    /// cancel) and whether the node refused some.
    pub fn answered(&mut self, job: u32, node: u32, count: u32, answer: u32, now: Nanos) -> (bool, bool) {
        let (response, offered) = self.answers.remove(answer).expect("an answer is delivered once");
        let node_id = &self.node_ids[node as usize];
        let returned = response.declined_task_ids.len() as u64;
        self.idle[node as usize].offer_answered(returned, response.queue_length);
        let refused = response.accepted < count;
        let Some(state) = self.jobs[job as usize].as_mut() else { return (response.accepted > 0, refused) };
        for launch in offered.iter().filter(|launch| response.declined_task_ids.contains(&launch.task_id)) {
            state.offer_declined(node_id, &launch.task_id, launch.attempt);
        }
        let surplus = state.reservations_placed(EXECUTOR, node_id, response.accepted, at(now));
        (surplus, refused)
    }

    /// Every call of the job's placement is answered at `now`: the
    /// production backoff says when to probe again.
    pub fn placement_done(&mut self, job: u32, refused: bool, now: Nanos) -> AfterPlacement {
        let backoff = &mut self.backoffs[job as usize];
        backoff.placement_answered(refused, at(now));
        if backoff.ready(at(now)) {
            return AfterPlacement::ProbeNow;
        }
        let next = backoff.next_probe_at().as_nanos() as Nanos;
        let tick = self.defaults.tick_ms * MILLI;
        AfterPlacement::ProbeAt(next.div_ceil(tick) * tick)
    }

    /// A load poll reaches every node at `now`: each answers its load.
    pub fn poll_nodes(&mut self) {
        self.poll_answers = self.nodes.iter().map(NodeState::load).collect();
    }

    /// The poll's answers reach the scheduler: idle estimates start over.
    pub fn poll_answered(&mut self) {
        for (node, load) in std::mem::take(&mut self.poll_answers).into_iter().enumerate() {
            self.polled[node] = Some(load);
            self.idle[node].polled();
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
        self.idle[node as usize].note_tasks(u64::from(granted), 0);
        (self.grants.insert(response), granted)
    }

    /// A grant reaches its node, which starts the tasks and asks again.
    pub fn deliver_grant(&mut self, node: u32, grant: u32, now: Nanos, actions: &mut Vec<NodeAction>) {
        let response = self.grants.remove(grant).expect("a grant is delivered once");
        let effects = self.nodes[node as usize].on_grant(response, at(now));
        self.translate(node, effects, actions);
    }

    /// The task on `slot` finished successfully.
    // The simulator's event names the node, the slot and the task's identity
    // and takes the clock and the output buffer like every other handler
    // here; a struct used only to carry them would add nothing.
    #[allow(clippy::too_many_arguments)]
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
        self.idle[node as usize].note_tasks(0, 1);
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
