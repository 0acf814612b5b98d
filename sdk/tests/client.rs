//! The client against fake schedulers over real gRPC on loopback: result
//! delivery, overload retry, failover with `skip_task_ids`, and errors that
//! must not be retried.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use passer::{Client, ClientError, JobSpec, TaskSpec};
use tonic::Status;

use common::scheduler::{
    accepted, collect_once, complete, fast_config, finished, overloaded, results, start_schedulers, Reply, Script,
};
use common::{dead_address, within};

#[tokio::test]
async fn results_arrive_once_per_task_with_token() {
    let script: Script = Arc::new(|_, request| {
        // Two batches; the second repeats t1 and names a task the job does not have.
        Reply::Events(vec![accepted(request), results(["t0", "t1"]), results(["t1", "zz", "t2", "t3"]), finished()])
    });
    let (addresses, calls) = start_schedulers(1, script).await;
    let mut config = fast_config(&addresses);
    config.token = Some("s3cret".to_owned());
    let client = Client::new(config).unwrap();
    let mut results = within("submit", client.submit(JobSpec::uniform("job-a", "echo", 4, "x"))).await.unwrap();
    assert_eq!((results.job_id(), results.task_count(), results.scheduler()), ("job-a", 4, addresses[0].as_str()));
    let outputs = collect_once(&mut results).await;
    let ids: Vec<&str> = outputs.iter().map(|output| output.task_id.as_str()).collect();
    assert_eq!(ids, ["t0", "t1", "t2", "t3"]);
    assert!(outputs.iter().all(|output| output.succeeded() && output.run == Duration::from_micros(1500)));
    assert_eq!(outputs[2].output, "out-t2");
    assert!(results.next().await.is_none(), "no results after the last task");
    assert_eq!((results.failovers(), results.rejections()), (0, 0));
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].authorization.as_deref(), Some("Bearer s3cret"));
    assert_eq!(calls[0].request.tasks.len(), 4);
}

