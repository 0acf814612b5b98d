//! Property test of the job state machine under random sequences of events
//! (reservations placed, late-binding grants, offers taken, declined or
//! unanswered, results that succeed, fail, crash or arrive twice, node loss,
//! overdue attempts, lease expiry, cancellation, error retries waiting out
//! their backoff): every task ends with
//! exactly one terminal result, no attempt runs past `max_attempts`, and a
//! job that is not cancelled always finishes once nodes keep answering.

use std::collections::HashMap;
use std::time::Duration;

use passer_proto::pb::{self, TaskStatus};
use proptest::prelude::*;

use super::job::{Finish, JobState, TaskDefaults};

const NODES: [&str; 4] = ["n0", "n1", "n2", "n3"];
const MAX_ATTEMPTS: u32 = 3;
const TIMEOUT_MS: u64 = 100;

/// One thing that can happen to a job.
#[derive(Debug, Clone)]
enum Event {
    Place { node: usize, count: u32 },
    Grant { node: usize, max: u32 },
    Offer { node: usize, max: u32 },
    Decline { which: usize },
    Unanswered { which: usize },
    Succeed { which: usize },
    FailFinally { which: usize },
    Crash { which: usize },
    Duplicate { which: usize },
    NodeLost { node: usize },
    Advance { millis: u64 },
    Overdue,
    Lease,
    Backoffs,
    Cancel,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (0..NODES.len(), 1..4u32).prop_map(|(node, count)| Event::Place { node, count }),
        4 => (0..NODES.len(), 1..4u32).prop_map(|(node, max)| Event::Grant { node, max }),
        2 => (0..NODES.len(), 1..3u32).prop_map(|(node, max)| Event::Offer { node, max }),
        1 => any::<usize>().prop_map(|which| Event::Decline { which }),
        1 => any::<usize>().prop_map(|which| Event::Unanswered { which }),
        4 => any::<usize>().prop_map(|which| Event::Succeed { which }),
        1 => any::<usize>().prop_map(|which| Event::FailFinally { which }),
        2 => any::<usize>().prop_map(|which| Event::Crash { which }),
        1 => any::<usize>().prop_map(|which| Event::Duplicate { which }),
        1 => (0..NODES.len()).prop_map(|node| Event::NodeLost { node }),
        2 => (1..200u64).prop_map(|millis| Event::Advance { millis }),
        1 => Just(Event::Overdue),
        1 => Just(Event::Lease),
        1 => Just(Event::Backoffs),
        1 => Just(Event::Cancel),
    ]
}

/// The harness: the job, the attempts nodes hold, the results seen.
struct Run {
    job: JobState,
    now: Duration,
    running: Vec<(String, pb::TaskLaunch)>,
    reported: Vec<(String, pb::TaskOutcome)>,
    terminal: HashMap<String, u32>,
    task_count: usize,
}

impl Run {
    fn new(task_count: usize) -> Self {
        let tasks = (0..task_count)
            .map(|i| pb::TaskSpec {
                task_id: format!("t{i}"),
                executor: "echo".into(),
                // Every other task retries its own errors after a backoff.
                retry_on_error: i % 2 == 0,
                retry_backoff_ms: 50,
                ..Default::default()
            })
            .collect();
        let request = pb::SubmitJobRequest { job_id: "prop".into(), tasks, ..Default::default() };
        let defaults = TaskDefaults { timeout_ms: TIMEOUT_MS, max_attempts: MAX_ATTEMPTS };
        Self {
            job: JobState::new(request, defaults, Duration::ZERO),
            now: Duration::ZERO,
            running: Vec::new(),
            reported: Vec::new(),
            terminal: HashMap::new(),
            task_count,
        }
    }

    fn record(&mut self, finish: Finish) {
        if let Finish::Terminal(result) = finish {
            assert!(result.attempt <= MAX_ATTEMPTS, "attempt {} past the limit: {result:?}", result.attempt);
            *self.terminal.entry(result.task_id).or_default() += 1;
        }
    }

    fn take_running(&mut self, which: usize) -> Option<(String, pb::TaskLaunch)> {
        if self.running.is_empty() {
            return None;
        }
        let index = which % self.running.len();
        Some(self.running.swap_remove(index))
    }

    fn report(&mut self, node: String, launch: &pb::TaskLaunch, status: TaskStatus, retryable: bool) {
        let outcome = pb::TaskOutcome {
            job_id: launch.job_id.clone(),
            task_id: launch.task_id.clone(),
            attempt: launch.attempt,
            status: status as i32,
            retryable,
            error: if status == TaskStatus::Succeeded { String::new() } else { "boom".into() },
            ..Default::default()
        };
        let finish = self.job.finish(&node, outcome.clone(), self.now);
        self.record(finish);
        self.reported.push((node, outcome));
    }

