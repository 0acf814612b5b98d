//! Issue 16 (part B), on real processes: a frozen or mute scheduler holds no
//! slots that others could use, deadline failures are retried in the
//! built-in and command executors (the SDK executors in the conformance
//! suite), a task handed to a node whose executor just died spends no
//! attempt, and an executor that stops answering has its tasks re-placed.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::Signal;
use passer::{Client, ClientConfig, JobSpec, TaskOutput, TaskSpec};
use passer_proto::pb;
use passer_proto::pb::TaskStatus;
use passer_tests::process::children_of;
use passer_tests::{bin_path, Cluster, Within};

/// The healthy scheduler's job: 200 tasks of 10 ms.
const SMALL_TASKS: usize = 200;
/// What that job may take with one scheduler silent (ideal: ~0.3 s on 8
/// slots, plus one GetTask deadline of 1 s; ~14 s before issue 16).
const SMALL_JOB_LIMIT: Duration = Duration::from_secs(3);

fn client_of(cluster: &Cluster, index: usize) -> Client {
    Client::new(ClientConfig::new(vec![cluster.scheduler_addrs[index].clone()])).expect("client config")
}

async fn node_client(
    address: &str,
) -> anyhow::Result<pb::node_monitor_client::NodeMonitorClient<tonic::transport::Channel>> {
    Ok(pb::node_monitor_client::NodeMonitorClient::connect(format!("http://{address}")).await?)
}

async fn load(address: &str) -> anyhow::Result<pb::NodeLoad> {
    Ok(node_client(address).await?.get_load(pb::GetLoadRequest {}).await?.into_inner())
}

/// Waits (at most 20 s) until node monitor `address`'s load satisfies `done`.
async fn wait_load(address: &str, what: &str, done: impl Fn(&pb::NodeLoad) -> bool) -> anyhow::Result<pb::NodeLoad> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let current = load(address).await?;
        if done(&current) {
            return Ok(current);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("node monitor {address}: never {what}; last load {current:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn busy(load: &pb::NodeLoad) -> u32 {
    load.executors.iter().map(|e| e.slots_busy).sum()
}

/// Runs the 200 × 10 ms job on scheduler `index`; returns how long it took.
async fn small_job(cluster: &Cluster, index: usize, job_id: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let job = JobSpec::uniform(job_id, "sleep", SMALL_TASKS, "10");
    let results = tokio::time::timeout(Duration::from_secs(60), client_of(cluster, index).run(job))
        .await
        .context("the small job never finished")??;
    let took = started.elapsed();
    assert_eq!(results.len(), SMALL_TASKS);
    assert!(results.iter().all(TaskOutput::succeeded), "{:?}", results.iter().find(|r| !r.succeeded()));
    Ok(took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_scheduler_does_not_stall_jobs_on_the_other_issue_16() -> anyhow::Result<()> {
    let cluster = Cluster::builder().schedulers(2).node_monitors(2).node_args(["--slots", "4"]).start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    cluster.wait_nodes_up(1, 2).await?;
    // Scheduler 0 fills every slot and queues reservations behind them.
    let mut frozen_job = client_of(&cluster, 0).submit(JobSpec::uniform("frozen", "sleep", 400, "200")).await?;
    for address in &cluster.node_addrs {
        wait_load(address, "had every slot busy and reservations queued", |l| busy(l) == 4 && l.queue_length > 0)
            .await?;
    }
    cluster.schedulers[0].signal(Signal::SIGSTOP);
    let took = small_job(&cluster, 1, "beside-frozen").await;
    cluster.schedulers[0].signal(Signal::SIGCONT);
    let took = took?;
    println!("200 x 10 ms beside a frozen scheduler: {took:?}");
    assert!(took < SMALL_JOB_LIMIT, "the healthy scheduler's job took {took:?}");
    let log = std::fs::read_to_string(&cluster.node_monitors[0].log)?;
    assert!(log.contains("scheduler did not answer GetTask in time"), "the node monitor logs the suspect link");
    // The frozen scheduler's own job still completes once it wakes.
    let mut count = 0;
    while let Some(result) = tokio::time::timeout(Duration::from_secs(60), frozen_job.next()).await? {
        assert!(result?.succeeded());
        count += 1;
    }
    assert_eq!(count, 400, "the woken scheduler's job finishes too");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_address_that_never_answers_holds_no_slots_issue_16() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).node_args(["--slots", "4"]).start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    // Accepts TCP and never says a word.
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mute_address = mute.local_addr()?.to_string();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = mute.accept().await {
            held.push(socket);
        }
    });
    for address in &cluster.node_addrs {
        let request = pb::EnqueueReservationsRequest {
            job_id: "ghost".into(),
            scheduler_address: mute_address.clone(),
            executor: "sleep".into(),
            count: 1000,
            ..Default::default()
        };
        let response = node_client(address).await?.enqueue_reservations(request).await?.into_inner();
        assert_eq!(response.accepted, 1000, "{response:?}");
    }
    let took = small_job(&cluster, 0, "beside-mute").await?;
    println!("200 x 10 ms beside a mute scheduler address: {took:?}");
    assert!(took < SMALL_JOB_LIMIT, "the job took {took:?}");
    holder.abort();
    Ok(())
}