#[tokio::test]
async fn run_returns_outputs_in_task_order_and_into_stream_yields_all() {
    let script: Script =
        Arc::new(|_, request| Reply::Events(vec![accepted(request), results(["c"]), results(["b", "a"]), finished()]));
    let (addresses, _calls) = start_schedulers(1, script).await;
    let client = Client::new(fast_config(&addresses)).unwrap();
    let job = || {
        JobSpec::new("")
            .task(TaskSpec::new("a", "echo", "1"))
            .task(TaskSpec::new("b", "echo", "2"))
            .task(TaskSpec::new("c", "echo", "3"))
    };
    let outputs = within("run", client.run(job())).await.unwrap();
    let ids: Vec<&str> = outputs.iter().map(|output| output.task_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let results = client.submit(job()).await.unwrap();
    let streamed: Vec<_> = within("the stream", results.into_stream().collect::<Vec<_>>()).await;
    assert_eq!(streamed.len(), 3);
    assert!(streamed.iter().all(Result::is_ok));
}

#[tokio::test]
async fn resource_exhausted_twice_then_accepted() {
    let script: Script = Arc::new(|number, request| if number < 2 { overloaded("15") } else { complete(request) });
    let (addresses, calls) = start_schedulers(1, script).await;
    let client = Client::new(fast_config(&addresses)).unwrap();
    let mut results = within("submit", client.submit(JobSpec::uniform("busy", "echo", 3, ""))).await.unwrap();
    assert_eq!(collect_once(&mut results).await.len(), 3);
    assert_eq!(results.rejections(), 2);
    assert!(results.waited() >= Duration::from_millis(30), "waited {:?}", results.waited());
    assert_eq!(calls.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn overload_beyond_max_retry_time_is_rejected() {
    let script: Script = Arc::new(|_, _| overloaded("20"));
    let (addresses, calls) = start_schedulers(2, script).await;
    let mut config = fast_config(&addresses);
    config.max_retry_time = Duration::from_millis(150);
    let client = Client::new(config).unwrap();
    let error = within("submit", client.submit(JobSpec::uniform("full", "echo", 1, ""))).await.unwrap_err();
    match error {
        ClientError::Rejected { waited } => {
            assert!(waited > Duration::ZERO && waited <= Duration::from_millis(150))
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let servers: HashSet<usize> = calls.lock().unwrap().iter().map(|call| call.server).collect();
    assert_eq!(servers.len(), 2, "retries rotate over the schedulers");
}

#[tokio::test]
async fn broken_stream_fails_over_with_skip_task_ids() {
    let script: Script = Arc::new(|number, request| {
        if number == 0 {
            let half = request.tasks[..3].iter().map(|task| task.task_id.as_str());
            return Reply::Events(vec![
                accepted(request),
                results(half),
                Err(Status::unavailable("scheduler crashed")),
            ]);
        }
        // The second scheduler also repeats t0, which the client already has.
        let skip: HashSet<&str> = request.skip_task_ids.iter().map(String::as_str).collect();
        let remaining = request.tasks.iter().map(|task| task.task_id.as_str()).filter(|id| !skip.contains(id));
        Reply::Events(vec![accepted(request), results(["t0"]), results(remaining), finished()])
    });
    let (addresses, calls) = start_schedulers(2, script).await;
    let client = Client::new(fast_config(&addresses)).unwrap();
    let mut results = within("submit", client.submit(JobSpec::uniform("fo", "echo", 6, ""))).await.unwrap();
    let outputs = collect_once(&mut results).await;
    let ids: HashSet<&str> = outputs.iter().map(|output| output.task_id.as_str()).collect();
    assert_eq!(ids, HashSet::from(["t0", "t1", "t2", "t3", "t4", "t5"]));
    assert_eq!(results.failovers(), 1);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0].server, calls[1].server, "the resubmission goes to the other scheduler");
    assert_eq!(results.scheduler(), addresses[calls[1].server]);
    assert_eq!(calls[1].request.job_id, "fo");
    assert_eq!(calls[1].request.skip_task_ids, ["t0", "t1", "t2"]);
    assert_eq!(calls[1].request.tasks.len(), 6, "the full task list is resent");
}

#[tokio::test]
async fn stream_ending_without_job_finished_fails_over() {
    let script: Script =
        Arc::new(
            |number, request| {
                if number == 0 {
                    Reply::Events(vec![accepted(request), results(["t1"])])
                } else {
                    complete(request)
                }
            },
        );
    let (addresses, calls) = start_schedulers(1, script).await;
    let client = Client::new(fast_config(&addresses)).unwrap();
    let outputs = within("run", client.run(JobSpec::uniform("short", "echo", 3, ""))).await.unwrap();
    assert_eq!(outputs.len(), 3);
    assert_eq!(calls.lock().unwrap()[1].request.skip_task_ids, ["t1"]);
}

#[tokio::test]
async fn invalid_argument_and_failed_precondition_are_not_retried() {
    let script: Script = Arc::new(|number, _| match number {
        0 => Reply::Refuse(Status::invalid_argument("tasks[0].executor must not be empty")),
        _ => Reply::Refuse(Status::failed_precondition("no node offers executor gpu")),
    });
    let (addresses, calls) = start_schedulers(2, script).await;
    let client = Client::new(fast_config(&addresses)).unwrap();
    let error = within("submit", client.submit(JobSpec::uniform("bad", "", 1, ""))).await.unwrap_err();
    assert!(matches!(&error, ClientError::InvalidArgument(message) if message.contains("executor")), "{error:?}");
    assert_eq!(calls.lock().unwrap().len(), 1);
    let error = within("submit", client.submit(JobSpec::uniform("gpu", "gpu", 1, ""))).await.unwrap_err();
    assert!(matches!(error, ClientError::FailedPrecondition(_)), "{error:?}");
    assert_eq!(calls.lock().unwrap().len(), 2);
    let duplicate = JobSpec::new("dup").task(TaskSpec::new("a", "echo", "")).task(TaskSpec::new("a", "echo", ""));
    assert!(matches!(client.submit(duplicate).await, Err(ClientError::InvalidArgument(_))));
    assert_eq!(calls.lock().unwrap().len(), 2, "a duplicate task id is caught before any call");
}

#[tokio::test]
async fn unreachable_schedulers_are_skipped_then_reported() {
    let script: Script = Arc::new(|_, request| complete(request));
    let (addresses, calls) = start_schedulers(1, script).await;
    let dead = dead_address().await.to_string();
    let client = Client::new(fast_config(&[dead.clone(), addresses[0].clone()])).unwrap();
    for index in 0..4 {
        let outputs = within("run", client.run(JobSpec::uniform(format!("j{index}"), "echo", 2, ""))).await.unwrap();
        assert_eq!(outputs.len(), 2);
    }
    assert_eq!(calls.lock().unwrap().len(), 4);
    let mut config = fast_config(&[dead]);
    config.max_retry_time = Duration::from_millis(200);
    let error =
        within("submit", Client::new(config).unwrap().submit(JobSpec::uniform("", "echo", 1, ""))).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::Unavailable(message) if message.contains("no scheduler accepted")),
        "{error:?}"
    );
}

#[tokio::test]
async fn cancel_and_stats_reach_the_schedulers() {
    let script: Script = Arc::new(|_, request| complete(request));
    let (addresses, _calls) = start_schedulers(2, script).await;
    let client = Client::new(fast_config(&addresses)).unwrap();
    assert!(within("cancel", client.cancel("job-x")).await.unwrap(), "the second scheduler knows the job");
    assert_eq!(within("stats", client.stats(1)).await.unwrap().jobs_accepted, 41);
    assert!(matches!(client.stats(2).await, Err(ClientError::InvalidArgument(_))));
    let dead = Client::new(fast_config(&[dead_address().await.to_string()])).unwrap();
    assert!(matches!(within("cancel", dead.cancel("job-x")).await, Err(ClientError::Unavailable(_))));
}
