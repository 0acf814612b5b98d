//! The executor conformance suite: the same scenarios (success, failure with
//! a message, deadline and its retries, cancel, many concurrent slots, crash and recovery)
//! run against any executor implementation, supervised by a real node
//! monitor (`--executor "CMD"`) behind a real scheduler, with jobs submitted
//! through the Rust SDK.
//!
//! An implementation serves one executor type and understands these UTF-8
//! payloads (`passer-conformance-executor` in Rust,
//! `examples/python/conformance_executor.py` in Python):
//!
//! | payload | behaviour |
//! |---|---|
//! | `echo:<text>` | outputs `<text>` |
//! | `fail:<message>` | fails the task with `<message>` |
//! | `crash` | the process exits at once with status [`CRASH_STATUS`] |
//! | `sleep:<ms>` | sleeps (cancellable), outputs `slept` |
//! | `barrier:<key>:<n>` | outputs `<n>` once `n` tasks with `key` are running in the process; fails after [`BARRIER_LIMIT`] |
//! | `whoami` | outputs `<language> pid=<pid>` |
//! | `log:<text>` | logs `<text>` (a `tracing` event in Rust, `logging` in Python) into the task's logs, outputs `logged` |

use crate::wait::Within;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use passer::{Client, JobSpec, TaskOutput, TaskSpec};
use passer_proto::pb;
use passer_proto::pb::TaskStatus;

use crate::{bin_path, Cluster};

/// The exit status of an executor asked to `crash`.
pub const CRASH_STATUS: i32 = 3;
/// How long a `barrier` task waits for its peers.
pub const BARRIER_LIMIT: Duration = Duration::from_secs(3);
/// The executor type the suite runs.
pub const EXECUTOR_TYPE: &str = "conformance";
/// Slots the executor under test announces.
pub const SLOTS: u32 = 4;
/// How soon a stopped task's slot must be free again: well inside the node
/// monitor's 5 s cancel grace, so only the executor's own report frees it.
const SLOT_RELEASE_LIMIT: Duration = Duration::from_secs(3);
/// Limit on any one wait of the suite.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The Python with the passer SDK installed: `$PASSER_PYTHON`, else the
/// repository's `.venv` made by `.ci/python-env.sh`.
pub fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("PASSER_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(venv.exists(), "no Python with the passer SDK: run `bash .ci/python-env.sh` or set PASSER_PYTHON");
    venv
}

/// The command line of the Rust SDK's conformance executor.
pub fn rust_executor_command(executor_type: &str, slots: u32) -> String {
    let binary = bin_path("passer-conformance-executor");
    format!("{} --executor-type {executor_type} --slots {slots}", binary.display())
}

/// The command line of the Python SDK's conformance executor.
pub fn python_executor_command(executor_type: &str, slots: u32) -> String {
    let script = repo_root().join("examples/python/conformance_executor.py");
    format!("{} {} --executor-type {executor_type} --slots {slots}", python().display(), script.display())
}

/// Starts one scheduler and one node monitor supervising `command`, and
/// waits until the scheduler sees its executor.
pub async fn start_cluster(command: &str) -> anyhow::Result<Cluster> {
    let cluster = Cluster::builder()
        .node_monitors(1)
        .node_args(["--builtin", "", "--executor", command])
        .scheduler_args(["--node-poll-ms", "100"])
        .start()
        .await?;
    wait_executor_offered(&cluster, EXECUTOR_TYPE, 1).await?;
    Ok(cluster)
}

/// Runs every scenario against the executor that `command` starts.
pub async fn run_suite(command: &str) -> anyhow::Result<()> {
    let cluster = start_cluster(command).await?;
    let client = cluster.client();
    let with_log =
        |error: anyhow::Error| error.context(format!("node monitor log:\n{}", cluster.node_monitors[0].log_tail()));
    success(&client).await.context("scenario: success").map_err(with_log)?;
    failure_with_message(&client).await.context("scenario: failure with a message").map_err(with_log)?;
    concurrent_slots(&client).await.context("scenario: many concurrent slots").map_err(with_log)?;
    deadline(&cluster, &client).await.context("scenario: deadline").map_err(with_log)?;
    deadline_retried(&client).await.context("scenario: deadline retried").map_err(with_log)?;
    cancel(&cluster, &client).await.context("scenario: cancel").map_err(with_log)?;
    crash_and_recover(&cluster, &client).await.context("scenario: crash").map_err(with_log)?;
    Ok(())
}

