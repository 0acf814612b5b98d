//! Property test of the node monitor's policy ([`NodeState`]) under random
//! sequences of events: executors attaching, dying and going silent,
//! reservations (with offered tasks) from two schedulers, grants answered
//! at once, late (after the node gave up waiting) or never, results, job
//! cancellation, a scheduler's link breaking, and time passing with its
//! deadlines. A fake scheduler and fake executors answer the effects the
//! way the real ones do. Checked after every step: no executor runs more
//! tasks than its slots plus the queue places it declared, the reservation
//! queue stays within its bound; and at the end, once everything is
//! answered and time has run past every deadline: every task the node took
//! (granted or offered) was reported to its scheduler exactly once, unless
//! that scheduler's link broke while the task was here (then the scheduler
//! re-places it itself and at most one report may still arrive).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use passer_proto::pb;
use proptest::prelude::*;

use super::{Effect, NodeState, StateConfig};
use crate::slots::InstanceId;

const SCHEDULERS: [&str; 2] = ["s0", "s1"];
const EXECUTOR: &str = "echo";
const QUEUE_CAPACITY: u32 = 12;
const TIMEOUT_MS: u64 = 800;

/// One thing that can happen to a node.
#[derive(Debug, Clone)]
enum Event {
    Attach { slots: u32, queue_per_slot: u32 },
    InstanceGone { which: usize },
    Reserve { scheduler: usize, count: u32, offered: u32 },
    Grant { which: usize, tasks: u32 },
    Finish { which: usize, ok: bool },
    Cancel { which: usize },
    LinkLost { scheduler: usize },
    Heartbeats,
    Advance { millis: u64 },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        1 => (1..4u32, 0..3u32).prop_map(|(slots, queue_per_slot)| Event::Attach { slots, queue_per_slot }),
        1 => any::<usize>().prop_map(|which| Event::InstanceGone { which }),
        4 => (0..2usize, 0..5u32, 0..3u32).prop_map(|(scheduler, count, offered)| Event::Reserve { scheduler, count, offered }),
        5 => (any::<usize>(), 0..4u32).prop_map(|(which, tasks)| Event::Grant { which, tasks }),
        5 => (any::<usize>(), any::<bool>()).prop_map(|(which, ok)| Event::Finish { which, ok }),
        1 => any::<usize>().prop_map(|which| Event::Cancel { which }),
        1 => (0..2usize).prop_map(|scheduler| Event::LinkLost { scheduler }),
        2 => Just(Event::Heartbeats),
        3 => (1..1500u64).prop_map(|millis| Event::Advance { millis }),
    ]
}

/// A task the node took, by (job, task).
type TaskKey = (String, String);

/// The fake cluster around the node: the schedulers' view and the
/// executors' work.
#[derive(Default)]
struct World {
    now: Duration,
    next_instance: InstanceId,
    /// Attached instances: slots plus queue places.
    instances: BTreeMap<InstanceId, u32>,
    /// Tasks each instance was told to run and has not answered.
    executing: BTreeMap<InstanceId, Vec<pb::RunTask>>,
    /// GetTask requests not answered yet: (scheduler, request).
    asks: Vec<(String, pb::GetTaskRequest)>,
    /// Jobs by id, with their scheduler.
    jobs: BTreeMap<String, String>,
    next_job: u32,
    next_task: u32,
    /// Every task the node took, with the scheduler it came from.
    taken: HashMap<TaskKey, String>,
    /// Tasks taken while their scheduler's link later broke.
    link_broke: BTreeSet<TaskKey>,
    /// Reports per task.
    reports: HashMap<TaskKey, u32>,
}

impl World {
    fn launch(&mut self, job: &str) -> pb::TaskLaunch {
        self.next_task += 1;
        let task = format!("t{}", self.next_task);
        self.taken.insert((job.to_owned(), task.clone()), self.jobs[job].clone());
        pb::TaskLaunch {
            job_id: job.to_owned(),
            task_id: task,
            attempt: 1,
            executor: EXECUTOR.to_owned(),
            payload: Default::default(),
            timeout_ms: TIMEOUT_MS,
            hops: None,
        }
    }

