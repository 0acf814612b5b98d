//! A read-only view of one job's tasks for the status page's job view: each
//! task's state, node, attempt, error text and duration, failures first,
//! then running tasks, then the rest, bounded to a limit with the count of
//! every state kept whole. Built from a running job's [`JobState`] or from a
//! finished job's kept results.
//!
//! Pure: no I/O; `now` comes from the caller.

use std::time::Duration;

use passer_proto::pb::{self, TaskStatus};

use super::{JobState, TaskEntry, TaskState};

/// Where a task stands, declared in the order the job view lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskPhase {
    /// Ended FAILED.
    Failed,
    /// An attempt is running on a node.
    Running,
    /// Waiting for a node (for its first attempt, or for a retry).
    Pending,
    /// Ended CANCELLED.
    Cancelled,
    /// Ended SUCCEEDED.
    Succeeded,
}

impl TaskPhase {
    /// Every phase, in listing order.
    pub const ALL: [TaskPhase; 5] =
        [TaskPhase::Failed, TaskPhase::Running, TaskPhase::Pending, TaskPhase::Cancelled, TaskPhase::Succeeded];

    /// The phase's name as the page shows it.
    pub fn name(self) -> &'static str {
        match self {
            TaskPhase::Failed => "failed",
            TaskPhase::Running => "running",
            TaskPhase::Pending => "pending",
            TaskPhase::Cancelled => "cancelled",
            TaskPhase::Succeeded => "succeeded",
        }
    }

    fn of_result(result: &pb::TaskFinished) -> Self {
        match TaskStatus::try_from(result.status) {
            Ok(TaskStatus::Succeeded) => TaskPhase::Succeeded,
            Ok(TaskStatus::Failed) => TaskPhase::Failed,
            _ => TaskPhase::Cancelled,
        }
    }

    fn of_open(task: &TaskEntry) -> Option<Self> {
        match task.state {
            TaskState::Pending => Some(TaskPhase::Pending),
            TaskState::Launched { .. } => Some(TaskPhase::Running),
            TaskState::Done => None,
        }
    }
}

/// One task as the job view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    /// The task's id.
    pub task_id: String,
    /// Where it stands.
    pub phase: TaskPhase,
    /// The node running its attempt, or that ran its last one (empty: none).
    pub node: String,
    /// Its current or last attempt (0: never launched).
    pub attempt: u32,
    /// Why it failed; for a task not ended yet, its earlier attempts' errors.
    pub error: String,
    /// How long its last attempt ran (so far, for a running task).
    pub duration: Duration,
    /// Bytes of logs its terminal result carries (0 while it runs).
    pub log_bytes: usize,
}

impl TaskView {
    fn of_result(result: &pb::TaskFinished) -> Self {
        // The executor's own run time when it reported one; otherwise (a lost
        // or cancelled attempt) launch to end as the scheduler saw it.
        let micros = if result.run_micros > 0 {
            result.run_micros
        } else if result.node_id.is_empty() {
            0
        } else {
            result.total_micros.saturating_sub(result.queued_micros)
        };
        Self {
            task_id: result.task_id.clone(),
            phase: TaskPhase::of_result(result),
            node: result.node_id.clone(),
            attempt: result.attempt,
            error: result.error.clone(),
            duration: Duration::from_micros(micros),
            log_bytes: result.logs.len(),
        }
    }

    fn of_open(task: &TaskEntry, phase: TaskPhase, now: Duration) -> Self {
        let (node, duration) = match &task.state {
            TaskState::Launched { node, launched_at } => (node.clone(), now.saturating_sub(*launched_at)),
            _ => (String::new(), Duration::ZERO),
        };
        Self {
            task_id: task.spec.task_id.clone(),
            phase,
            node,
            attempt: task.attempt,
            error: task.attempt_errors.join("; "),
            duration,
            log_bytes: 0,
        }
    }
}

/// Up to a limit of a job's tasks in listing order, and how many tasks are
/// in each phase in all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobView {
    counts: [usize; 5],
    /// The tasks listed: failed, running, pending, cancelled, succeeded.
    pub tasks: Vec<TaskView>,
}

impl JobView {
    /// The view of a finished job from its terminal results.
    pub fn of_results(results: &[pb::TaskFinished], limit: usize) -> Self {
        let mut view = Self::default();
        for result in results {
            view.counts[TaskPhase::of_result(result) as usize] += 1;
        }
        for phase in TaskPhase::ALL {
            view.list_results(results, phase, limit);
        }
        view
    }

    /// Tasks in `phase`, listed or not.
    pub fn count(&self, phase: TaskPhase) -> usize {
        self.counts[phase as usize]
    }

    /// Tasks in the job.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    fn room(&self, limit: usize) -> usize {
        limit.saturating_sub(self.tasks.len())
    }

    fn list_results(&mut self, results: &[pb::TaskFinished], phase: TaskPhase, limit: usize) {
        let room = self.room(limit);
        let listed = results.iter().filter(|r| TaskPhase::of_result(r) == phase).take(room);
        self.tasks.extend(listed.map(TaskView::of_result));
    }
}