/// 100 tasks, more than the slots: each succeeds once with its own output.
async fn success(client: &Client) -> anyhow::Result<()> {
    let mut job = JobSpec::new("conformance-success");
    for index in 0..100 {
        job = job.task(TaskSpec::new(format!("t{index}"), EXECUTOR_TYPE, format!("echo:out {index}").into_bytes()));
    }
    let results = client.run(job).within("the conformance job's results").await??;
    ensure!(results.len() == 100, "{} results for 100 tasks", results.len());
    for result in &results {
        let expected = format!("out {}", &result.task_id[1..]);
        ensure!(result.succeeded(), "{} ended {:?}: {}", result.task_id, result.status, result.error);
        ensure!(result.output == expected.as_bytes(), "{} output {:?}", result.task_id, lossy(&result.output));
        ensure!(result.attempt == 1 && !result.executor_id.is_empty(), "{result:?}");
    }
    Ok(())
}

/// A failing task ends FAILED with the executor's message, not retried.
async fn failure_with_message(client: &Client) -> anyhow::Result<()> {
    let job = JobSpec::new("conformance-failure")
        .task(TaskSpec::new("bad", EXECUTOR_TYPE, "fail:disk 7 is on fire").max_attempts(1))
        .task(TaskSpec::new("good", EXECUTOR_TYPE, "echo:fine"));
    let results = client.run(job).within("the conformance job's results").await??;
    let bad = find(&results, "bad")?;
    ensure!(bad.status == TaskStatus::Failed, "bad ended {:?}", bad.status);
    ensure!(bad.error.contains("disk 7 is on fire"), "error {:?}", bad.error);
    ensure!(bad.attempt == 1, "a task failure is not retried: attempt {}", bad.attempt);
    ensure!(find(&results, "good")?.succeeded(), "the good task succeeds beside it");
    Ok(())
}

/// SLOTS tasks that each wait for all SLOTS to be running at once.
async fn concurrent_slots(client: &Client) -> anyhow::Result<()> {
    let payload = format!("barrier:concurrency:{SLOTS}");
    let results = client
        .run(JobSpec::uniform("conformance-slots", EXECUTOR_TYPE, SLOTS as usize, payload))
        .within("the conformance-slots results")
        .await??;
    all_succeeded(&results, SLOTS as usize)
}

/// Tasks outliving their deadline end FAILED `deadline exceeded`, and the
/// executor frees their slots promptly.
async fn deadline(cluster: &Cluster, client: &Client) -> anyhow::Result<()> {
    let mut job = JobSpec::new("conformance-deadline");
    for index in 0..SLOTS {
        let task = TaskSpec::new(format!("t{index}"), EXECUTOR_TYPE, "sleep:60000");
        job = job.task(task.timeout(Duration::from_secs(1)).max_attempts(1));
    }
    let results = tokio::time::timeout(WAIT_LIMIT, client.run(job)).await.context("results of overdue tasks")??;
    ensure!(results.len() == SLOTS as usize, "{} results", results.len());
    for result in &results {
        ensure!(result.status == TaskStatus::Failed, "{} ended {:?}", result.task_id, result.status);
        ensure!(result.error.contains("deadline exceeded"), "{} error {:?}", result.task_id, result.error);
    }
    wait_slots_idle(cluster, SLOT_RELEASE_LIMIT).await?;
    concurrent_after(client, "after-deadline").await
}

/// A deadline failure is retryable: a task that always outlives its
/// deadline runs `max_attempts` times, each attempt failing `deadline
/// exceeded` (issue 16: the executor's own timer made it final at attempt 1).
async fn deadline_retried(client: &Client) -> anyhow::Result<()> {
    let mut job = JobSpec::new("conformance-deadline-retried");
    for index in 0..2 {
        let task = TaskSpec::new(format!("t{index}"), EXECUTOR_TYPE, "sleep:300");
        job = job.task(task.timeout(Duration::from_millis(50)).max_attempts(3));
    }
    let results = tokio::time::timeout(WAIT_LIMIT, client.run(job)).await.context("results of overdue tasks")??;
    ensure!(results.len() == 2, "{} results", results.len());
    for result in &results {
        ensure!(result.status == TaskStatus::Failed, "{} ended {:?}", result.task_id, result.status);
        ensure!(result.attempt == 3, "{} ended at attempt {}: {}", result.task_id, result.attempt, result.error);
        let deadline_failures = result.error.matches("deadline exceeded").count();
        ensure!(deadline_failures == 3, "{} error {:?}", result.task_id, result.error);
    }
    Ok(())
}

