//! The node monitor's decisions, free of I/O: reservations in, GetTask
//! requests out when slots free up, tasks onto executor instances, results
//! back to schedulers, deadlines and executor loss; running tasks' progress
//! forwarded to their schedulers (`state_progress.rs`); grants answered in
//! `state_grants.rs`, deadlines swept in `state_deadlines.rs`.
//!
//! Every method returns the [`Effect`]s the I/O shell must carry out (send a
//! request on a scheduler link, a task to an executor). Time is passed in.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use passer_proto::pb::{self, TaskStatus};

use crate::liveness::Liveness;
use crate::prefetch::{HeldTask, Prefetch};
use crate::queue::{Reservation, ReservationQueue};
use crate::slots::{InstanceId, SlotTable};
use crate::suspects::Suspects;
use crate::tenants::TenantPolicy;

/// Something the I/O shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Ask a scheduler for tasks (late binding).
    AskScheduler {
        /// The scheduler's address.
        scheduler: String,
        /// The request.
        request: pb::GetTaskRequest,
    },
    /// Report a finished attempt to the scheduler that launched it.
    Report {
        /// The scheduler's address.
        scheduler: String,
        /// The outcome.
        outcome: pb::TaskOutcome,
    },
    /// Start a task on an executor instance.
    Run {
        /// The instance.
        instance: InstanceId,
        /// The task.
        task: pb::RunTask,
    },
    /// Tell an executor instance to stop a task.
    Cancel {
        /// The instance.
        instance: InstanceId,
        /// The message to send.
        cancel: pb::node_message::CancelTask,
    },
    /// A scheduler left GetTask requests unanswered past their deadline:
    /// their slots are free again and its reservations wait (log it).
    SchedulerSuspect {
        /// The scheduler's address.
        scheduler: String,
        /// Requests that timed out.
        timed_out: u32,
        /// How long its reservations are skipped.
        wait: Duration,
    },
    /// An executor instance stopped answering: its slots are withdrawn and
    /// its tasks handed back; the shell drops its channel (closing its
    /// stream) and logs it.
    Withdraw {
        /// The instance.
        instance: InstanceId,
        /// Why.
        reason: String,
    },
    /// Forward a running attempt's progress to the scheduler that launched it.
    Progress {
        /// The scheduler's address.
        scheduler: String,
        /// The progress.
        progress: pb::TaskProgress,
    },
}

type TaskKey = (String, String);

#[derive(Debug)]
struct Running {
    instance: InstanceId,
    attempt: u32,
    scheduler: String,
    started_at: Duration,
    deadline: Duration,
    /// Set once a cancel was sent: the attempt is already reported, the slot
    /// stays busy until the executor answers or the grace period ends.
    cancelled_at: Option<Duration>,
    /// When progress was last forwarded (they are spaced out).
    progress_sent_at: Option<Duration>,
    /// The launch's hop times, passed on in the outcome.
    hops: Option<pb::HopTimes>,
}

#[derive(Debug)]
struct PendingRequest {
    scheduler: String,
    executor: String,
    count: u32,
    /// How many of `count` were free slots (the rest are prefetch places).
    slot_claims: u32,
    tenant: String,
    /// When the request was sent: it is given up `get_task_timeout` later.
    asked_at: Duration,
}

/// Tunables of the node's policy.
#[derive(Debug, Clone, Copy)]
pub struct StateConfig {
    /// The reservation queue's bound.
    pub queue_capacity: u32,
    /// How long a cancelled task may hold its slot before it is reclaimed.
    pub cancel_grace: Duration,
    /// Tasks per slot taken ahead of a free slot (see [`crate::prefetch`]);
    /// 0 is pure late binding.
    pub prefetch_per_slot: u32,
    /// How long a GetTask may go unanswered before its slots are released
    /// and its scheduler is suspect (see [`crate::suspects`]).
    pub get_task_timeout: Duration,
    /// How long an executor that sends heartbeats may be silent before it
    /// is withdrawn (see [`crate::liveness`]).
    pub executor_silence: Duration,
    /// The most bytes of one task attempt's logs passed on (the tail is
    /// kept, after a marker line), whatever the executor sent.
    pub max_task_log_bytes: usize,
}

