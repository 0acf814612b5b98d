//! Unit tests of the node monitor's policy on faults (issue 16): GetTask
//! deadlines and suspect schedulers, the deadline's verdict on late
//! results, tasks that never started, and executors that stop answering.

use super::*;

const T0: Duration = Duration::ZERO;

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn node() -> NodeState {
    let config = StateConfig { cancel_grace: ms(1000), executor_silence: ms(3000), ..StateConfig::with_capacity(100) };
    let mut state = NodeState::new("n1".into(), Vec::new(), config);
    state.on_attach(1, "echo", 2, 0, "pid:1".into());
    state
}

fn reserve(job: &str, scheduler: &str, count: u32) -> pb::EnqueueReservationsRequest {
    pb::EnqueueReservationsRequest {
        job_id: job.into(),
        scheduler_address: scheduler.into(),
        executor: "echo".into(),
        count,
        ..Default::default()
    }
}

fn asks(effects: &[Effect]) -> Vec<(String, pb::GetTaskRequest)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::AskScheduler { scheduler, request } => Some((scheduler.clone(), request.clone())),
            _ => None,
        })
        .collect()
}

fn reports(effects: &[Effect]) -> Vec<pb::TaskOutcome> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Report { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

fn launch(job: &str, task: &str, timeout_ms: u64) -> pb::TaskLaunch {
    pb::TaskLaunch {
        job_id: job.into(),
        task_id: task.into(),
        attempt: 1,
        executor: "echo".into(),
        timeout_ms,
        ..Default::default()
    }
}

fn grant(request: &pb::GetTaskRequest, tasks: Vec<pb::TaskLaunch>) -> pb::GetTaskResponse {
    pb::GetTaskResponse { job_id: request.job_id.clone(), tasks, request_id: request.request_id }
}

#[test]
fn a_silent_scheduler_releases_its_slots_to_others_issue_16() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("frozen-job", "frozen:1", 10), T0);
    assert_eq!(asks(&effects).len(), 1, "both slots ask the first scheduler");
    let (_, effects) = state.enqueue(reserve("healthy-job", "healthy:1", 10), ms(10));
    assert!(asks(&effects).is_empty(), "no slot free while the request is in flight");

    let effects = state.sweep(ms(999));
    assert!(asks(&effects).is_empty(), "not yet past the GetTask deadline");
    let effects = state.sweep(ms(1000));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::SchedulerSuspect { scheduler, timed_out: 1, .. } if scheduler == "frozen:1")),
        "{effects:?}"
    );
    let next = asks(&effects);
    assert_eq!(next.len(), 1, "{next:?}");
    assert_eq!(next[0].0, "healthy:1", "the suspect scheduler's reservations are skipped");
    assert_eq!(next[0].1.max_tasks, 2, "both slots serve the healthy scheduler");
    assert_eq!(state.load().queue_length, 16, "the frozen one's reservations are kept");

    // The healthy one's tasks run; the frozen one stays skipped meanwhile.
    let request = next[0].1.clone();
    let effects = state.on_grant(grant(&request, vec![launch("healthy-job", "h1", 5000)]), ms(1001));
    let more = asks(&effects);
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].0, "healthy:1");
}

#[test]
fn a_suspect_scheduler_is_probed_with_one_request_and_trusted_when_it_answers() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("a", "slow:1", 10), T0);
    let first = asks(&effects).remove(0).1;
    state.sweep(ms(1000));
    // Past the suspicion (1 s), one slot probes it with one reservation.
    let effects = state.sweep(ms(2000));
    let probe = asks(&effects);
    assert_eq!(probe.len(), 1, "{probe:?}");
    assert_eq!(probe[0].1.max_tasks, 1, "a probe asks for one task");
    // Its late answer to the first request still finds a home: a slot is idle.
    let effects = state.on_grant(grant(&first, vec![launch("a", "late", 5000)]), ms(2001));
    assert!(effects.iter().any(|e| matches!(e, Effect::Run { task, .. } if task.task_id == "late")), "{effects:?}");
    // It answered, so it is trusted again: its reservations fill free slots.
    let effects = state.on_grant(grant(&probe[0].1, vec![]), ms(2002));
    let after = asks(&effects);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].1.max_tasks, 1, "the one slot left");
}

