//! The shell around [`NodeState`]: one lock over the state, the scheduler
//! links and the executor channels, so every decision and the sends it
//! causes happen atomically. Sends are on unbounded channels whose depth is
//! bounded by the node's slots (a task is sent only into a free place, a
//! request only for free slots, a report only for a running task), so the
//! lock is never held across an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use passer_proto::pb;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::links::{self, LinkHandle, LinkMessage};
use crate::metrics::NodeMetrics;
use crate::slots::InstanceId;
use crate::state::{Effect, NodeState};

/// A command for one executor instance.
#[derive(Debug)]
pub enum ExecutorCommand {
    /// Start a task.
    Run(pb::RunTask),
    /// Stop a task.
    Cancel(pb::node_message::CancelTask),
    /// Finish and exit.
    Shutdown,
}

struct Inner {
    state: NodeState,
    links: HashMap<String, LinkHandle>,
    instances: HashMap<InstanceId, mpsc::UnboundedSender<ExecutorCommand>>,
}

/// The node monitor's live state, shared by its services and tasks.
pub struct Monitor {
    inner: Mutex<Inner>,
    started: Instant,
    next_instance: AtomicU64,
    next_link: AtomicU64,
    link_config: links::LinkConfig,
    /// Counters the shell bumps as it carries out effects.
    pub metrics: NodeMetrics,
}