impl StateConfig {
    /// The defaults of the flags, with the given queue bound.
    pub fn with_capacity(queue_capacity: u32) -> Self {
        Self {
            queue_capacity,
            cancel_grace: Duration::from_secs(5),
            prefetch_per_slot: 0,
            get_task_timeout: Duration::from_secs(1),
            executor_silence: Duration::from_secs(15),
            max_task_log_bytes: passer::task_logs::DEFAULT_MAX_LOG_BYTES,
        }
    }
}

/// Most given-up request ids remembered for late answers.
const MAX_GIVEN_UP: usize = 4096;

/// The longest a scheduler stays suspect after repeated silences.
const MAX_SUSPECT_WAIT: Duration = Duration::from_secs(16);

/// Everything the node monitor decides with.
#[derive(Debug)]
pub struct NodeState {
    node_id: String,
    config: StateConfig,
    queue: ReservationQueue,
    slots: SlotTable,
    instance_labels: HashMap<InstanceId, String>,
    running: HashMap<TaskKey, Running>,
    requests: HashMap<u64, PendingRequest>,
    prefetch: Prefetch,
    suspects: Suspects,
    /// Requests given up on (timed out), by id, with their scheduler: a
    /// late answer's tasks still need a home. Oldest dropped past a bound.
    given_up: BTreeMap<u64, String>,
    liveness: Liveness,
    /// The latest time a caller passed in: held tasks that start outside a
    /// timed call (an executor attached) start at it.
    last_now: Duration,
    next_request_id: u64,
    draining: bool,
    finished_total: u64,
    labels: Vec<String>,
}

impl NodeState {
    /// A node with no executors and an empty queue.
    pub fn new(node_id: String, labels: Vec<String>, config: StateConfig) -> Self {
        Self {
            node_id,
            queue: ReservationQueue::new(config.queue_capacity),
            config,
            slots: SlotTable::default(),
            instance_labels: HashMap::new(),
            running: HashMap::new(),
            requests: HashMap::new(),
            prefetch: Prefetch::new(config.prefetch_per_slot),
            suspects: Suspects::new(config.get_task_timeout, MAX_SUSPECT_WAIT.max(config.get_task_timeout)),
            given_up: BTreeMap::new(),
            liveness: Liveness::new(config.executor_silence),
            last_now: Duration::ZERO,
            next_request_id: 1,
            draining: false,
            finished_total: 0,
            labels,
        }
    }

    /// Orders the reservation queue by `policy` (tenant weights and
    /// priority caps) from now on.
    pub fn set_tenant_policy(&mut self, policy: TenantPolicy) {
        self.queue.set_policy(policy);
    }

    /// The node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Tasks running now or held for a slot (prefetched).
    pub fn running_count(&self) -> usize {
        self.running.len() + self.prefetch.len()
    }

    /// Stops taking reservations (graceful shutdown).
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// Starts the tasks offered while slots are idle (declining the rest),
    /// then queues the reservations, as many as fit.
    pub fn enqueue(
        &mut self,
        mut request: pb::EnqueueReservationsRequest,
        now: Duration,
    ) -> (pb::EnqueueReservationsResponse, Vec<Effect>) {
        self.last_now = self.last_now.max(now);
        let refusal = if self.draining {
            Some("node monitor is draining".to_owned())
        } else if self.slots.instance_count(&request.executor) == 0 {
            Some(format!("no executor of type '{}' on this node", request.executor))
        } else {
            None
        };
        let mut effects = Vec::new();
        let mut declined_task_ids = Vec::new();
        for launch in std::mem::take(&mut request.offered) {
            let startable =
                refusal.is_none() && launch.executor == request.executor && self.slots.idle(&launch.executor) > 0;
            if startable {
                self.start_task(launch, &request.scheduler_address, now, now, &mut effects);
            } else {
                declined_task_ids.push(launch.task_id);
            }
        }
        let accepted = match refusal {
            Some(_) => 0,
            None if request.count == 0 => 0,
            None => self.queue.enqueue(Reservation {
                job_id: request.job_id,
                scheduler: request.scheduler_address,
                tenant: request.tenant,
                priority: request.priority,
                executor: request.executor,
                count: request.count,
            }),
        };
        let refusal = match (refusal, accepted) {
            (Some(reason), _) => reason,
            (None, 0) if request.count > 0 => "reservation queue is full".to_owned(),
            _ => String::new(),
        };
        effects.extend(self.dispatch());
        let response = pb::EnqueueReservationsResponse {
            accepted,
            queue_length: self.queue.len(),
            node_id: self.node_id.clone(),
            refusal,
            declined_task_ids,
            request_id: 0,
        };
        (response, effects)
    }