    fn absorb(&mut self, effects: Vec<Effect>) -> Result<(), TestCaseError> {
        for effect in effects {
            match effect {
                Effect::AskScheduler { scheduler, request } => self.asks.push((scheduler, request)),
                Effect::Report { scheduler, outcome } => {
                    let key = (outcome.job_id.clone(), outcome.task_id.clone());
                    let from = self.taken.get(&key);
                    prop_assert!(from == Some(&scheduler), "report of {key:?} to {scheduler}, taken from {from:?}");
                    *self.reports.entry(key).or_default() += 1;
                }
                Effect::Run { instance, task } => {
                    prop_assert!(
                        self.instances.contains_key(&instance),
                        "task sent to instance {instance}, not attached"
                    );
                    self.executing.entry(instance).or_default().push(task);
                    let held = self.executing[&instance].len() as u32;
                    prop_assert!(held <= self.instances[&instance], "instance {instance} holds {held} tasks");
                }
                Effect::Cancel { instance, cancel } => {
                    // The fake executor stops the task at once and says
                    // nothing: the node frees the slot after the grace.
                    if let Some(running) = self.executing.get_mut(&instance) {
                        running.retain(|t| (&t.job_id, &t.task_id) != (&cancel.job_id, &cancel.task_id));
                    }
                }
                Effect::SchedulerSuspect { .. } | Effect::Progress { .. } => {}
                Effect::Withdraw { instance, .. } => {
                    self.instances.remove(&instance);
                    self.executing.remove(&instance);
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, state: &mut NodeState, event: Event) -> Result<(), TestCaseError> {
        let effects = match event {
            Event::Attach { slots, queue_per_slot } => {
                self.next_instance += 1;
                let instance = self.next_instance;
                self.instances.insert(instance, slots + slots * queue_per_slot);
                state.on_attach(instance, EXECUTOR, slots, queue_per_slot, format!("pid:{instance}"))
            }
            Event::InstanceGone { which } => {
                let Some(&instance) = pick(self.instances.keys(), which) else { return Ok(()) };
                self.instances.remove(&instance);
                self.executing.remove(&instance);
                state.on_instance_gone(instance, "executor exited")
            }
            Event::Reserve { scheduler, count, offered } => {
                self.next_job += 1;
                let job = format!("j{}", self.next_job);
                self.jobs.insert(job.clone(), SCHEDULERS[scheduler].to_owned());
                let offered = (0..offered).map(|_| self.launch(&job)).collect();
                let request = pb::EnqueueReservationsRequest {
                    job_id: job.clone(),
                    scheduler_address: SCHEDULERS[scheduler].to_owned(),
                    executor: EXECUTOR.to_owned(),
                    count,
                    offered,
                    ..Default::default()
                };
                let (response, effects) = state.enqueue(request, self.now);
                for declined in &response.declined_task_ids {
                    self.taken.remove(&(job.clone(), declined.clone()));
                }
                prop_assert!(response.queue_length <= QUEUE_CAPACITY, "queue {}", response.queue_length);
                effects
            }
            Event::Grant { which, tasks } => {
                if self.asks.is_empty() {
                    return Ok(());
                }
                let (_, request) = self.asks.remove(which % self.asks.len());
                let tasks = (0..tasks.min(request.max_tasks)).map(|_| self.launch(&request.job_id)).collect();
                let response = pb::GetTaskResponse { tasks, request_id: request.request_id, ..Default::default() };
                state.on_grant(response, self.now)
            }
            Event::Finish { which, ok } => {
                let Some(&instance) = pick(self.executing.keys(), which) else { return Ok(()) };
                let running = self.executing.get_mut(&instance).expect("picked");
                if running.is_empty() {
                    return Ok(());
                }
                let task = running.remove(which % running.len());
                let result = pb::TaskResult {
                    job_id: task.job_id,
                    task_id: task.task_id,
                    attempt: task.attempt,
                    ok,
                    error: if ok { String::new() } else { "boom".to_owned() },
                    ..Default::default()
                };
                state.on_results(instance, vec![result], self.now)
            }
            Event::Cancel { which } => {
                let Some(job) = pick(self.jobs.keys(), which).cloned() else { return Ok(()) };
                let request = pb::CancelReservationsRequest { job_id: job, stop_running: true, ..Default::default() };
                state.cancel(&request, self.now).1
            }
            Event::LinkLost { scheduler } => {
                let scheduler = SCHEDULERS[scheduler];
                for (key, from) in &self.taken {
                    if from == scheduler {
                        self.link_broke.insert(key.clone());
                    }
                }
                self.asks.retain(|(to, _)| to != scheduler);
                state.on_link_lost(scheduler)
            }
            Event::Heartbeats => {
                for &instance in self.instances.keys() {
                    state.on_heard(instance, true, self.now);
                }
                Vec::new()
            }
            Event::Advance { millis } => {
                self.now += Duration::from_millis(millis);
                state.sweep(self.now)
            }
        };
        self.absorb(effects)?;
        let capacity = state.load().queue_length;
        prop_assert!(capacity <= QUEUE_CAPACITY, "queue {capacity} over its bound");
        Ok(())
    }

    /// Answers everything: asks with no task, every executing task, then
    /// time past every deadline and grace, until nothing moves.
    fn settle(&mut self, state: &mut NodeState) -> Result<(), TestCaseError> {
        for _ in 0..64 {
            let asks = std::mem::take(&mut self.asks);
            let executing = std::mem::take(&mut self.executing);
            if asks.is_empty() && executing.values().all(Vec::is_empty) {
                self.now += Duration::from_secs(60);
                let effects = state.sweep(self.now);
                let quiet = effects.is_empty();
                self.absorb(effects)?;
                if quiet && self.asks.is_empty() {
                    return Ok(());
                }
                continue;
            }
            for (_, request) in asks {
                let response = pb::GetTaskResponse { request_id: request.request_id, ..Default::default() };
                let effects = state.on_grant(response, self.now);
                self.absorb(effects)?;
            }
            for (instance, tasks) in executing {
                for task in tasks {
                    let result = pb::TaskResult {
                        job_id: task.job_id,
                        task_id: task.task_id,
                        attempt: task.attempt,
                        ok: true,
                        ..Default::default()
                    };
                    let effects = state.on_results(instance, vec![result], self.now);
                    self.absorb(effects)?;
                }
            }
        }
        Err(TestCaseError::fail("the node never settled"))
    }
}

fn pick<'a, T>(mut items: impl ExactSizeIterator<Item = &'a T>, which: usize) -> Option<&'a T> {
    let len = items.len();
    if len == 0 {
        return None;
    }
    items.nth(which % len)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_task_taken_is_reported_exactly_once(
        prefetch in 0..3u32,
        events in prop::collection::vec(event(), 1..120),
    ) {
        let config = StateConfig {
            cancel_grace: Duration::from_millis(500),
            prefetch_per_slot: prefetch,
            get_task_timeout: Duration::from_millis(300),
            executor_silence: Duration::from_secs(3),
            ..StateConfig::with_capacity(QUEUE_CAPACITY)
        };
        let mut state = NodeState::new("n".into(), Vec::new(), config);
        let mut world = World::default();
        for event in events {
            world.apply(&mut state, event)?;
        }
        world.settle(&mut state)?;
        for (key, scheduler) in &world.taken {
            let reports = world.reports.get(key).copied().unwrap_or(0);
            if world.link_broke.contains(key) {
                prop_assert!(reports <= 1, "{key:?} from {scheduler} reported {reports} times");
            } else {
                prop_assert_eq!(reports, 1, "{:?} from {} reported {} times", key, scheduler, reports);
            }
        }
        prop_assert_eq!(state.running_count(), 0, "tasks left on the node after settling");
    }
}
