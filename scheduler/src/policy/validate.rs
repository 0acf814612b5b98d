//! Validation of client requests, in one place and pure: each violation is
//! reported with the field it concerns and the limit it broke.

use std::collections::HashSet;

use passer_proto::pb;

/// Limits on what a client may submit.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most tasks in one job.
    pub max_tasks_per_job: usize,
    /// Most payload bytes in one task.
    pub max_payload_bytes: usize,
    /// Most payload bytes over a whole job.
    pub max_job_bytes: usize,
    /// Longest job or task id, in bytes.
    pub max_id_bytes: usize,
    /// Longest per-task timeout.
    pub max_timeout_ms: u64,
    /// Most attempts per task.
    pub max_attempts: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_tasks_per_job: 100_000,
            max_payload_bytes: 1024 * 1024,
            max_job_bytes: 64 * 1024 * 1024,
            max_id_bytes: 128,
            max_timeout_ms: 7 * 24 * 3_600_000,
            max_attempts: 100,
        }
    }
}

/// A request that breaks a rule: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The offending field, such as `tasks[3].task_id`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), problem: problem.into() }
}

/// Checks an id: non-empty, at most `max` bytes, printable, no whitespace.
pub fn check_id(field: &str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(invalid(field, format!("is {} bytes, more than the limit of {max}", value.len())));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(field, "must not contain whitespace or control characters"));
    }
    Ok(())
}

/// Checks an executor type name: 1 to 64 bytes of `[A-Za-z0-9_.-]`.
pub fn check_executor(field: &str, value: &str) -> Result<(), Invalid> {
    if value.is_empty() {
        return Err(invalid(field, "must name an executor type"));
    }
    if value.len() > 64 || !value.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err(invalid(field, format!("{value:?} is not an executor type name (1 to 64 of A-Z a-z 0-9 _ . -)")));
    }
    Ok(())
}

/// Most constraint items on a job or on a task.
pub const MAX_CONSTRAINTS: usize = 64;

/// Checks a constraint list: at most [`MAX_CONSTRAINTS`] items, each a node
/// id or a `key=value` label with a non-empty key, of at most 256 bytes
/// without whitespace.
pub fn check_constraints(field: &str, items: &[String]) -> Result<(), Invalid> {
    if items.len() > MAX_CONSTRAINTS {
        return Err(invalid(field, format!("{} items is more than the limit of {MAX_CONSTRAINTS}", items.len())));
    }
    for (index, item) in items.iter().enumerate() {
        check_id(&format!("{field}[{index}]"), item, 256)?;
        if item.starts_with('=') {
            return Err(invalid(format!("{field}[{index}]"), format!("{item:?} is a label without a key")));
        }
    }
    Ok(())
}

/// Checks a tenant: empty (the default tenant) or 1 to 64 bytes of
/// `[A-Za-z0-9_.-]`.
pub fn check_tenant(value: &str) -> Result<(), Invalid> {
    if value.len() > 64 {
        return Err(invalid("tenant", format!("is {} bytes, more than the limit of 64", value.len())));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err(invalid("tenant", format!("{value:?} is not a tenant name (up to 64 of A-Z a-z 0-9 _ . -)")));
    }
    Ok(())
}