    /// Drops a job's reservations; with `stop_running` also cancels its tasks.
    pub fn cancel(
        &mut self,
        request: &pb::CancelReservationsRequest,
        now: Duration,
    ) -> (pb::CancelReservationsResponse, Vec<Effect>) {
        let executor = (!request.executor.is_empty()).then_some(request.executor.as_str());
        let cancelled = self.queue.cancel(&request.job_id, executor);
        let mut effects = Vec::new();
        let mut stopped = 0;
        if request.stop_running {
            let keys: Vec<TaskKey> = self
                .running
                .iter()
                .filter(|((job, _), run)| *job == request.job_id && run.cancelled_at.is_none())
                .map(|(key, _)| key.clone())
                .collect();
            stopped = keys.len() as u32;
            for key in keys {
                self.cancel_running(&key, "job cancelled", false, now, &mut effects);
            }
            for held in self.prefetch.take_where(|t| t.launch.job_id == request.job_id) {
                stopped += 1;
                let mut outcome = self.lost_outcome(
                    &held.launch.job_id,
                    &held.launch.task_id,
                    held.launch.attempt,
                    "job cancelled".into(),
                );
                outcome.retryable = false;
                effects.push(Effect::Report { scheduler: held.scheduler, outcome });
            }
            effects.extend(self.dispatch());
        }
        (pb::CancelReservationsResponse { cancelled, stopped }, effects)
    }

    /// A scheduler link broke or could not connect: forget its requests and
    /// reservations (the scheduler re-probes when it notices).
    pub fn on_link_lost(&mut self, scheduler: &str) -> Vec<Effect> {
        let lost: Vec<u64> =
            self.requests.iter().filter(|(_, p)| p.scheduler == scheduler).map(|(id, _)| *id).collect();
        for id in lost {
            if let Some(pending) = self.requests.remove(&id) {
                self.slots.unclaim(&pending.executor, pending.slot_claims);
                self.prefetch.unclaim(&pending.executor, pending.count - pending.slot_claims);
            }
        }
        // The scheduler re-queues what it launched here when the link
        // breaks, so held tasks it launched are dropped, not run.
        self.prefetch.take_where(|t| t.scheduler == scheduler);
        self.queue.drop_scheduler(scheduler);
        self.given_up.retain(|_, given_up| given_up != scheduler);
        self.suspects.clear(scheduler);
        self.dispatch()
    }

    /// An executor instance attached. One that queues (`queue_per_slot`
    /// from its hello) is sent the tasks this node prefetches for its slots
    /// at once, up to the smaller of the two bounds per slot, so it starts
    /// each the moment a slot frees without a message in between.
    pub fn on_attach(
        &mut self,
        instance: InstanceId,
        executor: &str,
        slots: u32,
        queue_per_slot: u32,
        label: String,
    ) -> Vec<Effect> {
        let queue = slots.saturating_mul(queue_per_slot.min(self.config.prefetch_per_slot));
        self.slots.attach(instance, executor, slots, queue);
        self.instance_labels.insert(instance, label);
        self.liveness.attach(instance, self.last_now);
        self.dispatch()
    }

