//! The node monitor's decisions, free of I/O: reservations in, GetTask
//! requests out when slots free up, tasks onto executor instances, results
//! back to schedulers, deadlines and executor loss.
//!
//! Every method returns the [`Effect`]s the I/O shell must carry out (send a
//! request on a scheduler link, a task to an executor). Time is passed in.

use std::collections::HashMap;
use std::time::Duration;

use passer_proto::pb::{self, TaskStatus};

use crate::prefetch::{HeldTask, Prefetch};
use crate::queue::{Reservation, ReservationQueue};
use crate::slots::{InstanceId, SlotTable};
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
}

#[derive(Debug)]
struct PendingRequest {
    scheduler: String,
    executor: String,
    count: u32,
    /// How many of `count` were free slots (the rest are prefetch places).
    slot_claims: u32,
    tenant: String,
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
}

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

    /// An answer to a GetTask request: start the tasks it carries.
    pub fn on_grant(&mut self, response: pb::GetTaskResponse, now: Duration) -> Vec<Effect> {
        self.last_now = self.last_now.max(now);
        let Some(pending) = self.requests.remove(&response.request_id) else {
            return Vec::new();
        };
        self.slots.unclaim(&pending.executor, pending.slot_claims);
        self.prefetch.unclaim(&pending.executor, pending.count - pending.slot_claims);
        let used = (response.tasks.len() as u32).min(pending.count);
        self.queue.refund(&pending.tenant, pending.count - used);
        let mut effects = Vec::with_capacity(response.tasks.len());
        for launch in response.tasks.into_iter().take(pending.count as usize) {
            let no_free_slot = self.slots.free(&launch.executor) == 0;
            if no_free_slot && self.slots.instance_count(&launch.executor) > 0 {
                self.prefetch.hold(HeldTask { launch, scheduler: pending.scheduler.clone(), granted_at: now });
            } else {
                self.start_task(launch, &pending.scheduler, now, now, &mut effects);
            }
        }
        effects.extend(self.dispatch());
        effects
    }

    /// Starts a task granted at `granted_at` (its deadline counts from
    /// then, so a task held for a slot does not outlive the scheduler's
    /// own deadline for it).
    fn start_task(
        &mut self,
        launch: pb::TaskLaunch,
        scheduler: &str,
        granted_at: Duration,
        now: Duration,
        effects: &mut Vec<Effect>,
    ) {
        let Some(instance) = self.slots.start(&launch.executor) else {
            // The executor went away while the request was in flight.
            effects.push(Effect::Report {
                scheduler: scheduler.to_owned(),
                outcome: self.lost_outcome(
                    &launch.job_id,
                    &launch.task_id,
                    launch.attempt,
                    "no executor slot left on the node".into(),
                ),
            });
            return;
        };
        let key = (launch.job_id.clone(), launch.task_id.clone());
        let deadline = granted_at + Duration::from_millis(launch.timeout_ms);
        let remaining_ms = u64::try_from(deadline.saturating_sub(now).as_millis()).unwrap_or(u64::MAX);
        let run = Running {
            instance,
            attempt: launch.attempt,
            scheduler: scheduler.to_owned(),
            started_at: now,
            deadline,
            cancelled_at: None,
        };
        if let Some(previous) = self.running.insert(key, run) {
            // A retry of a task whose earlier attempt still holds a slot here.
            self.slots.finish(previous.instance);
        }
        effects.push(Effect::Run {
            instance,
            task: pb::RunTask {
                job_id: launch.job_id,
                task_id: launch.task_id,
                attempt: launch.attempt,
                payload: launch.payload,
                deadline_ms: remaining_ms.max(1),
            },
        });
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
        self.dispatch()
    }

    /// An executor instance is gone: fail its running tasks (retryable).
    pub fn on_instance_gone(&mut self, instance: InstanceId, reason: &str) -> Vec<Effect> {
        self.slots.detach(instance);
        self.instance_labels.remove(&instance);
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
            let status = if result.ok { TaskStatus::Succeeded } else { TaskStatus::Failed };
            let outcome = pb::TaskOutcome {
                job_id: key.0,
                task_id: key.1,
                attempt: result.attempt,
                status: status as i32,
                output: result.output,
                error: result.error,
                retryable: false,
                run_micros: micros(now.saturating_sub(run.started_at)),
                executor_id: self.instance_labels.get(&instance).cloned().unwrap_or_default(),
            };
            effects.push(Effect::Report { scheduler: run.scheduler, outcome });
        }
        effects.extend(self.dispatch());
        effects
    }

    /// Enforces deadlines: overdue tasks are cancelled and reported as
    /// `deadline exceeded`; cancelled tasks past the grace free their slot.
    pub fn sweep(&mut self, now: Duration) -> Vec<Effect> {
        self.last_now = self.last_now.max(now);
        let mut effects = Vec::new();
        let overdue: Vec<TaskKey> = self
            .running
            .iter()
            .filter(|(_, r)| r.cancelled_at.is_none() && r.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in overdue {
            self.cancel_running(&key, "deadline exceeded", true, now, &mut effects);
        }
        let grace = self.config.cancel_grace;
        let stuck: Vec<TaskKey> = self
            .running
            .iter()
            .filter(|(_, r)| r.cancelled_at.is_some_and(|at| at + grace <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in stuck {
            let run = self.running.remove(&key).expect("key taken from the map");
            self.slots.finish(run.instance);
        }
        effects.extend(self.dispatch());
        effects
    }

    fn cancel_running(
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
            let Some(redeem) = self.queue.next_redeem(open) else { break };
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

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
