//! Overload with the adaptive admission limit: far more single-task jobs
//! than slots, submitted at once through the Rust SDK. The scheduler must
//! refuse some (the queueing delay before a job's first launch shows the
//! congestion), the SDK must retry them, and every job must still end with
//! exactly one successful result per task.

use std::collections::HashSet;
use std::sync::Arc;

use passer::{JobSpec, TaskOutput};
use passer_tests::{Cluster, Within};
use tokio::sync::Semaphore;

/// Jobs submitted in all.
const JOBS: usize = 400;
/// Jobs submitted and unfinished at once.
const CONCURRENT: usize = 200;
/// Each job's one task sleeps this long.
const SLEEP_MILLIS: &str = "20";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_refused_retried_and_every_job_completes() -> anyhow::Result<()> {
    let cluster = Cluster::builder()
        .node_monitors(1)
        .node_args(["--slots", "2"])
        .scheduler_args(["--admission", "adaptive", "--admission-min-limit", "4"])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 1).await?;
    let client = cluster.client();
    let permits = Arc::new(Semaphore::new(CONCURRENT));
    let jobs = (0..JOBS).map(|i| {
        let client = client.clone();
        let permits = Arc::clone(&permits);
        tokio::spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let spec = JobSpec::uniform(format!("overload-{i}"), "sleep", 1, SLEEP_MILLIS);
            let mut results = client.submit(spec).await?;
            let mut outputs = Vec::new();
            while let Some(result) = results.next().within("the next result").await? {
                outputs.push(result?);
            }
            anyhow::Ok((i, outputs, results.rejections()))
        })
    });
    let finished = futures::future::join_all(jobs).within("every job of the flood").await?;
    let mut sdk_rejections = 0;
    let mut task_ids = HashSet::new();
    for job in finished {
        let (job_index, outputs, rejections) = job??;
        assert_eq!(outputs.len(), 1, "one result for the job's one task");
        assert!(outputs.iter().all(TaskOutput::succeeded), "no task failed: {outputs:?}");
        assert!(task_ids.insert((job_index, outputs[0].task_id.clone())), "no task got two results");
        sdk_rejections += rejections;
    }
    assert_eq!(task_ids.len(), JOBS);
    let stats = cluster.stats(0).within("the scheduler's stats").await??;
    println!(
        "{JOBS} jobs, {CONCURRENT} at once, on 2 slots: {} refusals counted by the scheduler, {sdk_rejections} retried by the SDK, admission limit now {}",
        stats.jobs_rejected, stats.admission_limit
    );
    assert!(stats.jobs_rejected > 0, "the adaptive limit refused some jobs");
    assert!(sdk_rejections > 0, "the SDK saw the refusals and retried them");
    assert_eq!(stats.jobs_accepted, JOBS as u64, "each job was admitted once in the end");
    assert_eq!(stats.tasks_failed, 0);
    assert_eq!(stats.tasks_in_flight, 0, "nothing left in flight");
    Ok(())
}
