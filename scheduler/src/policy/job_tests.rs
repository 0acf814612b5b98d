//! Unit tests of the job state machine: late binding, cancellation, retries.

use super::*;

fn task(id: &str, executor: &str) -> pb::TaskSpec {
    pb::TaskSpec {
        task_id: id.into(),
        executor: executor.into(),
        payload: Bytes::copy_from_slice(id.as_bytes()),
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
    assert_eq!(
        job.probe_demands(),
        vec![ProbeDemand { executor: "echo".into(), count: 1, constraint: Constraint::default() }]
    );
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
fn a_task_handed_back_unstarted_spends_no_attempt_issue_16() {
    let request = pb::SubmitJobRequest {
        job_id: "j".into(),
        tasks: vec![pb::TaskSpec { max_attempts: 1, ..task("t", "echo") }],
        ..Default::default()
    };
    let mut job = JobState::new(request, TaskDefaults::default(), Duration::ZERO);
    for _ in 0..MAX_UNSTARTED_HANDBACKS {
        let launch = job.assign("a", "echo", 1, T).launches.remove(0);
        assert_eq!(launch.attempt, 1, "a hand-back is not an attempt");
        let unstarted = pb::TaskOutcome { not_started: true, ..crashed(&launch) };
        assert_eq!(job.finish("a", unstarted, T), Finish::Retried { executor: "echo".into() });
    }
    let launch = job.assign("b", "echo", 1, T).launches.remove(0);
    let unstarted = pb::TaskOutcome { not_started: true, ..crashed(&launch) };
    assert!(matches!(job.finish("b", unstarted, T), Finish::Terminal(_)), "bounded: the task still ends");
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
fn an_error_retry_waits_out_a_doubling_backoff_then_fails_with_every_attempt() {
    let request = pb::SubmitJobRequest {
        job_id: "j".into(),
        tasks: vec![pb::TaskSpec { max_attempts: 3, retry_on_error: true, retry_backoff_ms: 100, ..task("t", "echo") }],
        ..Default::default()
    };
    let mut job = JobState::new(request, TaskDefaults::default(), Duration::ZERO);
    let raised = |launch: &pb::TaskLaunch| pb::TaskOutcome {
        status: TaskStatus::Failed as i32,
        error: format!("ValueError {}", launch.attempt),
        ..ok(launch)
    };
    let first = job.assign("a", "echo", 1, T).launches.remove(0);
    let at = Duration::from_millis(10);
    assert_eq!(job.finish("a", raised(&first), at), Finish::Retried { executor: "echo".into() });
    assert!(job.probe_demands().is_empty(), "no reservation while the backoff runs");
    assert_eq!(job.next_backoff_due(), Some(at + Duration::from_millis(100)));
    assert!(!job.release_backoffs(at + Duration::from_millis(99)));
    assert!(job.release_backoffs(at + Duration::from_millis(100)));
    assert_eq!(job.probe_demands().len(), 1);
    let second = job.assign("b", "echo", 1, at).launches.remove(0);
    assert_eq!(second.attempt, 2);
    job.finish("b", raised(&second), at);
    assert_eq!(job.next_backoff_due(), Some(at + Duration::from_millis(200)), "the second wait doubles");
    assert!(job.release_backoffs(at + Duration::from_millis(200)));
    let third = job.assign("a", "echo", 1, at).launches.remove(0);
    match job.finish("a", raised(&third), at) {
        Finish::Terminal(result) => {
            assert_eq!(result.status, TaskStatus::Failed as i32);
            assert_eq!(result.attempt, 3);
            for n in 1..=3 {
                assert!(result.error.contains(&format!("ValueError {n}")), "{}", result.error);
            }
        }
        other => panic!("expected the terminal failure, got {other:?}"),
    }
}

#[test]
fn an_error_retry_that_succeeds_ends_succeeded_and_cancel_ends_a_waiting_task() {
    let spec = |id: &str| pb::TaskSpec { retry_on_error: true, ..task(id, "echo") };
    let mut job = job(vec![spec("t"), spec("u")]);
    let launches = job.assign("a", "echo", 2, T).launches;
    let failed = pb::TaskOutcome { status: TaskStatus::Failed as i32, error: "flaky".into(), ..ok(&launches[0]) };
    job.finish("a", failed, T);
    assert_eq!(job.next_backoff_due(), Some(T + retry_backoff(0, 1)));
    assert_eq!(retry_backoff(0, 1), Duration::from_millis(200), "the default first wait");
    job.release_backoffs(T + Duration::from_secs(1));
    let again = job.assign("a", "echo", 1, T).launches.remove(0);
    match job.finish("a", ok(&again), T) {
        Finish::Terminal(result) => assert_eq!((result.status, result.attempt), (TaskStatus::Succeeded as i32, 2)),
        other => panic!("expected success, got {other:?}"),
    }
    let failed = pb::TaskOutcome { status: TaskStatus::Failed as i32, error: "flaky".into(), ..ok(&launches[1]) };
    job.finish("a", failed, T);
    let (cancelled, _) = job.cancel(T);
    assert_eq!(cancelled.len(), 1, "the task waiting out its backoff ends once");
    assert!(job.is_finished());
    assert_eq!(job.next_backoff_due(), None);
}

#[test]
fn retry_backoff_doubles_up_to_the_cap() {
    assert_eq!(retry_backoff(100, 1), Duration::from_millis(100));
    assert_eq!(retry_backoff(100, 4), Duration::from_millis(800));
    assert_eq!(retry_backoff(100, 99), Duration::from_millis(MAX_RETRY_BACKOFF_MS));
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
    assert_eq!(demands, vec![ProbeDemand { executor: "echo".into(), count: 4, constraint: Constraint::default() }]);
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

fn constrained(id: &str, constraints: &[&str]) -> pb::TaskSpec {
    pb::TaskSpec { constraints: constraints.iter().map(|c| (*c).to_owned()).collect(), ..task(id, "echo") }
}

#[test]
fn constrained_tasks_are_probed_apart_among_their_candidates() {
    let mut job = job(vec![constrained("a", &["zone=a"]), task("b", "echo"), constrained("c", &["zone=a"])]);
    let mut demands = job.probe_demands();
    demands.sort_by_key(|d| d.count);
    assert_eq!(demands[0], ProbeDemand { executor: "echo".into(), count: 1, constraint: Constraint::default() });
    assert_eq!(demands[1].count, 2);
    assert_eq!(demands[1].constraint, Constraint::parse(&["zone=a"]));
    assert!(!job.demand_placed(&demands[1], "za", 2, T));
    assert_eq!(job.probe_demands().len(), 1, "the constrained group is covered");
}

#[test]
fn late_binding_never_hands_a_task_to_an_ineligible_node() {
    let mut job = job(vec![constrained("a", &["zone=a"]), task("b", "echo")]);
    let to_b = job.assign_to("nb", &["zone=b"], "echo", 2, T);
    let ids: Vec<&str> = to_b.launches.iter().map(|l| l.task_id.as_str()).collect();
    assert_eq!(ids, ["b"], "the zone=b node only gets the unconstrained task");
    assert!(job.assign_to("nb", &["zone=b"], "echo", 1, T).launches.is_empty());
    let to_a = job.assign_to("na", &["zone=a"], "echo", 1, T);
    assert_eq!(to_a.launches[0].task_id, "a");
}

#[test]
fn an_eligible_node_holding_an_unconstrained_reservation_takes_a_constrained_task() {
    let mut job = job(vec![constrained("a", &["zone=a"]), task("b", "echo")]);
    assert!(!job.reservations_placed("echo", "na", 1, T));
    let first = job.assign_to("na", &["zone=a"], "echo", 1, T);
    assert_eq!(first.launches[0].task_id, "a", "constrained tasks go first");
}

#[test]
fn job_constraints_apply_to_every_task() {
    let request = pb::SubmitJobRequest {
        job_id: "j".into(),
        constraints: vec!["gpu=true".into()],
        tasks: vec![constrained("a", &["zone=a"]), task("b", "echo")],
        ..Default::default()
    };
    let mut job = JobState::new(request, TaskDefaults::default(), Duration::ZERO);
    let constraints: Vec<String> = job.placements().map(|(_, c)| c.to_string()).collect();
    assert_eq!(constraints, ["gpu=true, zone=a", "gpu=true"]);
    assert!(job.assign("plain", "echo", 2, T).launches.is_empty());
    assert_eq!(job.assign_to("g", &["gpu=true"], "echo", 2, T).launches.len(), 1);
}

#[test]
fn leftover_reservations_still_serving_a_constrained_group_are_not_cancelled() {
    let mut job = job(vec![constrained("a", &["zone=a"]), task("b", "echo")]);
    let demands = job.probe_demands();
    for demand in &demands {
        job.demand_placed(demand, "na", 1, T);
    }
    job.reservations_placed("echo", "other", 1, T);
    let first = job.assign_to("other", &["zone=b"], "echo", 1, T);
    assert_eq!(first.launches[0].task_id, "b");
    assert!(first.cancel_nodes.is_empty(), "na still holds the constrained task's reservation");
    let second = job.assign_to("na", &["zone=a"], "echo", 1, T);
    assert_eq!(second.launches[0].task_id, "a");
}

proptest::proptest! {
    /// Whatever nodes ask in whatever order, every launch goes to a node
    /// the task's constraint admits, and no task launches twice.
    #[test]
    fn constraints_are_never_violated(
        task_zones in proptest::collection::vec(0u8..3, 1..30),
        asks in proptest::collection::vec((0u8..6, 1u32..4), 1..80),
    ) {
        // Zone 0 means unconstrained; nodes n0..n5 sit in zone (i % 2) + 1.
        let tasks: Vec<pb::TaskSpec> = task_zones
            .iter()
            .enumerate()
            .map(|(i, zone)| match zone {
                0 => task(&format!("t{i}"), "echo"),
                z => constrained(&format!("t{i}"), &[&format!("zone={z}")]),
            })
            .collect();
        let mut job = job(tasks);
        let mut launched = HashSet::new();
        for (node, max_tasks) in asks {
            let label = format!("zone={}", node % 2 + 1);
            let node_id = format!("n{node}");
            for launch in job.assign_to(&node_id, &[label.as_str()], "echo", max_tasks, T).launches {
                let index: usize = launch.task_id[1..].parse().unwrap();
                let zone = task_zones[index];
                proptest::prop_assert!(zone == 0 || label == format!("zone={zone}"), "{} on {}", launch.task_id, label);
                proptest::prop_assert!(launched.insert(launch.task_id.clone()));
            }
        }
    }
}

#[test]
fn an_offered_task_is_nobody_elses_until_declined_and_then_keeps_its_attempt() {
    let mut job = echo_job(2);
    let demand = job.probe_demands().remove(0);
    let offered = job.offer(&demand, "a", 1, T);
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].attempt, 1);
    job.reservations_placed("echo", "b", 2, T);
    let other = job.assign("b", "echo", 2, T);
    assert_eq!(other.launches.len(), 1, "b gets the task not offered, never the offered one");
    assert_ne!(other.launches[0].task_id, offered[0].task_id);

    assert!(!job.offer_declined("b", &offered[0].task_id, 1), "only the node it was offered to declines it");
    assert!(job.offer_declined("a", &offered[0].task_id, 1));
    assert_eq!(job.probe_demands().iter().map(|d| d.count).sum::<u32>(), 1, "pending again, needs a reservation");
    job.reservations_placed("echo", "c", 1, T);
    let again = job.assign("c", "echo", 1, T);
    assert_eq!(again.launches[0].task_id, offered[0].task_id);
    assert_eq!(again.launches[0].attempt, 1, "a declined offer spends no attempt");
    assert!(matches!(job.finish("c", ok(&again.launches[0]), T), Finish::Terminal(_)));
}

#[test]
fn an_unanswered_offer_is_a_lost_attempt_and_its_late_result_is_ignored() {
    let mut job = echo_job(1);
    let demand = job.probe_demands().remove(0);
    let offered = job.offer(&demand, "a", 1, T).remove(0);
    assert!(matches!(job.offer_unanswered("a", &offered.task_id, 1, T), Finish::Retried { .. }));
    job.reservations_placed("echo", "b", 1, T);
    let retry = job.assign("b", "echo", 1, T).launches.remove(0);
    assert_eq!(retry.attempt, 2);
    assert_eq!(job.finish("a", ok(&offered), T), Finish::Ignored, "the first node ran it after all: ignored");
    match job.finish("b", ok(&retry), T) {
        Finish::Terminal(result) => assert_eq!(result.attempt, 2),
        other => panic!("expected the one terminal result, got {other:?}"),
    }
    assert!(job.is_finished());
}

#[test]
fn every_offer_launch_and_retry_shares_the_stored_payload_buffer() {
    let payload = Bytes::from(vec![7u8; 4096]);
    let stored = payload.as_ptr();
    let spec = pb::TaskSpec { max_attempts: 3, payload, ..task("t", "echo") };
    let mut job = job(vec![spec]);
    let demand = job.probe_demands().remove(0);
    let offered = job.offer(&demand, "a", 1, T).remove(0);
    assert!(job.offer_declined("a", &offered.task_id, 1));
    job.reservations_placed("echo", "b", 1, T);
    let first = job.assign("b", "echo", 1, T).launches.remove(0);
    assert!(matches!(job.finish("b", crashed(&first), T), Finish::Retried { .. }));
    job.reservations_placed("echo", "c", 1, T);
    let retry = job.assign("c", "echo", 1, T).launches.remove(0);
    assert_eq!(retry.attempt, 2);
    for launch in [&offered, &first, &retry] {
        assert_eq!(launch.payload.len(), 4096);
        assert_eq!(
            launch.payload.as_ptr(),
            stored,
            "attempt {} of {} copied the payload",
            launch.attempt,
            launch.task_id
        );
    }
    let outcome = ok(&retry);
    let Finish::Terminal(result) = job.finish("c", outcome.clone(), T) else { panic!("expected the terminal result") };
    assert_eq!(result.output, outcome.output);
    assert_ne!(result.output.as_ptr(), outcome.output.as_ptr(), "the kept output has a buffer of its own");
    assert_eq!(job.results()[0].output.as_ptr(), result.output.as_ptr(), "the result is kept once, not copied again");
}