/// Runs `passer submit` with `args` against `cluster` and parses its JSON lines.
fn submit_json(cluster: &Cluster, args: &[&str]) -> anyhow::Result<Vec<serde_json::Value>> {
    let output = std::process::Command::new(bin_path("passer"))
        .args(["submit", "--scheduler", &cluster.scheduler_addrs[0], "--json"])
        .args(args)
        .output()
        .context("run passer submit")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|v: &serde_json::Value| v.get("task_id").is_some())
        .collect();
    anyhow::ensure!(
        !lines.is_empty(),
        "no results from passer submit: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(lines)
}

fn assert_retried_to_the_end(results: &[serde_json::Value], expected: usize) {
    assert_eq!(results.len(), expected, "{results:?}");
    for result in results {
        assert_eq!(result["status"], "failed", "{result}");
        assert_eq!(result["attempt"], 3, "every attempt was used: {result}");
        let error = result["error"].as_str().unwrap_or_default();
        assert_eq!(error.matches("deadline exceeded").count(), 3, "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_failures_are_retried_by_builtin_and_command_executors_issue_16() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).node_args(["--slots", "2", "--allow-command"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let builtin = submit_json(
        &cluster,
        &["--executor", "sleep", "--payload", "300", "--timeout-ms", "50", "--max-attempts", "3", "--count", "2"],
    )?;
    assert_retried_to_the_end(&builtin, 2);
    let command = submit_json(
        &cluster,
        &[
            "--executor",
            "command",
            "--payload",
            r#"{"argv": ["sleep", "1"]}"#,
            "--timeout-ms",
            "50",
            "--max-attempts",
            "3",
            "--count",
            "2",
        ],
    )?;
    assert_retried_to_the_end(&command, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_handed_to_a_node_whose_executor_just_died_spends_no_attempt_issue_16() -> anyhow::Result<()> {
    let executor = format!("{} executor --builtin sleep --slots 1", bin_path("passer").display());
    let cluster = Cluster::builder()
        .node_monitors(1)
        .node_args(["--builtin", "", "--executor", &executor, "--get-task-timeout-ms", "20000"])
        .scheduler_args(["--offer-to-idle", "false", "--probe-ratio", "1"])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 1).await?;
    let node = &cluster.node_addrs[0];
    let client = cluster.client();
    // The only slot is busy; the next job's reservation waits behind it.
    let mut first = client.submit(JobSpec::new("occupy").task(TaskSpec::new("long", "sleep", "1000"))).await?;
    wait_load(node, "ran the first task", |l| busy(l) == 1).await?;
    let task = TaskSpec::new("only", "sleep", "10").max_attempts(1);
    let mut second = client.submit(JobSpec::new("unspent").task(task)).await?;
    wait_load(node, "queued the second job's reservation", |l| l.queue_length == 1).await?;
    // Freeze the scheduler so the GetTask that frees the slot stays unanswered,
    cluster.schedulers[0].signal(Signal::SIGSTOP);
    let asked = wait_load(node, "asked for the second task", |l| busy(l) == 0 && l.queue_length == 0).await;
    // then kill the executor while the question is in flight.
    let victims = children_of(cluster.node_monitors[0].pid());
    for pid in &victims {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), Signal::SIGKILL)?;
    }
    let gone = wait_load(node, "lost its executor", |l| l.executors.iter().all(|e| e.processes == 0)).await;
    cluster.schedulers[0].signal(Signal::SIGCONT);
    asked?;
    gone?;
    assert_eq!(victims.len(), 1, "one supervised executor");
    let result = tokio::time::timeout(Duration::from_secs(30), second.next()).await?.context("a result")??;
    assert!(result.succeeded(), "the task ran on the restarted executor: {}", result.error);
    assert_eq!(result.attempt, 1, "handing it back spent no attempt");
    while tokio::time::timeout(Duration::from_secs(30), first.next()).await?.is_some() {}
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_that_stops_answering_has_its_tasks_replaced_issue_16() -> anyhow::Result<()> {
    let executor = format!("{} executor --builtin sleep --slots 1 --heartbeat-ms 200", bin_path("passer").display());
    let cluster = Cluster::builder()
        .node_monitors(1)
        .node_args(["--builtin", "sleep", "--slots", "1", "--executor", &executor, "--executor-silence-ms", "1500"])
        .start()
        .await?;
    let node = &cluster.node_addrs[0];
    wait_load(node, "had the supervised executor attached", |l| l.executors.iter().any(|e| e.processes == 2)).await?;
    let victims = children_of(cluster.node_monitors[0].pid());
    assert_eq!(victims.len(), 1, "one supervised executor");
    let started = Instant::now();
    let tasks = (0..2).map(|i| TaskSpec::new(format!("t{i}"), "sleep", "2000").timeout(Duration::from_secs(60)));
    let job = tasks.fold(JobSpec::new("silent"), JobSpec::task);
    let mut results = cluster.client().submit(job).await?;
    wait_load(node, "ran both tasks", |l| busy(l) == 2).await?;
    let victim = nix::unistd::Pid::from_raw(victims[0] as i32);
    nix::sys::signal::kill(victim, Signal::SIGSTOP)?;
    let mut collected = Vec::new();
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(result) = results.next().within("the next result").await? {
            collected.push(result?);
        }
        anyhow::Ok(())
    })
    .await;
    let _ = nix::sys::signal::kill(victim, Signal::SIGCONT);
    let _ = nix::sys::signal::kill(victim, Signal::SIGKILL);
    outcome.context("the stopped executor's task was never re-placed")??;
    let took = started.elapsed();
    assert_eq!(collected.len(), 2);
    assert!(collected.iter().all(TaskOutput::succeeded), "{collected:?}");
    assert!(collected.iter().any(|r| r.attempt == 2), "one task was re-placed: {collected:?}");
    println!("both tasks done in {took:?} with one executor stopped");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let log = std::fs::read_to_string(&cluster.node_monitors[0].log)?;
    assert!(log.contains("executor withdrawn"), "the node monitor logs the withdrawal");
    let status = TaskStatus::Succeeded;
    assert!(collected.iter().all(|r| r.status == status));
    Ok(())
}