    /// An executor instance is gone: fail its running tasks (retryable).
    pub fn on_instance_gone(&mut self, instance: InstanceId, reason: &str) -> Vec<Effect> {
        self.slots.detach(instance);
        self.instance_labels.remove(&instance);
        self.liveness.detach(instance);
        let keys: Vec<TaskKey> =
            self.running.iter().filter(|(_, r)| r.instance == instance).map(|(k, _)| k.clone()).collect();
        let mut effects = Vec::new();
        for key in keys {
            let run = self.running.remove(&key).expect("key taken from the map");
            if run.cancelled_at.is_none() {
                let outcome = self.lost_outcome(&key.0, &key.1, run.attempt, reason.to_owned());
                effects.push(Effect::Report { scheduler: run.scheduler, outcome });
            }
        }
        // Held tasks whose executor type has no instance left cannot start.
        let slots = &self.slots;
        let orphans = self.prefetch.take_where(|t| slots.instance_count(&t.launch.executor) == 0);
        for held in orphans {
            let outcome =
                self.lost_outcome(&held.launch.job_id, &held.launch.task_id, held.launch.attempt, reason.to_owned());
            effects.push(Effect::Report { scheduler: held.scheduler, outcome });
        }
        effects.extend(self.dispatch());
        effects
    }

    /// Results from an executor instance.
    pub fn on_results(&mut self, instance: InstanceId, results: Vec<pb::TaskResult>, now: Duration) -> Vec<Effect> {
        self.last_now = self.last_now.max(now);
        self.liveness.heard(instance, now, false);
        let mut effects = Vec::with_capacity(results.len() + 1);
        for result in results {
            let key = (result.job_id, result.task_id);
            let matches = self.running.get(&key).is_some_and(|r| r.instance == instance && r.attempt == result.attempt);
            if !matches {
                continue;
            }
            let run = self.running.remove(&key).expect("checked above");
            self.slots.finish(instance);
            if run.cancelled_at.is_some() {
                continue;
            }
            self.finished_total += 1;
            // The deadline's verdict is this node's: a result at or after it
            // (the executor's own timeout included, which never fires
            // earlier) is the retryable deadline failure.
            let overdue = now >= run.deadline;
            let ok = result.ok && !overdue;
            let status = if ok { TaskStatus::Succeeded } else { TaskStatus::Failed };
            let (output, error) = if overdue {
                (bytes::Bytes::new(), DEADLINE_EXCEEDED.to_owned())
            } else {
                (result.output, result.error)
            };
            let outcome = pb::TaskOutcome {
                job_id: key.0,
                task_id: key.1,
                attempt: result.attempt,
                status: status as i32,
                output,
                error,
                retryable: overdue,
                run_micros: micros(now.saturating_sub(run.started_at)),
                executor_id: self.instance_labels.get(&instance).cloned().unwrap_or_default(),
                not_started: false,
                logs: passer::task_logs::cut_to_tail(result.logs, self.config.max_task_log_bytes),
                hops: run.hops,
            };
            effects.push(Effect::Report { scheduler: run.scheduler, outcome });
        }
        effects.extend(self.dispatch());
        effects
    }

    pub(super) fn cancel_running(
        &mut self,
        key: &TaskKey,
        reason: &str,
        retryable: bool,
        now: Duration,
        effects: &mut Vec<Effect>,
    ) {
        let Some(run) = self.running.get_mut(key) else { return };
        run.cancelled_at = Some(now);
        let (instance, attempt, scheduler) = (run.instance, run.attempt, run.scheduler.clone());
        effects.push(Effect::Cancel {
            instance,
            cancel: pb::node_message::CancelTask {
                job_id: key.0.clone(),
                task_id: key.1.clone(),
                reason: reason.to_owned(),
            },
        });
        let mut outcome = self.lost_outcome(&key.0, &key.1, attempt, reason.to_owned());
        outcome.retryable = retryable;
        outcome.executor_id = self.instance_labels.get(&instance).cloned().unwrap_or_default();
        effects.push(Effect::Report { scheduler, outcome });
    }

