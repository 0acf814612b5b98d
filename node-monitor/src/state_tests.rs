//! Unit tests of the node monitor's policy: late binding, slots, deadlines.

use super::*;

const T0: Duration = Duration::ZERO;

fn node() -> NodeState {
    let mut state = NodeState::new(
        "n1".into(),
        Vec::new(),
        StateConfig { cancel_grace: Duration::from_secs(1), prefetch_per_slot: 0, ..StateConfig::with_capacity(10) },
    );
    state.on_attach(1, "echo", 2, 0, "pid:1".into());
    state
}

fn reserve(job: &str, count: u32) -> pb::EnqueueReservationsRequest {
    pb::EnqueueReservationsRequest {
        job_id: job.into(),
        scheduler_address: "sched:1".into(),
        executor: "echo".into(),
        count,
        ..Default::default()
    }
}

fn asks(effects: &[Effect]) -> Vec<pb::GetTaskRequest> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::AskScheduler { request, .. } => Some(request.clone()),
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

#[test]
fn asks_for_as_many_tasks_as_free_slots() {
    let mut state = node();
    let (response, effects) = state.enqueue(reserve("j", 5), T0);
    assert_eq!(response.accepted, 5);
    let requests = asks(&effects);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].max_tasks, 2, "two free slots");
    assert_eq!(response.queue_length, 3);
    assert!(asks(&state.dispatch()).is_empty(), "slots are claimed while the request is in flight");
}

#[test]
fn refuses_unknown_executor_and_full_queue() {
    let mut state = node();
    let unknown = pb::EnqueueReservationsRequest { executor: "gpu".into(), ..reserve("j", 1) };
    let (response, _) = state.enqueue(unknown, T0);
    assert_eq!(response.accepted, 0);
    assert!(response.refusal.contains("no executor of type 'gpu'"), "{}", response.refusal);
    let (first, _) = state.enqueue(reserve("a", 20), T0);
    assert_eq!(first.accepted, 10, "the queue holds 10");
    assert_eq!(first.queue_length, 8, "two were redeemed at once for the two free slots");
    let (second, _) = state.enqueue(reserve("b", 5), T0);
    assert_eq!(second.accepted, 2, "only what fits");
    let (third, _) = state.enqueue(reserve("c", 1), T0);
    assert_eq!(third.accepted, 0);
    assert_eq!(third.refusal, "reservation queue is full");
}

#[test]
fn empty_grant_frees_claimed_slots_for_the_next_job() {
    let mut state = node();
    let (_, first) = state.enqueue(reserve("a", 2), T0);
    state.enqueue(reserve("b", 2), T0);
    let request = asks(&first).remove(0);
    let effects =
        state.on_grant(pb::GetTaskResponse { job_id: "a".into(), tasks: vec![], request_id: request.request_id }, T0);
    let next = asks(&effects);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].job_id, "b");
}

#[test]
fn result_is_reported_and_slot_reused() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("a", 3), T0);
    let request = asks(&effects).remove(0);
    let grant = pb::GetTaskResponse {
        job_id: "a".into(),
        tasks: vec![launch("a", "t1", 1000)],
        request_id: request.request_id,
    };
    let effects = state.on_grant(grant, T0);
    assert!(effects.iter().any(|e| matches!(e, Effect::Run { instance: 1, .. })));
    assert_eq!(asks(&effects).len(), 1, "the unused claimed slot goes to the next reservation");
    let result = pb::TaskResult {
        job_id: "a".into(),
        task_id: "t1".into(),
        attempt: 1,
        ok: true,
        output: bytes::Bytes::from_static(b"x"),
        ..Default::default()
    };
    let effects = state.on_results(1, vec![result], Duration::from_millis(3));
    let report = effects.iter().find_map(|e| match e {
        Effect::Report { outcome, .. } => Some(outcome.clone()),
        _ => None,
    });
    let outcome = report.expect("reported");
    assert_eq!(outcome.status, TaskStatus::Succeeded as i32);
    assert_eq!(outcome.run_micros, 3000);
    assert_eq!(outcome.executor_id, "pid:1");
}