/// Checks a job submission against `limits`.
pub fn validate_submit(request: &pb::SubmitJobRequest, limits: &Limits) -> Result<(), Invalid> {
    check_id("job_id", &request.job_id, limits.max_id_bytes)?;
    check_tenant(&request.tenant)?;
    check_constraints("constraints", &request.constraints)?;
    if request.tasks.is_empty() {
        return Err(invalid("tasks", "a job needs at least one task"));
    }
    if request.tasks.len() > limits.max_tasks_per_job {
        return Err(invalid(
            "tasks",
            format!("{} tasks is more than the limit of {} per job", request.tasks.len(), limits.max_tasks_per_job),
        ));
    }
    let mut seen = HashSet::with_capacity(request.tasks.len());
    let mut job_bytes = 0usize;
    for (index, task) in request.tasks.iter().enumerate() {
        check_id(&format!("tasks[{index}].task_id"), &task.task_id, limits.max_id_bytes)?;
        if !seen.insert(task.task_id.as_str()) {
            return Err(invalid(format!("tasks[{index}].task_id"), format!("duplicate task id {:?}", task.task_id)));
        }
        check_executor(&format!("tasks[{index}].executor"), &task.executor)?;
        check_constraints(&format!("tasks[{index}].constraints"), &task.constraints)?;
        if task.payload.len() > limits.max_payload_bytes {
            return Err(invalid(
                format!("tasks[{index}].payload"),
                format!("is {} bytes, more than the limit of {}", task.payload.len(), limits.max_payload_bytes),
            ));
        }
        job_bytes += task.payload.len();
        if task.timeout_ms > limits.max_timeout_ms {
            return Err(invalid(
                format!("tasks[{index}].timeout_ms"),
                format!("is more than the limit of {} ms", limits.max_timeout_ms),
            ));
        }
        if task.max_attempts > limits.max_attempts {
            return Err(invalid(
                format!("tasks[{index}].max_attempts"),
                format!("is more than the limit of {}", limits.max_attempts),
            ));
        }
        if task.retry_backoff_ms > super::job::MAX_RETRY_BACKOFF_MS {
            return Err(invalid(
                format!("tasks[{index}].retry_backoff_ms"),
                format!("is more than the limit of {} ms", super::job::MAX_RETRY_BACKOFF_MS),
            ));
        }
    }
    if job_bytes > limits.max_job_bytes {
        return Err(invalid(
            "tasks",
            format!("payloads total {job_bytes} bytes, more than the limit of {} per job", limits.max_job_bytes),
        ));
    }
    if request.skip_task_ids.len() > request.tasks.len() {
        return Err(invalid("skip_task_ids", "lists more ids than the job has tasks"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> pb::TaskSpec {
        pb::TaskSpec { task_id: id.into(), executor: "echo".into(), ..Default::default() }
    }

    fn job(tasks: Vec<pb::TaskSpec>) -> pb::SubmitJobRequest {
        pb::SubmitJobRequest { job_id: "j1".into(), tasks, ..Default::default() }
    }

    #[test]
    fn bad_jobs_name_the_field() {
        let limits = Limits::default();
        let cases: Vec<(pb::SubmitJobRequest, &str, &str)> = vec![
            (job(vec![]), "tasks", "at least one task"),
            (pb::SubmitJobRequest { job_id: String::new(), ..job(vec![task("a")]) }, "job_id", "must not be empty"),
            (job(vec![task("a"), task("a")]), "tasks[1].task_id", "duplicate task id"),
            (job(vec![task("")]), "tasks[0].task_id", "must not be empty"),
            (job(vec![pb::TaskSpec { executor: String::new(), ..task("a") }]), "tasks[0].executor", "must name"),
            (
                job(vec![pb::TaskSpec { executor: "no spaces".into(), ..task("a") }]),
                "tasks[0].executor",
                "not an executor type",
            ),
            (job(vec![task(&"x".repeat(129))]), "tasks[0].task_id", "limit of 128"),
            (
                job(vec![pb::TaskSpec { payload: vec![0; 1024 * 1024 + 1].into(), ..task("a") }]),
                "tasks[0].payload",
                "limit",
            ),
            (job(vec![pb::TaskSpec { timeout_ms: u64::MAX, ..task("a") }]), "tasks[0].timeout_ms", "limit"),
            (job(vec![pb::TaskSpec { max_attempts: 1000, ..task("a") }]), "tasks[0].max_attempts", "limit"),
            (
                job(vec![pb::TaskSpec { retry_backoff_ms: 3_600_000, ..task("a") }]),
                "tasks[0].retry_backoff_ms",
                "limit",
            ),
            (pb::SubmitJobRequest { job_id: "a\tb".into(), ..job(vec![task("a")]) }, "job_id", "whitespace"),
            (
                job(vec![pb::TaskSpec { constraints: vec!["zone=a".into(), "=b".into()], ..task("a") }]),
                "tasks[0].constraints[1]",
                "without a key",
            ),
            (
                pb::SubmitJobRequest { constraints: vec!["zone a".into()], ..job(vec![task("a")]) },
                "constraints[0]",
                "whitespace",
            ),
            (
                job(vec![pb::TaskSpec { constraints: vec!["n".into(); 65], ..task("a") }]),
                "tasks[0].constraints",
                "limit of 64",
            ),
            (pb::SubmitJobRequest { tenant: "a b".into(), ..job(vec![task("a")]) }, "tenant", "not a tenant name"),
            (pb::SubmitJobRequest { tenant: "t".repeat(65), ..job(vec![task("a")]) }, "tenant", "limit of 64"),
            (
                job(vec![pb::TaskSpec { payload: vec![0; 1024 * 1024].into(), ..task("a") }; 65]
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| pb::TaskSpec { task_id: format!("t{i}"), ..t })
                    .collect()),
                "tasks",
                "limit of 67108864 per job",
            ),
        ];
        for (request, field, problem) in cases {
            let error = validate_submit(&request, &limits).expect_err(field);
            assert_eq!(error.field, field, "{error}");
            assert!(error.problem.contains(problem), "{error}");
        }
    }

    #[test]
    fn a_good_job_passes() {
        assert_eq!(validate_submit(&job(vec![task("a"), task("b")]), &Limits::default()), Ok(()));
    }

    #[test]
    fn too_many_tasks_is_refused() {
        let limits = Limits { max_tasks_per_job: 2, ..Limits::default() };
        let error = validate_submit(&job(vec![task("a"), task("b"), task("c")]), &limits).unwrap_err();
        assert_eq!(error.field, "tasks");
        assert!(error.problem.contains("limit of 2"));
    }
}
