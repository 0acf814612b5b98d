//! The job state machine: which task goes to the next node that asks (late
//! binding), when leftover reservations can be cancelled, retries, and the
//! one terminal result per task. Opt-in retries of a task's own errors wait
//! out a backoff first (`job_retries.rs`).
//!
//! Pure code: no sockets, no spawned tasks, no clock reads. Every call that
//! depends on time takes `now`, a `Duration` since an epoch the caller picks
//! (the server's start, or the simulator's virtual zero).
//!
//! Tasks are grouped by executor type and placement constraint: each group
//! is probed among the nodes that can run it (for a constrained group, `d`
//! probes per task among its candidates). A reservation is for one executor
//! type, so a node redeeming one gets a pending task of that executor type
//! from any group whose constraint admits the node (the Sparrow paper's
//! scheme for mixed constraints), never a task it is not eligible for.
//! What the status page's job view lists is read out in `job_view.rs`; the
//! late-binding assignment itself is in `job_assign.rs`.
//!
//! Payloads are `Bytes` stored once, in the accepted request's specs: every
//! launch, offer and retry shares that buffer. A terminal output is copied
//! once into a buffer of its own (see [`JobState::finish`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use passer_proto::pb::{self, TaskStatus};

use super::constraint::Constraint;

/// A node monitor's id, as it names itself.
pub type NodeId = String;

/// Defaults applied to tasks that leave a field at zero.
#[derive(Debug, Clone, Copy)]
pub struct TaskDefaults {
    /// Run-time limit per attempt.
    pub timeout_ms: u64,
    /// Attempts per task.
    pub max_attempts: u32,
}

impl Default for TaskDefaults {
    fn default() -> Self {
        Self { timeout_ms: 3_600_000, max_attempts: 3 }
    }
}

/// Where a task is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TaskState {
    Pending,
    Launched { node: NodeId, launched_at: Duration },
    Done,
}

#[derive(Debug)]
struct TaskEntry {
    spec: pb::TaskSpec,
    group: usize,
    attempt: u32,
    state: TaskState,
    attempt_errors: Vec<String>,
    /// Times a node handed the task back unstarted (no attempt spent).
    unstarted: u32,
}

/// Hand-backs of a never-started task that spend no attempt; past this
/// they count, so a task bounced between sick nodes still ends.
const MAX_UNSTARTED_HANDBACKS: u32 = 16;

/// The tasks of one executor type and constraint, and the reservations
/// placed for them.
#[derive(Debug, Default)]
struct Group {
    executor: String,
    constraint: Constraint,
    pending: VecDeque<usize>,
    outstanding: HashMap<NodeId, u32>,
}

impl Group {
    fn outstanding_total(&self) -> u64 {
        self.outstanding.values().map(|&n| u64::from(n)).sum()
    }
}

/// Tasks handed to one asking node, and the nodes whose leftover reservations
/// can now be cancelled (the group has launched every task).
#[derive(Debug, Default)]
pub struct Assignment {
    /// Zero or more tasks for the asker.
    pub launches: Vec<pb::TaskLaunch>,
    /// Nodes still holding reservations of a fully launched group.
    pub cancel_nodes: Vec<NodeId>,
}

/// What an attempt's outcome did to its task.
#[derive(Debug, PartialEq)]
// A short-lived return value: boxing the result would cost an allocation per task.
#[allow(clippy::large_enum_variant)]
pub enum Finish {
    /// Stale or duplicate (another attempt, an unknown task, already done).
    Ignored,
    /// The task went back to pending for another attempt.
    Retried {
        /// The executor type that needs a reservation for the retry.
        executor: String,
    },
    /// The task reached its one terminal result.
    Terminal(pb::TaskFinished),
}

/// Reservations a group still needs: pending tasks beyond outstanding ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeDemand {
    /// The executor type of the group.
    pub executor: String,
    /// How many new reservations to place.
    pub count: u32,
    /// The nodes the reservations may go to (the default: any node).
    pub constraint: Constraint,
}