#[test]
fn deadline_cancels_reports_and_holds_slot_until_grace() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("a", 1), T0);
    let request = asks(&effects).remove(0);
    state.on_grant(
        pb::GetTaskResponse { job_id: "a".into(), tasks: vec![launch("a", "t1", 100)], request_id: request.request_id },
        T0,
    );
    let effects = state.sweep(Duration::from_millis(150));
    assert!(effects.iter().any(|e| matches!(e, Effect::Cancel { cancel, .. } if cancel.reason == "deadline exceeded")));
    assert!(effects.iter().any(
        |e| matches!(e, Effect::Report { outcome, .. } if outcome.error == "deadline exceeded" && outcome.retryable)
    ));
    assert_eq!(state.running_count(), 1, "slot held until the executor answers");
    state.sweep(Duration::from_millis(1200));
    assert_eq!(state.running_count(), 0, "grace elapsed, slot reclaimed");
}

#[test]
fn executor_loss_fails_running_tasks_retryably() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("a", 1), T0);
    let request = asks(&effects).remove(0);
    state.on_grant(
        pb::GetTaskResponse {
            job_id: "a".into(),
            tasks: vec![launch("a", "t1", 1000)],
            request_id: request.request_id,
        },
        T0,
    );
    let effects = state.on_instance_gone(1, "executor exited with status 9");
    let outcome = effects
        .iter()
        .find_map(|e| match e {
            Effect::Report { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .expect("reported");
    assert!(outcome.retryable);
    assert_eq!(outcome.error, "executor exited with status 9");
    assert_eq!(state.load().executors.len(), 0);
}

#[test]
fn draining_refuses_new_reservations() {
    let mut state = node();
    state.start_draining();
    let (response, _) = state.enqueue(reserve("a", 1), T0);
    assert_eq!(response.accepted, 0);
    assert_eq!(response.refusal, "node monitor is draining");
}

fn prefetching_node(per_slot: u32) -> NodeState {
    let mut state = NodeState::new(
        "n1".into(),
        Vec::new(),
        StateConfig {
            cancel_grace: Duration::from_secs(1),
            prefetch_per_slot: per_slot,
            ..StateConfig::with_capacity(10)
        },
    );
    state.on_attach(1, "echo", 1, 0, "pid:1".into());
    state
}

fn grant(request: &pb::GetTaskRequest, tasks: Vec<pb::TaskLaunch>) -> pb::GetTaskResponse {
    pb::GetTaskResponse { request_id: request.request_id, tasks, ..Default::default() }
}

/// Answers the requests in `effects` with the tasks `ids`, in order, each
/// request getting as many as it asked for.
fn grant_in_order(state: &mut NodeState, effects: &[Effect], ids: &[&str], timeout_ms: u64) -> Vec<Effect> {
    let mut ids = ids.iter();
    let mut out = Vec::new();
    for request in asks(effects) {
        let tasks: Vec<pb::TaskLaunch> =
            ids.by_ref().take(request.max_tasks as usize).map(|id| launch("j", id, timeout_ms)).collect();
        out.extend(state.on_grant(grant(&request, tasks), T0));
    }
    out
}

fn runs(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Run { task, .. } => Some(task.task_id.clone()),
            _ => None,
        })
        .collect()
}

fn result(task: &str) -> pb::TaskResult {
    pb::TaskResult { job_id: "j".into(), task_id: task.into(), attempt: 1, ok: true, ..Default::default() }
}

#[test]
fn prefetch_takes_a_task_ahead_and_starts_it_when_the_slot_frees() {
    let mut state = prefetching_node(1);
    let (_, effects) = state.enqueue(reserve("j", 5), T0);
    let requests = asks(&effects);
    assert_eq!(requests.iter().map(|r| r.max_tasks).sum::<u32>(), 2, "one slot plus one prefetch place");
    let granted = grant_in_order(&mut state, &effects, &["a", "b"], 10_000);
    assert_eq!(runs(&granted), ["a"], "the second task is held, the slot is busy");
    assert!(asks(&granted).is_empty(), "no more places: the bound is slots x (1 + per_slot)");
    assert_eq!(state.running_count(), 2, "held tasks count as running for drain");

    let next = state.on_results(1, vec![result("a")], Duration::from_millis(5));
    assert_eq!(runs(&next), ["b"], "the held task starts at once");
    assert_eq!(asks(&next).iter().map(|r| r.max_tasks).sum::<u32>(), 1, "and a new place is asked for");
}