    fn apply(&mut self, event: Event) {
        let now = self.now;
        match event {
            Event::Place { node, count } => {
                self.job.reservations_placed("echo", NODES[node], count, now);
            }
            Event::Grant { node, max } => {
                let assignment = self.job.assign(NODES[node], "echo", max, now);
                for launch in assignment.launches {
                    assert!(launch.attempt <= MAX_ATTEMPTS, "launched past the limit: {launch:?}");
                    self.running.push((NODES[node].to_owned(), launch));
                }
            }
            Event::Offer { node, max } => {
                if let Some(demand) = self.job.probe_demands().into_iter().next() {
                    for launch in self.job.offer(&demand, NODES[node], max, now) {
                        self.running.push((NODES[node].to_owned(), launch));
                    }
                }
            }
            Event::Decline { which } => {
                if let Some((node, launch)) = self.take_running(which) {
                    self.job.offer_declined(&node, &launch.task_id, launch.attempt);
                }
            }
            Event::Unanswered { which } => {
                if let Some((node, launch)) = self.take_running(which) {
                    let finish = self.job.offer_unanswered(&node, &launch.task_id, launch.attempt, now);
                    self.record(finish);
                }
            }
            Event::Succeed { which } => {
                if let Some((node, launch)) = self.take_running(which) {
                    self.report(node, &launch, TaskStatus::Succeeded, false);
                }
            }
            Event::FailFinally { which } => {
                if let Some((node, launch)) = self.take_running(which) {
                    self.report(node, &launch, TaskStatus::Failed, false);
                }
            }
            Event::Crash { which } => {
                if let Some((node, launch)) = self.take_running(which) {
                    self.report(node, &launch, TaskStatus::Failed, true);
                }
            }
            Event::Duplicate { which } => {
                if !self.reported.is_empty() {
                    let (node, outcome) = self.reported[which % self.reported.len()].clone();
                    let finish = self.job.finish(&node, outcome, now);
                    assert_eq!(finish, Finish::Ignored, "a result reported twice counted twice");
                }
            }
            Event::NodeLost { node } => {
                for finish in self.job.node_lost(NODES[node], now) {
                    self.record(finish);
                }
            }
            Event::Advance { millis } => self.now += Duration::from_millis(millis),
            Event::Overdue => {
                for finish in self.job.expire_overdue(Duration::from_millis(10), now) {
                    self.record(finish);
                }
            }
            Event::Lease => {
                self.job.expire_lease(Duration::from_millis(50), now);
            }
            Event::Backoffs => {
                self.job.release_backoffs(now);
            }
            Event::Cancel => {
                let (results, _nodes) = self.job.cancel(now);
                for result in results {
                    self.record(Finish::Terminal(result));
                }
            }
        }
        for (task_id, count) in &self.terminal {
            assert_eq!(*count, 1, "task {task_id} has {count} terminal results");
        }
    }

    /// Nodes answer from now on: place what is demanded on a fresh node,
    /// redeem it, and succeed whatever runs, until the job is done.
    fn drive_to_completion(&mut self) {
        for _round in 0..(self.task_count * 4 + 10) {
            if self.job.is_finished() {
                return;
            }
            self.now += Duration::from_millis(1);
            let now = self.now;
            self.job.release_backoffs(now);
            for demand in self.job.probe_demands() {
                self.job.demand_placed(&demand, "fresh", demand.count, now);
            }
            let assignment = self.job.assign("fresh", "echo", u32::MAX, now);
            self.running.extend(assignment.launches.into_iter().map(|launch| ("fresh".to_owned(), launch)));
            for (node, launch) in std::mem::take(&mut self.running) {
                self.report(node, &launch, TaskStatus::Succeeded, false);
            }
            // Attempts lost with the nodes that never answered come back.
            self.now += Duration::from_millis(TIMEOUT_MS + 20);
            for finish in self.job.expire_overdue(Duration::from_millis(10), self.now) {
                self.record(finish);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_task_ends_exactly_once(task_count in 1..12usize, events in prop::collection::vec(event(), 0..80)) {
        let mut run = Run::new(task_count);
        for event in events {
            run.apply(event);
        }
        run.drive_to_completion();
        prop_assert!(run.job.is_finished(), "the job never finished: {} of {} tasks open", run.job.unfinished_count(), task_count);
        prop_assert_eq!(run.terminal.len(), task_count, "terminal results: {:?}", run.terminal);
        prop_assert!(run.terminal.values().all(|&count| count == 1));
        prop_assert_eq!(run.job.results().len(), task_count);
        // After the end nothing counts again.
        for (node, outcome) in run.reported.clone() {
            prop_assert_eq!(run.job.finish(&node, outcome, run.now), Finish::Ignored);
        }
    }
}