/// One job's tasks, reservations and results.
#[derive(Debug)]
pub struct JobState {
    job_id: String,
    tenant: String,
    priority: i32,
    accepted_at: Duration,
    last_progress: Duration,
    tasks: Vec<TaskEntry>,
    index: HashMap<String, usize>,
    groups: Vec<Group>,
    results: Vec<pb::TaskFinished>,
    summary: pb::JobFinished,
    cancelled: bool,
    /// Tasks waiting out a retry backoff: (due, task index), unordered.
    backing_off: Vec<(Duration, usize)>,
}

impl JobState {
    /// Creates a job from validated tasks, leaving out `skip` task ids.
    ///
    /// The request must have passed validation: task ids unique and non-empty.
    pub fn new(request: pb::SubmitJobRequest, defaults: TaskDefaults, now: Duration) -> Self {
        let job_constraint = Constraint::parse(&request.constraints);
        let skip: HashSet<&str> = request.skip_task_ids.iter().map(String::as_str).collect();
        let mut tasks = Vec::with_capacity(request.tasks.len());
        let mut index = HashMap::with_capacity(request.tasks.len());
        let mut groups: Vec<Group> = Vec::new();
        for mut spec in request.tasks {
            if skip.contains(spec.task_id.as_str()) {
                continue;
            }
            if spec.timeout_ms == 0 {
                spec.timeout_ms = defaults.timeout_ms;
            }
            if spec.max_attempts == 0 {
                spec.max_attempts = defaults.max_attempts;
            }
            let constraint = job_constraint.and(&Constraint::parse(&spec.constraints));
            let group = match groups.iter().position(|g| g.executor == spec.executor && g.constraint == constraint) {
                Some(existing) => existing,
                None => {
                    groups.push(Group { executor: spec.executor.clone(), constraint, ..Group::default() });
                    groups.len() - 1
                }
            };
            let task_index = tasks.len();
            groups[group].pending.push_back(task_index);
            let previous = index.insert(spec.task_id.clone(), task_index);
            debug_assert!(previous.is_none(), "duplicate task id passed validation");
            tasks.push(TaskEntry {
                spec,
                group,
                attempt: 0,
                state: TaskState::Pending,
                attempt_errors: Vec::new(),
                unstarted: 0,
            });
        }
        Self {
            job_id: request.job_id,
            tenant: request.tenant,
            priority: request.priority,
            accepted_at: now,
            last_progress: now,
            tasks,
            index,
            groups,
            results: Vec::new(),
            summary: pb::JobFinished::default(),
            cancelled: false,
            backing_off: Vec::new(),
        }
    }

    /// The job's id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The job's tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The job's priority.
    pub fn priority(&self) -> i32 {
        self.priority
    }

    /// Tasks in this submission.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Tasks without a terminal result yet.
    pub fn unfinished_count(&self) -> usize {
        self.tasks.len() - self.results.len()
    }

    /// True once every task has its terminal result.
    pub fn is_finished(&self) -> bool {
        self.results.len() == self.tasks.len()
    }

    /// Counts of terminal statuses so far.
    pub fn summary(&self) -> pb::JobFinished {
        self.summary
    }

    /// Terminal results so far, in the order they ended.
    pub fn results(&self) -> &[pb::TaskFinished] {
        &self.results
    }

    /// The terminal results, giving the state up (for keeping them once the
    /// job has finished).
    pub fn into_results(self) -> Vec<pb::TaskFinished> {
        self.results
    }

    /// The executor types this job needs (once each).
    pub fn executors(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .enumerate()
            .filter(|(i, g)| !self.groups[..*i].iter().any(|earlier| earlier.executor == g.executor))
            .map(|(_, g)| g.executor.as_str())
    }

    /// Each distinct (executor type, constraint) the job's tasks need.
    pub fn placements(&self) -> impl Iterator<Item = (&str, &Constraint)> {
        self.groups.iter().map(|g| (g.executor.as_str(), &g.constraint))
    }