/// One MiB, the default `--max-payload-bytes`.
const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mib_payloads_pass_every_path_issue_16() -> anyhow::Result<()> {
    use passer_tests::conformance::python_executor_command;
    let rust_executor = format!("{} executor --builtin echo --slots 4", bin_path("passer").display());
    let python_executor = python_executor_command("py", 4);
    // Node 0: built-in echo (offers to an idle node, GetTask grants).
    // Node 1: a Rust SDK executor that queues (prefetched RunTasks batches).
    // Node 2: a Python SDK executor.
    let cluster = Cluster::builder()
        .node_monitors(3)
        .node_args_for(0, ["--builtin", "echo", "--slots", "4"])
        .node_args_for(1, ["--builtin", "", "--executor", &rust_executor, "--prefetch-per-slot", "2"])
        .node_args_for(2, ["--builtin", "", "--executor", &python_executor])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 3).await?;
    let client = cluster.client();
    let echo_payload = vec![b'x'; MIB];
    let echo_job = JobSpec::uniform("big-echo", "echo", 48, echo_payload);
    let python_payload = [b"echo:".as_slice(), &vec![b'y'; MIB - 5]].concat();
    let python_job = JobSpec::uniform("big-python", "py", 16, python_payload);
    let (echo, python) = tokio::join!(client.run(echo_job), client.run(python_job));
    for (results, expected, length) in [(echo?, 48, MIB), (python?, 16, MIB - 5)] {
        assert_eq!(results.len(), expected);
        for result in &results {
            assert!(result.succeeded(), "{} failed: {}", result.task_id, result.error);
            assert_eq!(result.attempt, 1, "{} needed attempt {}", result.task_id, result.attempt);
            assert_eq!(result.output.len(), length);
        }
    }
    Ok(())
}