impl Monitor {
    /// Wraps a fresh state.
    pub fn new(state: NodeState, link_config: links::LinkConfig) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner { state, links: HashMap::new(), instances: HashMap::new() }),
            started: Instant::now(),
            next_instance: AtomicU64::new(1),
            next_link: AtomicU64::new(1),
            link_config,
            metrics: NodeMetrics::default(),
        })
    }

    /// Time since the monitor started: the clock handed to the policy.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Runs `decide` on the state and carries out the effects it returns.
    pub fn with_state<R>(self: &Arc<Self>, decide: impl FnOnce(&mut NodeState, Duration) -> (R, Vec<Effect>)) -> R {
        let now = self.now();
        let mut inner = self.inner.lock();
        let (answer, effects) = decide(&mut inner.state, now);
        self.apply(&mut inner, effects);
        answer
    }

    /// Reads the state without changing it.
    pub fn read<R>(&self, read: impl FnOnce(&NodeState) -> R) -> R {
        read(&self.inner.lock().state)
    }

    /// Registers an executor instance; returns its id.
    pub fn attach_instance(
        self: &Arc<Self>,
        executor: &str,
        slots: u32,
        queue_per_slot: u32,
        label: String,
        commands: mpsc::UnboundedSender<ExecutorCommand>,
    ) -> InstanceId {
        let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
        tracing::info!(instance = id, executor, slots, queue_per_slot, %label, "executor attached");
        let mut inner = self.inner.lock();
        inner.instances.insert(id, commands);
        let effects = inner.state.on_attach(id, executor, slots, queue_per_slot, label);
        self.apply(&mut inner, effects);
        id
    }

    /// An executor instance is gone; its running tasks fail with `reason`.
    pub fn instance_gone(self: &Arc<Self>, id: InstanceId, reason: &str) {
        tracing::warn!(instance = id, reason, "executor detached");
        self.inner.lock().instances.remove(&id);
        self.with_state(|state, _| ((), state.on_instance_gone(id, reason)));
    }

    /// Asks every executor instance to exit.
    pub fn shutdown_executors(&self) {
        for commands in self.inner.lock().instances.values() {
            let _ = commands.send(ExecutorCommand::Shutdown);
        }
    }

    fn apply(self: &Arc<Self>, inner: &mut Inner, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::AskScheduler { scheduler, request } => {
                    self.metrics.get_task_requested.inc_by(u64::from(request.max_tasks));
                    self.send_link(inner, scheduler, LinkMessage::Request(request));
                }
                Effect::Report { scheduler, outcome } => {
                    self.metrics.observe_outcome(&outcome);
                    tracing::debug!(job_id = %outcome.job_id, task_id = %outcome.task_id, attempt = outcome.attempt, status = outcome.status, "task reported");
                    self.send_link(inner, scheduler, LinkMessage::Outcome(outcome));
                }
                Effect::Run { instance, task } => {
                    self.metrics.tasks_launched.inc();
                    tracing::debug!(job_id = %task.job_id, task_id = %task.task_id, attempt = task.attempt, instance, "task started");
                    let sent =
                        inner.instances.get(&instance).is_some_and(|tx| tx.send(ExecutorCommand::Run(task)).is_ok());
                    if !sent {
                        tracing::debug!(instance, "task for a departed executor; its loss is reported separately");
                    }
                }
                Effect::Cancel { instance, cancel } => {
                    self.metrics.tasks_cancelled.inc();
                    if let Some(tx) = inner.instances.get(&instance) {
                        let _ = tx.send(ExecutorCommand::Cancel(cancel));
                    }
                }
                Effect::SchedulerSuspect { scheduler, timed_out, wait } => {
                    tracing::warn!(
                        %scheduler,
                        timed_out,
                        wait_ms = wait.as_millis() as u64,
                        "scheduler did not answer GetTask in time: slots released, its reservations wait"
                    );
                }
                Effect::Progress { scheduler, progress } => {
                    self.send_link(inner, scheduler, LinkMessage::Progress(progress));
                }
                Effect::Withdraw { instance, reason } => {
                    tracing::warn!(instance, %reason, "executor withdrawn: its tasks go back to their schedulers");
                    // Dropping the channel ends the attach stream.
                    inner.instances.remove(&instance);
                }
            }
        }
    }

    fn send_link(self: &Arc<Self>, inner: &mut Inner, scheduler: String, message: LinkMessage) {
        if let Some(link) = inner.links.get(&scheduler) {
            match link.sender.send(message) {
                Ok(()) => return,
                Err(returned) => {
                    inner.links.remove(&scheduler);
                    return self.open_link(inner, scheduler, returned.0);
                }
            }
        }
        self.open_link(inner, scheduler, message);
    }

    fn open_link(self: &Arc<Self>, inner: &mut Inner, scheduler: String, first: LinkMessage) {
        let generation = self.next_link.fetch_add(1, Ordering::Relaxed);
        let handle = links::spawn_link(Arc::clone(self), scheduler.clone(), generation, self.link_config.clone());
        let _ = handle.sender.send(first);
        inner.links.insert(scheduler, handle);
    }

    /// Called by a link task when its stream ended or never opened.
    pub fn link_lost(self: &Arc<Self>, scheduler: &str, generation: u64, reason: &str) {
        let mut inner = self.inner.lock();
        let current = inner.links.get(scheduler).is_some_and(|link| link.generation == generation);
        if !current {
            return;
        }
        tracing::warn!(scheduler, reason, "scheduler link lost");
        inner.links.remove(scheduler);
        let effects = inner.state.on_link_lost(scheduler);
        self.apply(&mut inner, effects);
    }

    /// Answers from a scheduler.
    pub fn on_grants(self: &Arc<Self>, responses: Vec<pb::GetTaskResponse>) {
        let now = self.now();
        let mut inner = self.inner.lock();
        let mut effects = Vec::new();
        for response in responses {
            self.metrics.get_task_granted.inc_by(response.tasks.len() as u64);
            if response.tasks.is_empty() {
                self.metrics.get_task_empty.inc();
            }
            effects.extend(inner.state.on_grant(response, now));
        }
        self.apply(&mut inner, effects);
    }

    /// A message other than results from an executor instance.
    pub fn on_heard(self: &Arc<Self>, instance: InstanceId, heartbeat: bool) {
        let now = self.now();
        self.inner.lock().state.on_heard(instance, heartbeat, now);
    }

    /// Progress of a task from an executor instance.
    pub fn on_progress(self: &Arc<Self>, instance: InstanceId, progress: pb::executor_message::Progress) {
        self.with_state(|state, now| ((), state.on_progress(instance, progress, now)));
    }

    /// Results from an executor instance.
    pub fn on_results(self: &Arc<Self>, instance: InstanceId, results: Vec<pb::TaskResult>) {
        self.with_state(|state, now| ((), state.on_results(instance, results, now)));
    }
}