    fn lost_outcome(&self, job_id: &str, task_id: &str, attempt: u32, error: String) -> pb::TaskOutcome {
        pb::TaskOutcome {
            job_id: job_id.to_owned(),
            task_id: task_id.to_owned(),
            attempt,
            status: TaskStatus::Failed as i32,
            error,
            retryable: true,
            ..Default::default()
        }
    }

    /// Starts held tasks on free slots, then redeems reservations while
    /// slots (or prefetch places) are free: one GetTask per redeem.
    pub fn dispatch(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        loop {
            let slots = &self.slots;
            let Some(held) = self.prefetch.take_startable(|executor| slots.free(executor)) else { break };
            let now = self.last_now.max(held.granted_at);
            self.start_task(held.launch, &held.scheduler, held.granted_at, now, &mut effects);
        }
        loop {
            let (slots, prefetch) = (&self.slots, &self.prefetch);
            let open = |executor: &str| slots.free(executor) + prefetch.room(executor, slots.unqueued_slots(executor));
            let suspects = &self.suspects;
            let now = self.last_now;
            let allowance = |entry: &crate::queue::Reservation| {
                if suspects.is_empty() {
                    u32::MAX
                } else {
                    suspects.allowance(&entry.scheduler, now)
                }
            };
            // Nothing can be redeemed while every type is full: skip the
            // queue scan, which would visit every queued reservation for
            // nothing (after each result on a busy node; see "second cut" in
            // docs/benchmarks.md).
            if !slots.type_names().any(|executor| open(executor) > 0) {
                break;
            }
            let Some(redeem) = self.queue.next_redeem_capped(open, allowance) else { break };
            if !self.suspects.is_empty() {
                self.suspects.probing(&redeem.scheduler, now + self.config.get_task_timeout);
            }
            let slot_claims = redeem.count.min(self.slots.free(&redeem.executor));
            self.slots.claim(&redeem.executor, slot_claims);
            self.prefetch.claim(&redeem.executor, redeem.count - slot_claims);
            let request_id = self.next_request_id;
            self.next_request_id += 1;
            self.requests.insert(
                request_id,
                PendingRequest {
                    scheduler: redeem.scheduler.clone(),
                    executor: redeem.executor.clone(),
                    count: redeem.count,
                    slot_claims,
                    tenant: redeem.tenant.clone(),
                    asked_at: self.last_now,
                },
            );
            effects.push(Effect::AskScheduler {
                scheduler: redeem.scheduler,
                request: pb::GetTaskRequest {
                    job_id: redeem.job_id,
                    node_id: self.node_id.clone(),
                    max_tasks: redeem.count,
                    request_id,
                    executor: redeem.executor,
                    asked_us: 0,
                },
            });
        }
        effects
    }

    /// Reservations queued per tenant (tenants with none left out).
    pub fn queue_by_tenant(&self) -> Vec<(String, u32)> {
        self.queue.tenant_lengths()
    }

    /// The node's load, for GetLoad and the scheduler's view.
    pub fn load(&self) -> pb::NodeLoad {
        let executors = self
            .slots
            .executor_types()
            .into_iter()
            .map(|executor| {
                let (slots_total, slots_busy) = self.slots.totals(&executor);
                let processes = self.slots.instance_count(&executor);
                pb::ExecutorLoad { executor, slots_total, slots_busy, processes }
            })
            .collect();
        pb::NodeLoad {
            node_id: self.node_id.clone(),
            queue_length: self.queue.len(),
            queue_capacity: self.queue.capacity(),
            executors,
            labels: self.labels.clone(),
            draining: self.draining,
            tasks_finished: self.finished_total,
        }
    }
}

/// The error of an attempt that ran out of time.
pub const DEADLINE_EXCEEDED: &str = "deadline exceeded";

fn ceil_millis(duration: Duration) -> u64 {
    let nanos = duration.as_nanos().div_ceil(1_000_000);
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[path = "state_deadlines.rs"]
mod deadlines;

#[path = "state_grants.rs"]
mod grants;

#[path = "state_progress.rs"]
mod progress;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "state_fault_tests.rs"]
mod fault_tests;

#[cfg(test)]
#[path = "state_props.rs"]
mod props;
