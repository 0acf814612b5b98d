//! Unit tests of the job state machine: late binding, cancellation, retries.

use super::*;

fn task(id: &str, executor: &str) -> pb::TaskSpec {
    pb::TaskSpec {
        task_id: id.into(),
        executor: executor.into(),
        payload: id.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn job(tasks: Vec<pb::TaskSpec>) -> JobState {
    let request = pb::SubmitJobRequest { job_id: "job-1".into(), tasks, ..Default::default() };
    JobState::new(request, TaskDefaults::default(), Duration::ZERO)
}

fn echo_job(count: usize) -> JobState {
    job((0..count).map(|i| task(&format!("t{i}"), "echo")).collect())
}

fn ok(launch: &pb::TaskLaunch) -> pb::TaskOutcome {
    pb::TaskOutcome {
        job_id: launch.job_id.clone(),
        task_id: launch.task_id.clone(),
        attempt: launch.attempt,
        status: TaskStatus::Succeeded as i32,
        output: launch.payload.clone(),
        ..Default::default()
    }
}

fn crashed(launch: &pb::TaskLaunch) -> pb::TaskOutcome {
    pb::TaskOutcome {
        status: TaskStatus::Failed as i32,
        retryable: true,
        error: "executor exited".into(),
        ..ok(launch)
    }
}

const T: Duration = Duration::from_millis(1);

#[test]
fn first_m_askers_win_later_askers_get_none() {
    let mut job = echo_job(2);
    for node in ["a", "b", "c", "d"] {
        job.reservations_placed("echo", node, 1, T);
    }
    let first = job.assign("c", "echo", 1, T);
    let second = job.assign("a", "echo", 1, T);
    let third = job.assign("d", "echo", 1, T);
    assert_eq!(first.launches.len(), 1);
    assert_eq!(second.launches.len(), 1);
    assert_eq!(third.launches.len(), 0, "a third asker gets no task");
    assert_ne!(first.launches[0].task_id, second.launches[0].task_id);
    assert_eq!(first.launches[0].attempt, 1);
}

#[test]
fn cancellation_targets_leftover_nodes_after_last_launch() {
    let mut job = echo_job(2);
    for node in ["a", "b", "c", "d"] {
        job.reservations_placed("echo", node, 1, T);
    }
    let first = job.assign("a", "echo", 1, T);
    assert!(first.cancel_nodes.is_empty(), "one task is still unlaunched");
    let last = job.assign("b", "echo", 1, T);
    assert_eq!(last.cancel_nodes, vec!["c".to_string(), "d".to_string()]);
    assert!(job.assign("c", "echo", 1, T).cancel_nodes.is_empty(), "cancelled only once");
}

#[test]
fn a_node_may_redeem_several_reservations_at_once() {
    let mut job = echo_job(5);
    job.reservations_placed("echo", "a", 4, T);
    job.reservations_placed("echo", "b", 6, T);
    let batch = job.assign("a", "echo", 4, T);
    assert_eq!(batch.launches.len(), 4);
    let rest = job.assign("b", "echo", 3, T);
    assert_eq!(rest.launches.len(), 1);
    assert_eq!(rest.cancel_nodes, vec!["b".to_string()]);
}

#[test]
fn every_task_gets_exactly_one_terminal_result() {
    let mut job = echo_job(3);
    job.reservations_placed("echo", "a", 6, T);
    let launches = job.assign("a", "echo", 6, T).launches;
    for launch in &launches {
        assert!(matches!(job.finish("a", ok(launch), T), Finish::Terminal(_)));
        assert_eq!(job.finish("a", ok(launch), T), Finish::Ignored, "duplicate report");
    }
    assert!(job.is_finished());
    assert_eq!(job.summary().succeeded, 3);
    assert_eq!(job.results().len(), 3);
}

#[test]
fn outcome_from_another_node_or_attempt_is_ignored() {
    let mut job = echo_job(1);
    let launch = job.assign("a", "echo", 1, T).launches.remove(0);
    assert_eq!(job.finish("b", ok(&launch), T), Finish::Ignored);
    let stale = pb::TaskOutcome { attempt: 7, ..ok(&launch) };
    assert_eq!(job.finish("a", stale, T), Finish::Ignored);
    assert!(!job.is_finished());
}

#[test]
fn retryable_failure_requeues_until_attempts_run_out() {
    let request = pb::SubmitJobRequest {
        job_id: "j".into(),
        tasks: vec![pb::TaskSpec { max_attempts: 2, ..task("t", "echo") }],
        ..Default::default()
    };
    let mut job = JobState::new(request, TaskDefaults::default(), Duration::ZERO);
    let first = job.assign("a", "echo", 1, T).launches.remove(0);
    assert_eq!(job.finish("a", crashed(&first), T), Finish::Retried { executor: "echo".into() });
    assert_eq!(job.probe_demands(), vec![ProbeDemand { executor: "echo".into(), count: 1 }]);
    let second = job.assign("b", "echo", 1, T).launches.remove(0);
    assert_eq!(second.attempt, 2);
    match job.finish("b", crashed(&second), T) {
        Finish::Terminal(result) => {
            assert_eq!(result.status, TaskStatus::Failed as i32);
            assert!(
                result.error.contains("attempt 1 on a") && result.error.contains("attempt 2 on b"),
                "{}",
                result.error
            );
        }
        other => panic!("expected a terminal failure, got {other:?}"),
    }
}

#[test]
fn task_failure_of_its_own_is_not_retried() {
    let mut job = echo_job(1);
    let launch = job.assign("a", "echo", 1, T).launches.remove(0);
    let failed = pb::TaskOutcome { status: TaskStatus::Failed as i32, error: "bad input".into(), ..ok(&launch) };
    match job.finish("a", failed, T) {
        Finish::Terminal(result) => assert_eq!(result.error, "bad input"),
        other => panic!("expected terminal, got {other:?}"),
    }
}

#[test]
fn node_loss_retries_its_running_tasks_and_forgets_its_reservations() {
    let mut job = echo_job(3);
    job.reservations_placed("echo", "a", 3, T);
    job.reservations_placed("echo", "b", 3, T);
    let on_a = job.assign("a", "echo", 2, T).launches;
    assert_eq!(on_a.len(), 2);
    let effects = job.node_lost("a", T);
    assert_eq!(effects.len(), 2);
    assert!(effects.iter().all(|f| matches!(f, Finish::Retried { .. })));
    assert!(job.probe_demands().is_empty(), "b still holds 3 reservations for 3 pending tasks");
    let on_b = job.assign("b", "echo", 3, T).launches;
    assert_eq!(on_b.len(), 3);
    assert!(on_b.iter().filter(|l| l.attempt == 2).count() == 2);
}

#[test]
fn tasks_of_different_executors_only_go_to_matching_reservations() {
    let mut job = job(vec![task("e", "echo"), task("s", "sleep")]);
    job.reservations_placed("echo", "a", 1, T);
    job.reservations_placed("sleep", "a", 1, T);
    let echo = job.assign("a", "echo", 5, T).launches;
    assert_eq!(echo.len(), 1);
    assert_eq!(echo[0].task_id, "e");
    let sleep = job.assign("a", "sleep", 5, T).launches;
    assert_eq!(sleep[0].task_id, "s");
}

#[test]
fn lease_expiry_reprobes_pending_tasks() {
    let mut job = echo_job(4);
    job.reservations_placed("echo", "a", 4, T);
    assert!(job.expire_lease(Duration::from_secs(1), Duration::from_millis(500)).is_empty());
    let demands = job.expire_lease(Duration::from_secs(1), Duration::from_secs(2));
    assert_eq!(demands, vec![ProbeDemand { executor: "echo".into(), count: 4 }]);
}

#[test]
fn overdue_attempts_are_retried() {
    let request = pb::SubmitJobRequest {
        job_id: "j".into(),
        tasks: vec![pb::TaskSpec { timeout_ms: 100, ..task("t", "echo") }],
        ..Default::default()
    };
    let mut job = JobState::new(request, TaskDefaults::default(), Duration::ZERO);
    job.assign("a", "echo", 1, Duration::ZERO);
    assert!(job.expire_overdue(Duration::from_millis(50), Duration::from_millis(120)).is_empty());
    let effects = job.expire_overdue(Duration::from_millis(50), Duration::from_millis(200));
    assert_eq!(effects, vec![Finish::Retried { executor: "echo".into() }]);
}

#[test]
fn cancel_ends_every_open_task_once() {
    let mut job = echo_job(3);
    job.reservations_placed("echo", "a", 3, T);
    let launch = job.assign("a", "echo", 1, T).launches.remove(0);
    assert!(matches!(job.finish("a", ok(&launch), T), Finish::Terminal(_)));
    job.assign("a", "echo", 1, T);
    let (cancelled, running) = job.cancel(T);
    assert_eq!(cancelled.len(), 2);
    assert!(cancelled.iter().all(|r| r.status == TaskStatus::Cancelled as i32));
    assert_eq!(running, vec!["a".to_string()]);
    assert!(job.is_finished());
    assert_eq!(job.summary(), pb::JobFinished { succeeded: 1, failed: 0, cancelled: 2 });
    assert!(job.assign("a", "echo", 1, T).launches.is_empty());
}

#[test]
fn skipped_tasks_are_left_out() {
    let request = pb::SubmitJobRequest {
        job_id: "j".into(),
        tasks: vec![task("a", "echo"), task("b", "echo")],
        skip_task_ids: vec!["a".into()],
        ..Default::default()
    };
    let job = JobState::new(request, TaskDefaults::default(), Duration::ZERO);
    assert_eq!(job.task_count(), 1);
}

#[test]
fn queued_and_total_times_are_measured_from_acceptance() {
    let mut job = echo_job(1);
    let launch = job.assign("a", "echo", 1, Duration::from_millis(3)).launches.remove(0);
    let Finish::Terminal(result) = job.finish("a", ok(&launch), Duration::from_millis(10)) else {
        panic!("expected terminal")
    };
    assert_eq!(result.queued_micros, 3_000);
    assert_eq!(result.total_micros, 10_000);
    assert_eq!(result.node_id, "a");
}