#[test]
fn held_tasks_keep_their_deadline_from_the_grant_and_are_cancelled_with_their_job() {
    let mut state = prefetching_node(1);
    let (_, effects) = state.enqueue(reserve("j", 2), T0);
    grant_in_order(&mut state, &effects, &["a", "b"], 1_000);
    let late = state.on_results(1, vec![result("a")], Duration::from_millis(600));
    let run_b = late.iter().find_map(|e| match e {
        Effect::Run { task, .. } => Some(task.clone()),
        _ => None,
    });
    assert_eq!(run_b.expect("b starts").deadline_ms, 400, "1 s from the grant, 600 ms already spent waiting");

    let mut state = prefetching_node(1);
    let (_, effects) = state.enqueue(reserve("j", 2), T0);
    grant_in_order(&mut state, &effects, &["a", "b"], 1_000);
    let cancel = pb::CancelReservationsRequest { job_id: "j".into(), stop_running: true, ..Default::default() };
    let (response, effects) = state.cancel(&cancel, T0);
    assert_eq!(response.stopped, 2, "the running and the held task");
    let reported: Vec<&str> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Report { outcome, .. } => Some(outcome.task_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert!(reported.contains(&"b"));
}

#[test]
fn held_tasks_of_a_vanished_executor_are_reported_lost_and_retryable() {
    let mut state = prefetching_node(1);
    let (_, effects) = state.enqueue(reserve("j", 2), T0);
    grant_in_order(&mut state, &effects, &["a", "b"], 1_000);
    let effects = state.on_instance_gone(1, "executor exited with status 9");
    let lost: Vec<(String, bool)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Report { outcome, .. } => Some((outcome.task_id.clone(), outcome.retryable)),
            _ => None,
        })
        .collect();
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert!(lost.iter().all(|(_, retryable)| *retryable));
    assert_eq!(state.running_count(), 0);
}

#[test]
fn without_prefetch_a_busy_slot_asks_for_nothing() {
    let mut state = prefetching_node(0);
    let (_, effects) = state.enqueue(reserve("j", 3), T0);
    let requests = asks(&effects);
    assert_eq!(requests.iter().map(|r| r.max_tasks).sum::<u32>(), 1);
    let granted = state.on_grant(grant(&requests[0], vec![launch("j", "a", 1_000)]), T0);
    assert_eq!(runs(&granted), ["a"]);
    assert!(asks(&granted).is_empty());
}

#[test]
fn a_queueing_executor_is_sent_prefetched_tasks_at_once() {
    let mut state = NodeState::new(
        "n1".into(),
        Vec::new(),
        StateConfig { cancel_grace: Duration::from_secs(1), prefetch_per_slot: 2, ..StateConfig::with_capacity(10) },
    );
    // One slot; the executor queues up to 64 per slot, the node allows 2.
    state.on_attach(1, "echo", 1, 64, "pid:1".into());
    let (_, effects) = state.enqueue(reserve("j", 5), T0);
    assert_eq!(asks(&effects).iter().map(|r| r.max_tasks).sum::<u32>(), 3, "one slot plus two queue places");
    let granted = grant_in_order(&mut state, &effects, &["a", "b", "c"], 1_000);
    assert_eq!(runs(&granted), ["a", "b", "c"], "all three go to the executor, which queues two");
    assert!(asks(&granted).is_empty(), "no room left: slots x (1 + min(queue, prefetch))");
    assert_eq!(state.load().executors[0].slots_busy, 1, "queued tasks are not busy slots");

    let next = state.on_results(1, vec![result("a"), result("b")], Duration::from_millis(5));
    assert_eq!(asks(&next).iter().map(|r| r.max_tasks).sum::<u32>(), 2, "two places free again");

    let lost = state.on_instance_gone(1, "executor exited with status 9");
    let reported: Vec<(&str, bool)> = lost
        .iter()
        .filter_map(|e| match e {
            Effect::Report { outcome, .. } => Some((outcome.task_id.as_str(), outcome.retryable)),
            _ => None,
        })
        .collect();
    assert_eq!(reported, [("c", true)], "a task queued in a lost executor is retried");
}