#[test]
fn a_late_grant_with_no_idle_slot_hands_its_tasks_back_unspent() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("a", "slow:1", 2), T0);
    let first = asks(&effects).remove(0).1;
    state.sweep(ms(1000));
    let (_, effects) = state.enqueue(reserve("b", "fast:1", 2), ms(1001));
    let other = asks(&effects).remove(0).1;
    state.on_grant(grant(&other, vec![launch("b", "b1", 5000), launch("b", "b2", 5000)]), ms(1002));
    let effects = state.on_grant(grant(&first, vec![launch("a", "a1", 5000)]), ms(1003));
    let handed_back = reports(&effects);
    assert_eq!(handed_back.len(), 1);
    assert!(handed_back[0].retryable && handed_back[0].not_started, "{:?}", handed_back[0]);
}

#[test]
fn a_task_for_a_departed_executor_is_handed_back_unspent_issue_16() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("a", "s:1", 1), T0);
    let request = asks(&effects).remove(0).1;
    state.on_instance_gone(1, "executor exited with status 9");
    let effects = state.on_grant(grant(&request, vec![launch("a", "t1", 5000)]), ms(5));
    let outcome = reports(&effects).remove(0);
    assert_eq!(outcome.error, "no executor slot left on the node");
    assert!(outcome.retryable && outcome.not_started);
}

#[test]
fn a_failure_at_the_deadline_is_the_retryable_deadline_failure_issue_16() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("a", "s:1", 2), T0);
    let request = asks(&effects).remove(0).1;
    let effects = state.on_grant(grant(&request, vec![launch("a", "early", 100), launch("a", "late", 100)]), T0);
    let deadlines: Vec<u64> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Run { task, .. } => Some(task.deadline_ms),
            _ => None,
        })
        .collect();
    assert_eq!(deadlines, vec![100, 100]);
    let failure = |task: &str| pb::TaskResult {
        job_id: "a".into(),
        task_id: task.into(),
        attempt: 1,
        ok: false,
        error: "boom".into(),
        ..Default::default()
    };
    // Before the deadline a failure is the task's own.
    let own = reports(&state.on_results(1, vec![failure("early")], ms(99))).remove(0);
    assert_eq!(own.error, "boom");
    assert!(!own.retryable);
    // The executor's own timer fires at (never before) the node's deadline,
    // ahead of the sweep: that is the deadline failure, and retryable.
    let timed_out = pb::TaskResult { error: "deadline exceeded".into(), ..failure("late") };
    let late = reports(&state.on_results(1, vec![timed_out], ms(100))).remove(0);
    assert_eq!(late.error, "deadline exceeded");
    assert!(late.retryable);
}

#[test]
fn deadlines_handed_to_executors_round_up() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("a", "s:1", 1), T0);
    let request = asks(&effects).remove(0).1;
    let effects = state.on_grant(grant(&request, vec![launch("a", "t", 100)]), Duration::from_micros(300));
    let deadline_ms = effects.iter().find_map(|e| match e {
        Effect::Run { task, .. } => Some(task.deadline_ms),
        _ => None,
    });
    assert_eq!(deadline_ms, Some(100), "granted at 0.3 ms: the deadline is 100.3 ms, so 100 ms is left");
    assert_eq!(ceil_millis(Duration::from_micros(99_700)), 100);
    assert_eq!(ceil_millis(ms(5)), 5);
}

#[test]
fn an_executor_that_stops_its_heartbeats_is_withdrawn_issue_16() {
    let mut state = node();
    state.on_attach(2, "echo", 1, 0, "pid:2".into());
    state.on_heard(2, true, ms(100));
    let (_, effects) = state.enqueue(reserve("a", "s:1", 3), ms(100));
    let request = asks(&effects).remove(0).1;
    assert_eq!(request.max_tasks, 3);
    state.on_grant(
        grant(&request, vec![launch("a", "t1", 60_000), launch("a", "t2", 60_000), launch("a", "t3", 60_000)]),
        ms(101),
    );
    assert!(state.sweep(ms(3000)).iter().all(|e| !matches!(e, Effect::Withdraw { .. })));
    let effects = state.sweep(ms(3100));
    assert!(effects.iter().any(|e| matches!(e, Effect::Withdraw { instance: 2, .. })), "{effects:?}");
    let lost = reports(&effects);
    assert_eq!(lost.len(), 1, "the silent one's task goes back: {lost:?}");
    assert!(lost[0].retryable);
    assert!(lost[0].error.contains("heartbeats stopped"), "{}", lost[0].error);
    let (total, _) = state.load().executors.iter().map(|e| (e.slots_total, e.slots_busy)).next().unwrap();
    assert_eq!(total, 2, "only the built-in's slots are left");
    assert!(state.sweep(ms(60_000)).iter().all(|e| !matches!(e, Effect::Withdraw { .. })), "instance 1 sends none");
}
