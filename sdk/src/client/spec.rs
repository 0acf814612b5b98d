//! What a client submits ([`JobSpec`], [`TaskSpec`]) and what it gets back
//! ([`TaskOutput`]), with their conversions to and from the wire messages.
//! Payloads and outputs are [`Bytes`]: building the wire request, and every
//! resubmission after a failover, shares the caller's buffers.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use passer_proto::pb;

use crate::error::ClientError;

/// One task of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// Unique within its job; results are reported under this id.
    pub task_id: String,
    /// The executor type that runs it, such as `echo` or `python`.
    pub executor: String,
    /// Opaque input handed to the executor; clones share the buffer.
    pub payload: Bytes,
    /// Node ids or `key=value` labels the task may run on; empty means any.
    pub constraints: Vec<String>,
    /// Run-time limit per attempt; `None` means the scheduler's default.
    pub timeout: Option<Duration>,
    /// How many times the task may be started; `None` means the scheduler's default.
    pub max_attempts: Option<u32>,
    /// Retry a failure the task's own code reported (an error returned or
    /// raised, a non-zero exit), up to `max_attempts`, after a backoff.
    /// Without it such a failure is final; crashes and deadlines are retried
    /// either way.
    pub retry_on_error: bool,
    /// The wait before the first retry on error, doubling for each later one
    /// (capped at 60 s); `None` means the scheduler's default (200 ms).
    pub retry_backoff: Option<Duration>,
}

impl TaskSpec {
    /// Creates a task with no constraints and the scheduler's default timeout
    /// and attempts. The payload is anything that becomes [`Bytes`] without
    /// a copy: `Vec<u8>`, `String`, `&'static str`, `&'static [u8]`, `Bytes`.
    pub fn new(task_id: impl Into<String>, executor: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            task_id: task_id.into(),
            executor: executor.into(),
            payload: payload.into(),
            constraints: Vec::new(),
            timeout: None,
            max_attempts: None,
            retry_on_error: false,
            retry_backoff: None,
        }
    }

    /// Sets the run-time limit of each attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets how many times the task may be started.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// Retries the task when its own code fails (see the `retry_on_error`
    /// field), up to its attempts, after the scheduler's default backoff.
    pub fn retry_on_error(mut self) -> Self {
        self.retry_on_error = true;
        self
    }

    /// Retries the task when its own code fails, waiting `first` before the
    /// first retry and twice as long before each later one.
    pub fn retry_backoff(mut self, first: Duration) -> Self {
        self.retry_on_error = true;
        self.retry_backoff = Some(first);
        self
    }

    /// Adds a node id or `key=value` label the task may run on.
    pub fn constraint(mut self, constraint: impl Into<String>) -> Self {
        self.constraints.push(constraint.into());
        self
    }

    pub(crate) fn to_wire(&self) -> pb::TaskSpec {
        // Round a sub-millisecond timeout up: 0 would mean "the default".
        let timeout_ms =
            self.timeout.map_or(0, |timeout| u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1));
        pb::TaskSpec {
            task_id: self.task_id.clone(),
            executor: self.executor.clone(),
            payload: self.payload.clone(),
            constraints: self.constraints.clone(),
            timeout_ms,
            max_attempts: self.max_attempts.unwrap_or(0),
            retry_on_error: self.retry_on_error,
            retry_backoff_ms: self
                .retry_backoff
                .map_or(0, |backoff| u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX).max(1)),
        }
    }
}

/// A job: tasks submitted together, reported on one result stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The job's id and idempotency key; resubmissions reuse it.
    pub job_id: String,
    /// The tenant the job is accounted to; empty means `default`.
    pub tenant: String,
    /// Higher runs first on node monitors; each node monitor caps it at
    /// the most its operator allows the tenant.
    pub priority: i32,
    /// Node ids or `key=value` labels every task needs, on top of its own.
    pub constraints: Vec<String>,
    /// The tasks; at least one.
    pub tasks: Vec<TaskSpec>,
}

impl JobSpec {
    /// Creates an empty job; an empty `job_id` gets a fresh unique id.
    pub fn new(job_id: impl Into<String>) -> Self {
        let given: String = job_id.into();
        let job_id = if given.is_empty() { generate_job_id() } else { given };
        Self { job_id, tenant: String::new(), priority: 0, constraints: Vec::new(), tasks: Vec::new() }
    }

    /// Creates a job of `count` tasks of one executor type with the same
    /// payload (one buffer, shared by every task), with task ids `t0` to
    /// `t{count-1}`.
    pub fn uniform(job_id: impl Into<String>, executor: &str, count: usize, payload: impl Into<Bytes>) -> Self {
        let shared: Bytes = payload.into();
        let mut job = Self::new(job_id);
        job.tasks = (0..count).map(|index| TaskSpec::new(format!("t{index}"), executor, shared.clone())).collect();
        job
    }

