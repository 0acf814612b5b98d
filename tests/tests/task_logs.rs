//! Task logs on real processes: a command task's stderr and a Rust task's
//! `tracing` events (the conformance executor, supervised by the node
//! monitor, with passer's `TaskLogLayer`) come back as each task's logs,
//! cut to the node monitor's `--max-task-log-bytes` keeping the tail after
//! a marker; `passer logs JOB` prints every task's under a header,
//! `passer logs JOB TASK` one task's raw, an unknown task or job exits 1
//! naming it; the status page's API serves one task's logs.

use anyhow::{ensure, Context};
use passer::{JobSpec, TaskSpec};
use passer_tests::conformance::{rust_executor_command, wait_executor_offered};
use passer_tests::process::{lossy as text, run_passer as passer};
use passer_tests::{http_get, http_request, Cluster, Within};
use serde_json::{json, Value};

/// The node monitor's cap in this test.
const CAP: usize = 4000;

fn command_task(task_id: &str, script: &str) -> TaskSpec {
    let spec = json!({ "argv": ["sh", "-c", script] });
    TaskSpec::new(task_id, "command", spec.to_string().into_bytes()).max_attempts(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_logs_reach_the_client_the_cli_and_the_status_page() -> anyhow::Result<()> {
    let cap = CAP.to_string();
    let cluster = Cluster::builder()
        .node_monitors(1)
        .observability()
        .node_args([
            "--builtin".to_owned(),
            String::new(),
            "--allow-command".to_owned(),
            "--slots".to_owned(),
            "2".to_owned(),
            "--max-task-log-bytes".to_owned(),
            cap,
            "--executor".to_owned(),
            rust_executor_command("rust", 2),
        ])
        .start()
        .await?;
    wait_executor_offered(&cluster, "command", 1).await?;
    wait_executor_offered(&cluster, "rust", 1).await?;
    let job = JobSpec::new("with-logs")
        .task(command_task("cmd", "echo to-stdout; echo 'to stderr' >&2; echo 'again' >&2"))
        .task(command_task("flood", "seq 1 5000 >&2"))
        .task(TaskSpec::new("rust", "rust", "log:hello from rust").max_attempts(1));
    let results = cluster.client().run(job).within("the results of the logging job").await??;
    let logs_of = |id: &str| results.iter().find(|r| r.task_id == id).map(|r| r.logs.clone()).expect("a result");
    ensure!(results.iter().all(|r| r.succeeded()), "{results:?}");

    ensure!(logs_of("cmd") == "to stderr\nagain\n", "a command's stderr is its logs: {:?}", logs_of("cmd"));
    let rust = logs_of("rust");
    ensure!(rust.starts_with("INFO ") && rust.contains("hello from rust task=rust"), "tracing event: {rust:?}");
    ensure!(rust.lines().count() == 1, "only the task's own event: {rust:?}");
    let flood = logs_of("flood");
    ensure!(flood.len() <= CAP, "cut to the node's cap: {} bytes", flood.len());
    let (marker, rest) = flood.split_once('\n').context("a marker line")?;
    ensure!(marker.starts_with("[... ") && marker.ends_with(" bytes earlier dropped]"), "{marker:?}");
    ensure!(rest.ends_with("4999\n5000\n"), "the tail is kept: {:?}", &rest[rest.len().saturating_sub(20)..]);
    let written: usize = (1..=5000).map(|n: usize| n.to_string().len() + 1).sum();
    let dropped: usize = marker.split(' ').nth(1).context("a count")?.parse()?;
    ensure!(dropped + rest.len() == written, "every byte kept or counted: {dropped} + {}", rest.len());

    let scheduler = cluster.scheduler_addrs[0].as_str();
    let all = passer(&["logs", "with-logs", "--scheduler", scheduler]).await?;
    let stdout = text(&all.stdout);
    ensure!(all.status.code() == Some(0), "passer logs exited {:?}: {}", all.status, text(&all.stderr));
    ensure!(stdout.contains("=== cmd (attempt 1, succeeded, node "), "{stdout}");
    ensure!(stdout.contains(" ===\nto stderr\nagain\n"), "{stdout}");
    ensure!(stdout.contains("=== rust (attempt 1, succeeded") && stdout.contains("hello from rust"), "{stdout}");

    let one = passer(&["logs", "with-logs", "rust", "--scheduler", scheduler]).await?;
    ensure!(one.status.code() == Some(0), "passer logs JOB TASK exited {:?}: {}", one.status, text(&one.stderr));
    ensure!(text(&one.stdout) == rust, "one task's logs, raw: {:?}", text(&one.stdout));

    let json_lines = passer(&["logs", "with-logs", "--json", "--scheduler", scheduler]).await?;
    let parsed: Vec<Value> = text(&json_lines.stdout).lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    ensure!(parsed.len() == 3 && parsed.iter().any(|line| line["logs"] == "to stderr\nagain\n"), "{parsed:?}");

    let no_task = passer(&["logs", "with-logs", "nope", "--scheduler", scheduler]).await?;
    ensure!(no_task.status.code() == Some(1), "unknown task exits 1: {:?}", no_task.status);
    ensure!(text(&no_task.stderr).contains("has no task \"nope\""), "{}", text(&no_task.stderr));
    let no_job = passer(&["logs", "no-such-job", "--scheduler", scheduler]).await?;
    ensure!(no_job.status.code() == Some(1), "unknown job exits 1: {:?}", no_job.status);
    ensure!(text(&no_job.stderr).contains("no-such-job"), "{}", text(&no_job.stderr));

    let http = cluster.scheduler_http_addrs[0].as_str();
    let view: Value = serde_json::from_str(&http_get(http, "/api/jobs/with-logs")?)?;
    let listed = view["tasks"].as_array().context("tasks")?;
    ensure!(listed.iter().all(|task| task.get("logs").is_none()), "the listing leaves logs out: {view}");
    ensure!(listed.iter().any(|task| task["task_id"] == "cmd" && task["log_bytes"] == 16), "{view}");
    let served: Value = serde_json::from_str(&http_get(http, "/api/jobs/with-logs/tasks/cmd/logs")?)?;
    ensure!(served["logs"] == "to stderr\nagain\n" && served["attempt"] == 1, "{served}");
    let (status, body) = http_request(http, "GET", "/api/jobs/with-logs/tasks/nope/logs", &[])?;
    ensure!(status == 404 && body.contains("no ended task"), "{status} {body}");
    Ok(())
}
