//! The core path on real processes: batch sampling, late binding through
//! external executor processes, proactive cancellation, and bad jobs.

use std::collections::{HashMap, HashSet};

use passer::{JobSpec, TaskSpec};
use passer_proto::pb;
use passer_tests::{bin_path, Cluster, Within};

fn executor_command() -> String {
    format!("{} executor --builtin echo --slots 4", bin_path("passer").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_tasks_through_external_executors_each_get_one_result() -> anyhow::Result<()> {
    let cluster = Cluster::builder()
        .node_monitors(3)
        .node_args(["--builtin".to_owned(), String::new(), "--executor".to_owned(), executor_command()])
        .scheduler_args(["--probe-ratio", "2"])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 3).await?;
    let executor_pids: HashSet<String> =
        cluster.node_monitors.iter().flat_map(|node| node.children()).map(|pid| format!("pid:{pid}")).collect();
    assert_eq!(executor_pids.len(), 3, "each node monitor supervises one executor process");

    let job = JobSpec::uniform("core-500", "echo", 500, "payload");
    let results = cluster.client().run(job).within("the job's results").await??;

    assert_eq!(results.len(), 500);
    let mut seen = HashSet::new();
    for result in &results {
        assert!(seen.insert(result.task_id.clone()), "task {} got two results", result.task_id);
        assert!(result.succeeded(), "{} failed: {}", result.task_id, result.error);
        assert_eq!(result.output, "payload");
        assert!(
            executor_pids.contains(&result.executor_id),
            "{} ran on unknown executor {}",
            result.task_id,
            result.executor_id
        );
    }
    let per_node: HashMap<&str, usize> = results.iter().fold(HashMap::new(), |mut counts, r| {
        *counts.entry(r.node_id.as_str()).or_default() += 1;
        counts
    });
    assert_eq!(per_node.len(), 3, "tasks spread over all nodes: {per_node:?}");

    // Every reservation is redeemed with a task, redeemed empty, or cancelled.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let stats = loop {
        let stats = cluster.stats(0).await?;
        let settled =
            stats.get_task_hits + stats.get_task_misses + stats.reservations_cancelled == stats.reservations_sent;
        if settled || tokio::time::Instant::now() >= deadline {
            break stats;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    println!(
        "reservations sent {} hits {} misses {} cancelled {}; tasks offered {} taken {}",
        stats.reservations_sent,
        stats.get_task_hits,
        stats.get_task_misses,
        stats.reservations_cancelled,
        stats.tasks_offered,
        stats.offers_taken
    );
    // A task an idle node took when offered needs no reservation; every other
    // task (a declined offer included) gets d = 2.
    assert_eq!(stats.reservations_sent, 2 * (500 - stats.offers_taken), "ceil(d*m) reservations for the rest");
    assert!(stats.offers_taken > 0 && stats.offers_taken <= stats.tasks_offered, "idle nodes took offered tasks");
    assert_eq!(stats.get_task_hits + stats.offers_taken, 500, "each task launched once, by GetTask or offer");
    assert_eq!(stats.tasks_launched, 500);
    assert!(stats.reservations_cancelled > 0, "leftovers were cancelled proactively");
    assert_eq!(stats.get_task_hits + stats.get_task_misses + stats.reservations_cancelled, stats.reservations_sent);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_jobs_get_clear_errors_and_the_scheduler_keeps_serving() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let mut raw = cluster.scheduler_client(0).await?;
    let task =
        |id: &str, executor: &str| pb::TaskSpec { task_id: id.into(), executor: executor.into(), ..Default::default() };
    let cases = [
        (pb::SubmitJobRequest { job_id: "empty".into(), ..Default::default() }, tonic::Code::InvalidArgument, "tasks"),
        (
            pb::SubmitJobRequest {
                job_id: "dup".into(),
                tasks: vec![task("a", "echo"), task("a", "echo")],
                ..Default::default()
            },
            tonic::Code::InvalidArgument,
            "duplicate task id",
        ),
        (
            pb::SubmitJobRequest { job_id: "unknown".into(), tasks: vec![task("a", "teleport")], ..Default::default() },
            tonic::Code::FailedPrecondition,
            "no node monitor offers executor 'teleport'",
        ),
        (
            pb::SubmitJobRequest { job_id: String::new(), tasks: vec![task("a", "echo")], ..Default::default() },
            tonic::Code::InvalidArgument,
            "job_id",
        ),
    ];
    for (request, code, message) in cases {
        let error = raw.submit_job(request).await.expect_err("bad job must be refused");
        assert_eq!(error.code(), code, "{error:?}");
        assert!(error.message().contains(message), "{:?} should mention {message:?}", error.message());
    }
    let results = cluster
        .client()
        .run(JobSpec::new("after-bad").task(TaskSpec::new("ok", "echo", "still here")))
        .within("the results of job after-bad")
        .await??;
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].output, "still here");
    Ok(())
}
