//! Rust and Python side by side: two node monitors each supervise a Rust
//! SDK executor and a Python SDK executor; a Python client
//! (`examples/python/client.py`, run by `$PASSER_PYTHON`) submits one job
//! whose tasks fan out to both types, and every result comes back through
//! the Rust scheduler.

use std::collections::{HashMap, HashSet};

use anyhow::{ensure, Context};
use passer_tests::conformance::{
    python, python_executor_command, repo_root, rust_executor_command, wait_executor_offered,
};
use passer_tests::Cluster;
use serde_json::Value;
use tokio::process::Command;

const TASKS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_fans_one_job_out_to_rust_and_python_executors() -> anyhow::Result<()> {
    let cluster = Cluster::builder()
        .node_monitors(2)
        .node_args([
            "--builtin".to_owned(),
            String::new(),
            "--executor".to_owned(),
            rust_executor_command("rust-worker", 4),
            "--executor".to_owned(),
            python_executor_command("python-worker", 4),
        ])
        .start()
        .await?;
    wait_executor_offered(&cluster, "rust-worker", 2).await?;
    wait_executor_offered(&cluster, "python-worker", 2).await?;

    let client_script = repo_root().join("examples/python/client.py");
    let output = Command::new(python())
        .arg(client_script)
        .args(["--schedulers", &cluster.scheduler_addrs.join(","), "-n", &TASKS.to_string()])
        .args(["--executor", "rust-worker,python-worker", "--payload", "whoami", "--json", "--timeout", "60"])
        .kill_on_drop(true)
        .output()
        .await
        .context("run examples/python/client.py")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success(), "python client failed ({}): {stderr}", output.status);

    let results: Vec<Value> = String::from_utf8(output.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("one JSON object per result")?;
    assert_eq!(results.len(), TASKS, "one result per task: {stderr}");
    let task_ids: HashSet<&str> = results.iter().filter_map(|r| r["task_id"].as_str()).collect();
    assert_eq!(task_ids.len(), TASKS, "no task got two results");

    let mut per_executor: HashMap<String, usize> = HashMap::new();
    let mut nodes = HashSet::new();
    for result in &results {
        let executor = result["executor"].as_str().unwrap_or_default();
        let text = result["output"].as_str().unwrap_or_default();
        assert_eq!(result["status"], "SUCCEEDED", "{result}");
        let language = executor.trim_end_matches("-worker");
        assert!(text.starts_with(&format!("{language} pid=")), "{executor} task ran on {text:?}");
        *per_executor.entry(executor.to_owned()).or_default() += 1;
        nodes.insert(result["node_id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(per_executor.get("rust-worker"), Some(&(TASKS / 2)), "{per_executor:?}");
    assert_eq!(per_executor.get("python-worker"), Some(&(TASKS / 2)), "{per_executor:?}");
    assert_eq!(nodes.len(), 2, "both node monitors ran tasks: {nodes:?}");

    let stats = cluster.stats(0).await?;
    assert_eq!(stats.tasks_finished, TASKS as u64, "every result came through the scheduler");
    Ok(())
}
