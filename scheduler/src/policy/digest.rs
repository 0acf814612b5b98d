//! A job's identity: a digest of everything that defines what a submission
//! runs (tenant, priority, constraints, every task's id, executor, payload,
//! constraints, timeout, attempts and retry-on-error setting). A resubmission under a running job's
//! id re-attaches only when its digest matches; anything else is another
//! job reusing the id.
//!
//! Left out: `skip_task_ids` (the SDK's failover sets it to the tasks that
//! already have a result, so it differs between submissions of one job), the
//! order of the tasks and the order of constraint lists (neither changes
//! what runs). Pure code, compared only within one scheduler process.

use std::hash::{DefaultHasher, Hash, Hasher};

use passer_proto::pb;

/// The identity of a submission's content: 128 bits from two independently
/// keyed SipHash passes over the same canonical bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobDigest(u64, u64);

/// The digest of `request` (see the module doc for what it covers).
pub fn job_digest(request: &pb::SubmitJobRequest) -> JobDigest {
    JobDigest(digest_pass(request, 0x7061_7373_6572_0001), digest_pass(request, 0x7061_7373_6572_0002))
}

fn digest_pass(request: &pb::SubmitJobRequest, key: u64) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    request.tenant.hash(&mut hasher);
    request.priority.hash(&mut hasher);
    sorted(&request.constraints).hash(&mut hasher);
    let mut tasks: Vec<&pb::TaskSpec> = request.tasks.iter().collect();
    tasks.sort_unstable_by(|a, b| a.task_id.cmp(&b.task_id));
    tasks.len().hash(&mut hasher);
    for task in tasks {
        task.task_id.hash(&mut hasher);
        task.executor.hash(&mut hasher);
        task.payload.hash(&mut hasher);
        sorted(&task.constraints).hash(&mut hasher);
        task.timeout_ms.hash(&mut hasher);
        task.max_attempts.hash(&mut hasher);
        task.retry_on_error.hash(&mut hasher);
        task.retry_backoff_ms.hash(&mut hasher);
    }
    hasher.finish()
}

fn sorted(values: &[String]) -> Vec<&str> {
    let mut values: Vec<&str> = values.iter().map(String::as_str).collect();
    values.sort_unstable();
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, payload: &str) -> pb::TaskSpec {
        pb::TaskSpec {
            task_id: id.into(),
            executor: "sleep".into(),
            payload: bytes::Bytes::copy_from_slice(payload.as_bytes()),
            ..Default::default()
        }
    }

    fn job(tasks: Vec<pb::TaskSpec>) -> pb::SubmitJobRequest {
        pb::SubmitJobRequest { job_id: "same".into(), tasks, ..Default::default() }
    }

    #[test]
    fn skipped_ids_and_orders_do_not_change_the_digest() {
        let base = job(vec![task("a", "1"), task("b", "2")]);
        let mut failover = job(vec![task("b", "2"), task("a", "1")]);
        failover.skip_task_ids = vec!["a".into()];
        assert_eq!(job_digest(&base), job_digest(&failover));
        let mut left = base.clone();
        left.constraints = vec!["zone=a".into(), "gpu=1".into()];
        let mut right = base.clone();
        right.constraints = vec!["gpu=1".into(), "zone=a".into()];
        assert_eq!(job_digest(&left), job_digest(&right));
    }

    #[test]
    fn what_runs_changes_the_digest() {
        let base = job(vec![task("a", "1"), task("b", "2")]);
        let digest = job_digest(&base);
        let variants = [
            job(vec![task("a", "1")]),
            job(vec![task("a", "1"), task("b", "3")]),
            job(vec![task("a", "1"), task("c", "2")]),
            pb::SubmitJobRequest { tenant: "etl".into(), ..base.clone() },
            pb::SubmitJobRequest { priority: 5, ..base.clone() },
            pb::SubmitJobRequest { constraints: vec!["zone=a".into()], ..base.clone() },
        ];
        for variant in &variants {
            assert_ne!(job_digest(variant), digest, "{variant:?}");
        }
        let mut other_executor = base.clone();
        other_executor.tasks[0].executor = "echo".into();
        let mut other_timeout = base.clone();
        other_timeout.tasks[0].timeout_ms = 50;
        let mut other_attempts = base.clone();
        other_attempts.tasks[0].max_attempts = 2;
        let mut retrying = base.clone();
        retrying.tasks[0].retry_on_error = true;
        let mut other_backoff = retrying.clone();
        other_backoff.tasks[0].retry_backoff_ms = 1_000;
        for variant in [other_executor, other_timeout, other_attempts, retrying, other_backoff] {
            assert_ne!(job_digest(&variant), digest, "{variant:?}");
        }
    }

    #[test]
    fn payload_boundaries_are_not_ambiguous() {
        // "ab" + "" and "a" + "b" hash with their lengths, so they differ.
        let left = job(vec![task("x", "ab"), task("y", "")]);
        let right = job(vec![task("x", "a"), task("y", "b")]);
        assert_ne!(job_digest(&left), job_digest(&right));
    }
}