    /// Adds a task.
    pub fn task(mut self, task: TaskSpec) -> Self {
        self.tasks.push(task);
        self
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = tenant.into();
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Adds a node id or `key=value` label every task of the job needs.
    pub fn constraint(mut self, constraint: impl Into<String>) -> Self {
        self.constraints.push(constraint.into());
        self
    }

    /// Checks what the client relies on itself: an id, at least one task,
    /// and task ids that are present and distinct. The scheduler checks the rest.
    pub(crate) fn validate(&self) -> Result<(), ClientError> {
        if self.job_id.is_empty() {
            return Err(ClientError::InvalidArgument("job_id must not be empty".to_owned()));
        }
        if self.tasks.is_empty() {
            return Err(ClientError::InvalidArgument(format!("job {} has no tasks", self.job_id)));
        }
        let mut seen = HashSet::with_capacity(self.tasks.len());
        for task in &self.tasks {
            if task.task_id.is_empty() {
                return Err(ClientError::InvalidArgument(format!(
                    "job {} has a task with an empty task_id",
                    self.job_id
                )));
            }
            if !seen.insert(task.task_id.as_str()) {
                return Err(ClientError::InvalidArgument(format!(
                    "job {} has task_id {:?} more than once",
                    self.job_id, task.task_id
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn to_wire(&self) -> pb::SubmitJobRequest {
        pb::SubmitJobRequest {
            job_id: self.job_id.clone(),
            tenant: self.tenant.clone(),
            priority: self.priority,
            tasks: self.tasks.iter().map(TaskSpec::to_wire).collect(),
            skip_task_ids: Vec::new(),
            constraints: self.constraints.clone(),
        }
    }
}

/// A unique job id: `job-<unix nanos hex>-<random hex>`.
fn generate_job_id() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos());
    format!("job-{nanos:x}-{:08x}", rand::random::<u32>())
}

/// The terminal result of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutput {
    /// The task's id.
    pub task_id: String,
    /// The attempt that produced this result (1 for the first).
    pub attempt: u32,
    /// The node monitor that ran it; empty if it never ran.
    pub node_id: String,
    /// `Succeeded`, `Failed` or `Cancelled`.
    pub status: pb::TaskStatus,
    /// What the executor returned (derefs to `&[u8]`).
    pub output: Bytes,
    /// Why it failed; empty on success.
    pub error: String,
    /// From the job's acceptance until this attempt was launched.
    pub queued: Duration,
    /// Time the executor spent running it.
    pub run: Duration,
    /// From the job's acceptance until the scheduler had the result.
    pub total: Duration,
    /// The executor process that ran it, such as `pid:4242`.
    pub executor_id: String,
    /// The tail of what the attempt wrote (see [`crate::task_logs`]); begins
    /// with `[... N bytes earlier dropped]` when cut.
    pub logs: String,
    /// When the attempt passed each hop of its round trip (wall-clock
    /// stamps of the scheduler and node monitor), if it was reported by a node.
    /// Boxed: most code never reads it, and it would double the size of a result.
    pub hops: Option<Box<pb::HopTimes>>,
}

impl TaskOutput {
    /// Whether the task ended `Succeeded`.
    pub fn succeeded(&self) -> bool {
        self.status == pb::TaskStatus::Succeeded
    }
}

impl From<pb::TaskFinished> for TaskOutput {
    fn from(finished: pb::TaskFinished) -> Self {
        let status = pb::TaskStatus::try_from(finished.status).unwrap_or(pb::TaskStatus::Unspecified);
        Self {
            task_id: finished.task_id,
            attempt: finished.attempt,
            node_id: finished.node_id,
            status,
            output: finished.output,
            error: finished.error,
            queued: Duration::from_micros(finished.queued_micros),
            run: Duration::from_micros(finished.run_micros),
            total: Duration::from_micros(finished.total_micros),
            executor_id: finished.executor_id,
            logs: finished.logs,
            hops: finished.hops.map(Box::new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_job_id_gets_a_unique_one() {
        let first = JobSpec::new("");
        let second = JobSpec::new("");
        assert!(first.job_id.starts_with("job-"), "{}", first.job_id);
        assert_ne!(first.job_id, second.job_id);
        assert_eq!(JobSpec::new("mine").job_id, "mine");
    }

    #[test]
    fn uniform_names_tasks_and_validates() {
        let job = JobSpec::uniform("j", "echo", 3, "x").tenant("a").priority(2).constraint("gpu=true");
        let ids: Vec<&str> = job.tasks.iter().map(|task| task.task_id.as_str()).collect();
        assert_eq!(ids, ["t0", "t1", "t2"]);
        assert!(job.validate().is_ok());
        let wire = job.to_wire();
        assert_eq!((wire.tenant.as_str(), wire.priority, wire.tasks.len()), ("a", 2, 3));
        assert_eq!(wire.constraints, ["gpu=true"]);
        let shared = job.tasks[0].payload.as_ptr();
        assert!(wire.tasks.iter().all(|task| task.payload.as_ptr() == shared), "a task's payload was copied");
    }

    #[test]
    fn validate_rejects_duplicates_and_empty_jobs() {
        let duplicate = JobSpec::new("j").task(TaskSpec::new("a", "echo", "")).task(TaskSpec::new("a", "echo", ""));
        let error = duplicate.validate().unwrap_err().to_string();
        assert!(error.contains("\"a\" more than once"), "{error}");
        assert!(matches!(JobSpec::new("j").validate(), Err(ClientError::InvalidArgument(_))));
    }

    #[test]
    fn task_options_reach_the_wire() {
        let task =
            TaskSpec::new("a", "echo", "p").timeout(Duration::from_micros(10)).max_attempts(3).constraint("zone=a");
        let wire = task.to_wire();
        assert_eq!(wire.timeout_ms, 1);
        assert_eq!(wire.max_attempts, 3);
        assert_eq!(wire.constraints, ["zone=a"]);
        assert_eq!(TaskSpec::new("b", "echo", "").to_wire().timeout_ms, 0);
        assert!(!wire.retry_on_error);
        let retrying = TaskSpec::new("c", "echo", "").retry_on_error().to_wire();
        assert_eq!((retrying.retry_on_error, retrying.retry_backoff_ms), (true, 0));
        let waiting = TaskSpec::new("d", "echo", "").retry_backoff(Duration::from_millis(250)).to_wire();
        assert_eq!((waiting.retry_on_error, waiting.retry_backoff_ms), (true, 250));
    }
}