/// Cancelling a job stops its running tasks: every task ends CANCELLED and
/// the slots are free again promptly.
async fn cancel(cluster: &Cluster, client: &Client) -> anyhow::Result<()> {
    let job_id = "conformance-cancel";
    let job = JobSpec::uniform(job_id, EXECUTOR_TYPE, SLOTS as usize, "sleep:60000");
    let mut results = client.submit(job).await?;
    wait_slots_busy(cluster, SLOTS).await?;
    ensure!(client.cancel(job_id).await?, "the scheduler knows the job");
    let mut collected = Vec::new();
    while let Some(result) = tokio::time::timeout(WAIT_LIMIT, results.next()).await.context("cancelled results")? {
        collected.push(result?);
    }
    ensure!(collected.len() == SLOTS as usize, "{} results", collected.len());
    ensure!(collected.iter().all(|r| r.status == TaskStatus::Cancelled), "all CANCELLED: {collected:?}");
    wait_slots_idle(cluster, SLOT_RELEASE_LIMIT).await?;
    concurrent_after(client, "after-cancel").await
}

/// A crashing executor fails its task naming the exit, is restarted by its
/// node monitor, and runs the next job.
async fn crash_and_recover(cluster: &Cluster, client: &Client) -> anyhow::Result<()> {
    let job = JobSpec::new("conformance-crash").task(TaskSpec::new("boom", EXECUTOR_TYPE, "crash").max_attempts(1));
    let results = tokio::time::timeout(WAIT_LIMIT, client.run(job)).await.context("result of the crash")??;
    let boom = find(&results, "boom")?;
    ensure!(boom.status == TaskStatus::Failed, "boom ended {:?}", boom.status);
    let expected = format!("executor exited with status {CRASH_STATUS}");
    ensure!(boom.error.contains(&expected), "error {:?} names the exit", boom.error);
    wait_executor_offered(cluster, EXECUTOR_TYPE, 1).await?;
    let after = tokio::time::timeout(
        WAIT_LIMIT,
        client.run(JobSpec::uniform("conformance-recovered", EXECUTOR_TYPE, 8, "echo:back")),
    )
    .await
    .context("results after the restart")??;
    all_succeeded(&after, 8)
}

async fn concurrent_after(client: &Client, key: &str) -> anyhow::Result<()> {
    let payload = format!("barrier:{key}:{SLOTS}");
    let job = JobSpec::uniform(format!("conformance-{key}"), EXECUTOR_TYPE, SLOTS as usize, payload);
    let results = tokio::time::timeout(WAIT_LIMIT, client.run(job)).await.context("barrier results")??;
    all_succeeded(&results, SLOTS as usize).context("every slot is free again")
}

fn all_succeeded(results: &[TaskOutput], expected: usize) -> anyhow::Result<()> {
    ensure!(results.len() == expected, "{} results for {expected} tasks", results.len());
    if let Some(failed) = results.iter().find(|r| !r.succeeded()) {
        bail!("{} ended {:?}: {}", failed.task_id, failed.status, failed.error);
    }
    Ok(())
}

fn find<'a>(results: &'a [TaskOutput], task_id: &str) -> anyhow::Result<&'a TaskOutput> {
    results.iter().find(|r| r.task_id == task_id).with_context(|| format!("no result for {task_id}"))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits until scheduler 0 knows `nodes` node monitors offering `executor`.
pub async fn wait_executor_offered(cluster: &Cluster, executor: &str, nodes: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        let stats = cluster.stats(0).await?;
        let offering = stats.nodes.iter().filter(|n| n.executors.iter().any(|e| e == executor)).count();
        if offering >= nodes {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{offering} of {nodes} node monitors offer {executor}: {:?}", stats.nodes);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The conformance executor's load on node monitor 0.
async fn executor_load(cluster: &Cluster) -> anyhow::Result<Option<pb::ExecutorLoad>> {
    let uri = format!("http://{}", cluster.node_addrs[0]);
    let mut client =
        pb::node_monitor_client::NodeMonitorClient::connect(uri).await.context("connect to node monitor")?;
    let load = client.get_load(pb::GetLoadRequest {}).await?.into_inner();
    Ok(load.executors.into_iter().find(|e| e.executor == EXECUTOR_TYPE))
}

async fn wait_slots_busy(cluster: &Cluster, busy: u32) -> anyhow::Result<()> {
    wait_load(cluster, WAIT_LIMIT, |load| load.slots_busy >= busy).await.with_context(|| format!("{busy} slots busy"))
}

async fn wait_slots_idle(cluster: &Cluster, limit: Duration) -> anyhow::Result<()> {
    wait_load(cluster, limit, |load| load.slots_busy == 0).await.context("slots freed by the executor's reports")
}

async fn wait_load(cluster: &Cluster, limit: Duration, done: impl Fn(&pb::ExecutorLoad) -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let load = executor_load(cluster).await?;
        if load.as_ref().is_some_and(&done) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("not within {limit:?}: load {load:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