#[test]
fn offered_tasks_start_on_idle_slots_and_the_rest_are_declined() {
    let mut state = node();
    let mut request = reserve("j", 4);
    request.offered = vec![launch("j", "a", 1_000), launch("j", "b", 1_000), launch("j", "c", 1_000)];
    let (response, effects) = state.enqueue(request, T0);
    assert_eq!(runs(&effects), ["a", "b"], "two idle slots, two offers taken");
    assert_eq!(response.declined_task_ids, ["c"]);
    assert_eq!(response.accepted, 4, "offers come on top of the reservations, which are all queued");
    assert!(asks(&effects).is_empty(), "no slot is free to redeem them");

    let next = state.on_results(1, vec![result("a")], Duration::from_millis(3));
    let reported: Vec<&str> = next
        .iter()
        .filter_map(|e| match e {
            Effect::Report { scheduler, outcome } if scheduler == "sched:1" => Some(outcome.task_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reported, ["a"], "an offered task reports to the scheduler that offered it");
    assert_eq!(asks(&next).iter().map(|r| r.max_tasks).sum::<u32>(), 1, "the freed slot redeems a reservation");

    let mut draining = node();
    draining.start_draining();
    let mut request = reserve("j", 1);
    request.offered = vec![launch("j", "a", 1_000)];
    let (response, effects) = draining.enqueue(request, T0);
    assert!(runs(&effects).is_empty());
    assert_eq!(response.declined_task_ids, ["a"], "a draining node starts nothing");
}

#[test]
fn progress_goes_to_the_launching_scheduler_spaced_out_and_only_while_running() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("j", 1), T0);
    let request = asks(&effects).remove(0);
    state.on_grant(grant(&request, vec![launch("j", "t", 10_000)]), T0);
    let report = |fraction: f32| pb::executor_message::Progress {
        job_id: "j".into(),
        task_id: "t".into(),
        fraction,
        message: format!("{fraction}"),
    };
    let forwarded = |effects: Vec<Effect>| -> Vec<pb::TaskProgress> {
        effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Progress { scheduler, progress } => {
                    assert_eq!(scheduler, "sched:1");
                    Some(progress)
                }
                _ => None,
            })
            .collect()
    };
    let ms = Duration::from_millis;
    let first = forwarded(state.on_progress(1, report(0.1), ms(10)));
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].attempt, first[0].fraction, first[0].message.as_str()), (1, 0.1, "0.1"));
    assert!(forwarded(state.on_progress(1, report(0.2), ms(50))).is_empty(), "within the spacing");
    assert_eq!(forwarded(state.on_progress(1, report(0.3), ms(110))).len(), 1);
    assert_eq!(forwarded(state.on_progress(1, report(1.0), ms(120))).len(), 1, "completion always goes");
    assert!(forwarded(state.on_progress(2, report(0.5), ms(500))).is_empty(), "another executor's report");
    let clamped = forwarded(state.on_progress(1, report(f32::NAN), ms(900)));
    assert_eq!(clamped[0].fraction, 0.0);
    let unknown = pb::executor_message::Progress { task_id: "other".into(), ..report(0.5) };
    assert!(forwarded(state.on_progress(1, unknown, ms(1000))).is_empty());
}

#[test]
fn a_granted_payload_and_a_result_output_pass_through_without_a_copy() {
    let mut state = node();
    let (_, effects) = state.enqueue(reserve("a", 1), T0);
    let request = asks(&effects).remove(0);
    let payload = bytes::Bytes::from(vec![1u8; 4096]);
    let task = pb::TaskLaunch { payload: payload.clone(), ..launch("a", "t1", 1000) };
    let effects = state.on_grant(grant(&request, vec![task]), T0);
    let run = effects.iter().find_map(|e| match e {
        Effect::Run { task, .. } => Some(task.clone()),
        _ => None,
    });
    assert_eq!(
        run.expect("run").payload.as_ptr(),
        payload.as_ptr(),
        "the payload was copied on its way to the executor"
    );
    let output = bytes::Bytes::from(vec![2u8; 4096]);
    let result = pb::TaskResult {
        job_id: "a".into(),
        task_id: "t1".into(),
        attempt: 1,
        ok: true,
        output: output.clone(),
        ..Default::default()
    };
    let effects = state.on_results(1, vec![result], Duration::from_millis(1));
    let reported = effects.iter().find_map(|e| match e {
        Effect::Report { outcome, .. } => Some(outcome.output.clone()),
        _ => None,
    });
    assert_eq!(
        reported.expect("reported").as_ptr(),
        output.as_ptr(),
        "the output was copied on its way to the scheduler"
    );
}