    /// Whether attempt `attempt` of `task_id` is running on `node` (so a
    /// report about it is current).
    pub fn is_running(&self, task_id: &str, node: &str, attempt: u32) -> bool {
        self.index.get(task_id).is_some_and(|&i| {
            let task = &self.tasks[i];
            task.attempt == attempt && matches!(&task.state, TaskState::Launched { node: n, .. } if n == node)
        })
    }

    /// The node ids with an attempt of this job running.
    pub fn running_nodes(&self) -> Vec<NodeId> {
        let mut nodes: Vec<NodeId> = self
            .tasks
            .iter()
            .filter_map(|t| match &t.state {
                TaskState::Launched { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    /// Reservations each group needs so that every pending task is covered.
    pub fn probe_demands(&self) -> Vec<ProbeDemand> {
        self.groups
            .iter()
            .filter_map(|group| {
                let pending = group.pending.len() as u64;
                let deficit = pending.saturating_sub(group.outstanding_total());
                (deficit > 0).then(|| ProbeDemand {
                    executor: group.executor.clone(),
                    count: deficit as u32,
                    constraint: group.constraint.clone(),
                })
            })
            .collect()
    }

    /// Records reservations a node accepted for the job's unconstrained
    /// `executor` group (or its first group of that executor type). See
    /// [`Self::demand_placed`].
    pub fn reservations_placed(&mut self, executor: &str, node: &str, accepted: u32, now: Duration) -> bool {
        let group = self
            .groups
            .iter()
            .position(|g| g.executor == executor && g.constraint.is_any())
            .or_else(|| self.groups.iter().position(|g| g.executor == executor));
        match group {
            Some(group) => self.record_placed(group, node, accepted, now),
            None => false,
        }
    }

    /// Records reservations a node accepted for `demand`. Returns true when
    /// they are already surplus (every task they could serve launched while
    /// they were being placed) and should be cancelled now.
    pub fn demand_placed(&mut self, demand: &ProbeDemand, node: &str, accepted: u32, now: Duration) -> bool {
        match self.groups.iter().position(|g| g.executor == demand.executor && g.constraint == demand.constraint) {
            Some(group) => self.record_placed(group, node, accepted, now),
            None => false,
        }
    }

    fn record_placed(&mut self, group_index: usize, node: &str, accepted: u32, now: Duration) -> bool {
        if accepted == 0 {
            return false;
        }
        let group = &self.groups[group_index];
        if self.cancelled {
            return true;
        }
        if group.pending.is_empty() {
            // Cancelling drops every reservation of this executor type on the
            // node, so only when no other group still counts on them.
            return !self.still_needed(&group.executor.clone(), node);
        }
        *self.groups[group_index].outstanding.entry(node.to_owned()).or_default() += accepted;
        self.last_progress = now;
        false
    }

    /// Applies a node's report of one attempt. A terminal result carries
    /// the logs of this attempt, the one that produced it. Its output is
    /// copied once into a buffer of its own: the decoded output is a view of
    /// the receive buffer that carried a whole batch of outcomes, and results
    /// outlive it (replays, retention), so a view would pin that buffer.
    pub fn finish(&mut self, node: &str, mut outcome: pb::TaskOutcome, now: Duration) -> Finish {
        let logs = std::mem::take(&mut outcome.logs);
        let hops = outcome.hops.take();
        let mut finish = self.apply_outcome(node, outcome, now);
        if let Finish::Terminal(result) = &mut finish {
            result.hops = hops;
        }
        if let (Finish::Terminal(result), false) = (&mut finish, logs.is_empty()) {
            if let Some(kept) = self.results.last_mut().filter(|kept| kept.task_id == result.task_id) {
                kept.logs.clone_from(&logs);
            }
            result.logs = logs;
        }
        finish
    }

    fn apply_outcome(&mut self, node: &str, outcome: pb::TaskOutcome, now: Duration) -> Finish {
        let Some(&task_index) = self.index.get(&outcome.task_id) else {
            return Finish::Ignored;
        };
        let task = &self.tasks[task_index];
        let launched_here = matches!(&task.state, TaskState::Launched { node: n, .. } if n == node);
        if !launched_here || task.attempt != outcome.attempt {
            return Finish::Ignored;
        }
        self.last_progress = now;
        let succeeded = outcome.status == TaskStatus::Succeeded as i32;
        if !succeeded && outcome.retryable && outcome.not_started {
            return self.hand_back(task_index, node, &outcome.error, now);
        }
        if !succeeded && outcome.retryable {
            return self.retry_or_fail(task_index, node, &outcome.error, now);
        }
        if !succeeded && self.tasks[task_index].spec.retry_on_error {
            return self.retry_after_backoff(task_index, node, &outcome.error, now);
        }
        let status = if succeeded { TaskStatus::Succeeded } else { TaskStatus::Failed };
        let run_micros = outcome.run_micros;
        let executor_id = outcome.executor_id;
        self.terminal(task_index, status, outcome.output, outcome.error, run_micros, executor_id, now)
    }

    /// A node monitor is gone: its running attempts are retried (or fail once
    /// out of attempts) and its reservations no longer count.
    pub fn node_lost(&mut self, node: &str, now: Duration) -> Vec<Finish> {
        for group in &mut self.groups {
            group.outstanding.remove(node);
        }
        let lost: Vec<usize> = self
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(&t.state, TaskState::Launched { node: n, .. } if n == node))
            .map(|(i, _)| i)
            .collect();
        let reason = format!("node monitor {node} was lost");
        lost.into_iter().map(|i| self.retry_or_fail(i, node, &reason, now)).collect()
    }

    /// Attempts with no result long after their deadline (`timeout + grace`):
    /// the node is presumed to have lost them, and they are retried.
    pub fn expire_overdue(&mut self, grace: Duration, now: Duration) -> Vec<Finish> {
        let overdue: Vec<(usize, NodeId)> = self
            .tasks
            .iter()
            .enumerate()
            .filter_map(|(i, t)| match &t.state {
                TaskState::Launched { node, launched_at }
                    if *launched_at + Duration::from_millis(t.spec.timeout_ms) + grace <= now =>
                {
                    Some((i, node.clone()))
                }
                _ => None,
            })
            .collect();
        overdue
            .into_iter()
            .map(|(i, node)| self.retry_or_fail(i, &node, "no result from the node monitor after the deadline", now))
            .collect()
    }

    /// Lease expiry: when the job has pending tasks and nothing happened for
    /// `lease`, its reservations are presumed lost and every pending task
    /// needs a new one. Returns the demands to probe (empty if not stale).
    pub fn expire_lease(&mut self, lease: Duration, now: Duration) -> Vec<ProbeDemand> {
        let has_pending = self.groups.iter().any(|g| !g.pending.is_empty());
        if self.cancelled || !has_pending || now < self.last_progress + lease {
            return Vec::new();
        }
        self.last_progress = now;
        for group in &mut self.groups {
            group.outstanding.clear();
        }
        self.probe_demands()
    }

    /// Cancels the job: every unfinished task ends CANCELLED. Returns the new
    /// terminal results and the nodes running its tasks or holding its
    /// reservations.
    pub fn cancel(&mut self, now: Duration) -> (Vec<pb::TaskFinished>, Vec<NodeId>) {
        let mut nodes = self.running_nodes();
        nodes.extend(self.groups.iter().flat_map(|g| g.outstanding.keys().cloned()));
        nodes.sort_unstable();
        nodes.dedup();
        self.cancelled = true;
        self.backing_off.clear();
        for group in &mut self.groups {
            group.pending.clear();
            group.outstanding.clear();
        }
        let open: Vec<usize> = (0..self.tasks.len()).filter(|&i| self.tasks[i].state != TaskState::Done).collect();
        let mut finished = Vec::with_capacity(open.len());
        for task_index in open {
            if let Finish::Terminal(result) = self.terminal(
                task_index,
                TaskStatus::Cancelled,
                Bytes::new(),
                "job cancelled".into(),
                0,
                String::new(),
                now,
            ) {
                finished.push(result);
            }
        }
        (finished, nodes)
    }

    /// A node handed the task back without starting it: it goes back to
    /// pending with its attempt unspent (up to a bound).
    fn hand_back(&mut self, task_index: usize, node: &str, reason: &str, now: Duration) -> Finish {
        let task = &mut self.tasks[task_index];
        if task.unstarted >= MAX_UNSTARTED_HANDBACKS || self.cancelled {
            return self.retry_or_fail(task_index, node, reason, now);
        }
        task.unstarted += 1;
        task.attempt -= 1;
        task.state = TaskState::Pending;
        let group = &mut self.groups[task.group];
        group.pending.push_back(task_index);
        Finish::Retried { executor: group.executor.clone() }
    }

    fn retry_or_fail(&mut self, task_index: usize, node: &str, reason: &str, now: Duration) -> Finish {
        let task = &mut self.tasks[task_index];
        task.attempt_errors.push(format!("attempt {} on {node}: {reason}", task.attempt));
        if task.attempt < task.spec.max_attempts && !self.cancelled {
            task.state = TaskState::Pending;
            let group = &mut self.groups[task.group];
            group.pending.push_back(task_index);
            return Finish::Retried { executor: group.executor.clone() };
        }
        let error = task.attempt_errors.join("; ");
        self.terminal(task_index, TaskStatus::Failed, Bytes::new(), error, 0, String::new(), now)
    }

    #[allow(clippy::too_many_arguments)]
    fn terminal(
        &mut self,
        task_index: usize,
        status: TaskStatus,
        output: Bytes,
        error: String,
        run_micros: u64,
        executor_id: String,
        now: Duration,
    ) -> Finish {
        let task = &mut self.tasks[task_index];
        let (node_id, queued_micros) = match std::mem::replace(&mut task.state, TaskState::Done) {
            TaskState::Launched { node, launched_at } => (node, micros(launched_at.saturating_sub(self.accepted_at))),
            TaskState::Pending => {
                self.groups[task.group].pending.retain(|&i| i != task_index);
                self.backing_off.retain(|&(_, i)| i != task_index);
                (String::new(), 0)
            }
            TaskState::Done => return Finish::Ignored,
        };
        match status {
            TaskStatus::Succeeded => self.summary.succeeded += 1,
            TaskStatus::Failed => self.summary.failed += 1,
            _ => self.summary.cancelled += 1,
        }
        let result = pb::TaskFinished {
            task_id: task.spec.task_id.clone(),
            attempt: task.attempt,
            node_id,
            status: status as i32,
            output: Bytes::copy_from_slice(&output),
            error,
            queued_micros,
            run_micros,
            total_micros: micros(now.saturating_sub(self.accepted_at)),
            executor_id,
            logs: String::new(),
            hops: None,
        };
        self.results.push(result.clone());
        Finish::Terminal(result)
    }
}

/// Marks `task` launched on `node` for its next attempt and returns the launch.
fn launch(job_id: &str, task: &mut TaskEntry, node: &str, now: Duration) -> pb::TaskLaunch {
    task.attempt += 1;
    task.state = TaskState::Launched { node: node.to_owned(), launched_at: now };
    pb::TaskLaunch {
        job_id: job_id.to_owned(),
        task_id: task.spec.task_id.clone(),
        attempt: task.attempt,
        executor: task.spec.executor.clone(),
        payload: task.spec.payload.clone(),
        timeout_ms: task.spec.timeout_ms,
        hops: None,
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[path = "job_assign.rs"]
mod assign;

#[path = "job_offers.rs"]
mod offers;

#[path = "job_retries.rs"]
mod retries;
pub use retries::{retry_backoff, DEFAULT_RETRY_BACKOFF_MS, MAX_RETRY_BACKOFF_MS};

#[path = "job_view.rs"]
mod view;
pub use view::{JobView, TaskPhase, TaskView};

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;
