//! The built-in `command` executor on real processes: exit codes and output
//! come back through the scheduler, a runaway command's whole process group
//! dies at its deadline or on cancel, and without `--allow-command` a job
//! using it is refused with a clear reason.

use passer_tests::Within;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use passer::{ClientError, JobSpec, TaskSpec};
use passer_proto::pb::TaskStatus;
use passer_tests::conformance::wait_executor_offered;
use passer_tests::Cluster;
use serde_json::{json, Value};

async fn command_cluster() -> anyhow::Result<Cluster> {
    let cluster = Cluster::builder()
        .node_monitors(1)
        .node_args(["--builtin", "", "--allow-command", "--slots", "2", "--command-max-output-bytes", "1000"])
        .start()
        .await?;
    wait_executor_offered(&cluster, "command", 1).await?;
    Ok(cluster)
}

fn command_task(task_id: &str, spec: Value) -> TaskSpec {
    TaskSpec::new(task_id, "command", spec.to_string().into_bytes()).max_attempts(1)
}

fn output_json(bytes: &[u8]) -> anyhow::Result<Value> {
    serde_json::from_slice(bytes).with_context(|| format!("output is JSON: {:?}", String::from_utf8_lossy(bytes)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_reports_its_exit_code_and_output() -> anyhow::Result<()> {
    let cluster = command_cluster().await?;
    let job = JobSpec::new("commands")
        .task(command_task("exit3", json!({"argv": ["sh", "-c", "echo hi; echo warn >&2; exit 3"]})))
        .task(command_task("ok", json!({"argv": ["echo", "hello", "world"]})))
        .task(command_task(
            "shell",
            json!({"argv": ["cat; echo \" $GREETING\""], "shell": true, "env": {"GREETING": "there"}, "stdin": "hi"}),
        ))
        .task(command_task("noisy", json!({"argv": ["sh", "-c", "yes | head -c 5000"]})))
        .task(command_task("bad", json!({"args": ["ls"]})));
    let results = cluster.client().run(job).within("the job's results").await??;
    let by_id = |id: &str| results.iter().find(|r| r.task_id == id).expect("a result per task");

    let exit3 = by_id("exit3");
    assert_eq!(exit3.status, TaskStatus::Failed);
    assert_eq!(exit3.error, "command exited with status 3");
    let output = output_json(&exit3.output)?;
    assert_eq!(output["exit_code"], 3);
    assert_eq!(output["stdout"], "hi\n");
    assert_eq!(output["stderr"], "warn\n");

    let ok = by_id("ok");
    assert!(ok.succeeded(), "{ok:?}");
    assert_eq!(output_json(&ok.output)?["stdout"], "hello world\n");
    assert_eq!(output_json(&by_id("shell").output)?["stdout"], "hi there\n");

    let noisy = output_json(&by_id("noisy").output)?;
    assert_eq!(noisy["stdout"].as_str().map(str::len), Some(1000), "capped at --command-max-output-bytes");
    assert_eq!(noisy["truncated"], true);

    let bad = by_id("bad");
    assert_eq!(bad.status, TaskStatus::Failed);
    assert!(bad.error.contains("command payload is not valid") && bad.error.contains("args"), "{}", bad.error);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_command_is_killed_at_its_deadline() -> anyhow::Result<()> {
    let cluster = command_cluster().await?;
    let pid_file = temp_path("deadline");
    let job =
        JobSpec::new("runaway").task(command_task("sleep60", runaway_spec(&pid_file)).timeout(Duration::from_secs(1)));
    let mut results = cluster.client().submit(job).await?;
    let (group, sleeper) = read_pids(&pid_file).await?;
    let result = tokio::time::timeout(Duration::from_secs(20), results.next()).await?.context("one result")??;
    assert_eq!(result.status, TaskStatus::Failed);
    assert!(result.error.contains("deadline exceeded"), "{}", result.error);
    wait_group_gone(group, sleeper).await?;
    let after = cluster
        .client()
        .run(JobSpec::new("after").task(command_task("t", json!({"argv": ["true"]}))))
        .within("the results of job after")
        .await??;
    assert!(after[0].succeeded(), "the slot is free again: {:?}", after[0]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_command_loses_its_process_group() -> anyhow::Result<()> {
    let cluster = command_cluster().await?;
    let client = cluster.client();
    let pid_file = temp_path("cancel");
    let job = JobSpec::new("to-cancel").task(command_task("sleep60", runaway_spec(&pid_file)));
    let mut results = client.submit(job).await?;
    let (group, sleeper) = read_pids(&pid_file).await?;
    ensure!(client.cancel("to-cancel").await?, "the scheduler knows the job");
    let result = tokio::time::timeout(Duration::from_secs(20), results.next()).await?.context("one result")??;
    assert_eq!(result.status, TaskStatus::Cancelled);
    wait_group_gone(group, sleeper).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_executor_is_refused_without_allow_command() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let job = JobSpec::new("refused").task(command_task("t", json!({"argv": ["true"]})));
    match cluster.client().submit(job).await {
        Err(ClientError::FailedPrecondition(message)) => {
            assert!(message.contains("command execution is disabled"), "{message}");
            assert!(message.contains("--allow-command"), "{message}");
            Ok(())
        }
        Err(other) => bail!("expected FAILED_PRECONDITION, got {other}"),
        Ok(_) => bail!("a node without --allow-command accepted a command job"),
    }
}

/// A shell that records its pid (the process group) and a background
/// `sleep 60`'s, then waits forever for it.
fn runaway_spec(pid_file: &Path) -> Value {
    let script = format!("sleep 60 & echo $$ $! > {}.tmp && mv {0}.tmp {0}; wait", pid_file.display());
    json!({"argv": [script], "shell": true})
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("passer-command-{name}-{}", std::process::id()))
}

async fn read_pids(path: &Path) -> anyhow::Result<(i32, i32)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            let _ = std::fs::remove_file(path);
            let pids: Vec<i32> = text.split_whitespace().filter_map(|p| p.parse().ok()).collect();
            ensure!(pids.len() == 2, "pid file holds {text:?}");
            return Ok((pids[0], pids[1]));
        }
        ensure!(tokio::time::Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no live process is in process group `group` (and `sleeper` is gone).
async fn wait_group_gone(group: i32, sleeper: i32) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let members = group_members(group);
        if members.is_empty() {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "process group {group} still has {members:?} (sleep {sleeper})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Live (non-zombie) pids whose process group is `group`, from /proc.
fn group_members(group: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // After the command name: state ppid pgrp ...
            let fields: Vec<&str> =
                stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
            fields.len() > 2 && fields[0] != "Z" && fields[2].parse::<i32>().ok() == Some(group)
        })
        .collect()
}

/// A shell command failing until its third run: it counts its runs in `counter`.
fn third_time_lucky(counter: &Path) -> Value {
    let script = format!(
        "n=$(cat '{0}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{0}'; echo run $n; [ $n -ge 3 ]",
        counter.display()
    );
    json!({"argv": ["sh", "-c", script]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_error_reruns_a_failing_command_after_a_backoff() -> anyhow::Result<()> {
    let cluster = command_cluster().await?;
    let (plain, retried) = (temp_path("plain-runs"), temp_path("retried-runs"));
    let job =
        JobSpec::new("flaky-commands").task(command_task("plain", third_time_lucky(&plain)).max_attempts(3)).task(
            command_task("retried", third_time_lucky(&retried))
                .max_attempts(3)
                .retry_backoff(Duration::from_millis(50)),
        );
    let results = tokio::time::timeout(Duration::from_secs(30), cluster.client().run(job)).await??;
    let by_id = |id: &str| results.iter().find(|r| r.task_id == id).expect("a result per task");

    let plain_result = by_id("plain");
    assert_eq!((plain_result.status, plain_result.attempt), (TaskStatus::Failed, 1), "{plain_result:?}");
    assert_eq!(std::fs::read_to_string(&plain)?.trim(), "1", "without retry_on_error the command ran once");

    let retried_result = by_id("retried");
    assert_eq!((retried_result.status, retried_result.attempt), (TaskStatus::Succeeded, 3), "{retried_result:?}");
    assert_eq!(output_json(&retried_result.output)?["stdout"], "run 3\n");
    assert_eq!(std::fs::read_to_string(&retried)?.trim(), "3");
    let _ = (std::fs::remove_file(&plain), std::fs::remove_file(&retried));
    Ok(())
}