impl JobState {
    /// The job view at `now`: up to `limit` tasks, failures first, then
    /// running, pending, cancelled and succeeded ones.
    pub fn view(&self, limit: usize, now: Duration) -> JobView {
        let mut view = JobView::default();
        for result in &self.results {
            view.counts[TaskPhase::of_result(result) as usize] += 1;
        }
        for task in &self.tasks {
            if let Some(phase) = TaskPhase::of_open(task) {
                view.counts[phase as usize] += 1;
            }
        }
        for phase in TaskPhase::ALL {
            if matches!(phase, TaskPhase::Running | TaskPhase::Pending) {
                let room = view.room(limit);
                let listed = self.tasks.iter().filter(|t| TaskPhase::of_open(t) == Some(phase)).take(room);
                view.tasks.extend(listed.map(|task| TaskView::of_open(task, phase, now)));
            } else {
                view.list_results(&self.results, phase, limit);
            }
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::super::TaskDefaults;
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Six echo tasks: t0 succeeds, t1 crashes once and waits for a retry,
    /// t2 fails, t3 and t4 run on node `a`, t5 was never launched.
    fn mixed_job() -> JobState {
        let tasks = (0..6)
            .map(|i| pb::TaskSpec { task_id: format!("t{i}"), executor: "echo".into(), ..Default::default() })
            .collect();
        let request = pb::SubmitJobRequest { job_id: "j".into(), tasks, ..Default::default() };
        let mut job = JobState::new(request, TaskDefaults::default(), Duration::ZERO);
        let launches = job.assign("a", "echo", 5, MS).launches;
        let outcome = |index: usize, status: TaskStatus, retryable: bool, error: &str| pb::TaskOutcome {
            job_id: "j".into(),
            task_id: launches[index].task_id.clone(),
            attempt: 1,
            status: status as i32,
            retryable,
            error: error.into(),
            run_micros: 2_000,
            ..Default::default()
        };
        job.finish("a", outcome(0, TaskStatus::Succeeded, false, ""), 3 * MS);
        job.finish("a", outcome(1, TaskStatus::Failed, true, "executor exited"), 3 * MS);
        job.finish("a", outcome(2, TaskStatus::Failed, false, "bad payload"), 4 * MS);
        job
    }

    fn listed(view: &JobView) -> Vec<(&str, TaskPhase)> {
        view.tasks.iter().map(|t| (t.task_id.as_str(), t.phase)).collect()
    }

    #[test]
    fn failures_first_then_running_then_the_rest() {
        let view = mixed_job().view(100, 10 * MS);
        use TaskPhase::*;
        assert_eq!(
            listed(&view),
            [("t2", Failed), ("t3", Running), ("t4", Running), ("t1", Pending), ("t5", Pending), ("t0", Succeeded)]
        );
        let failed = &view.tasks[0];
        assert_eq!((failed.node.as_str(), failed.attempt, failed.error.as_str()), ("a", 1, "bad payload"));
        assert_eq!(failed.duration, Duration::from_micros(2_000));
        let running = &view.tasks[1];
        assert_eq!((running.node.as_str(), running.attempt), ("a", 1));
        assert_eq!(running.duration, 9 * MS, "running since its launch at 1 ms");
        let retrying = &view.tasks[3];
        assert_eq!(retrying.error, "attempt 1 on a: executor exited", "earlier attempts' errors shown");
        assert_eq!(view.tasks[4].attempt, 0, "never launched");
    }

    #[test]
    fn the_list_is_bounded_but_the_counts_are_whole() {
        let view = mixed_job().view(2, 10 * MS);
        assert_eq!(listed(&view), [("t2", TaskPhase::Failed), ("t3", TaskPhase::Running)]);
        assert_eq!(view.total(), 6);
        assert_eq!(view.count(TaskPhase::Running), 2);
        assert_eq!(view.count(TaskPhase::Pending), 2);
        assert_eq!(view.count(TaskPhase::Succeeded), 1);
    }

    #[test]
    fn a_cancelled_job_and_its_kept_results() {
        let mut job = mixed_job();
        job.cancel(20 * MS);
        let view = job.view(100, 30 * MS);
        assert_eq!(view.count(TaskPhase::Cancelled), 4);
        assert_eq!(view.tasks[0].phase, TaskPhase::Failed);
        let cancelled_running = view.tasks.iter().find(|t| t.task_id == "t3").expect("t3 listed");
        assert_eq!(cancelled_running.phase, TaskPhase::Cancelled);
        assert_eq!(cancelled_running.duration, 19 * MS, "launch to cancellation");
        let kept = JobView::of_results(&job.into_results(), 100);
        assert_eq!(kept, view, "a finished job looks the same from its kept results");
    }
}
