//! Python values and calls on real processes: a node monitor supervises
//! `examples/python/calls.py` (functions served as executor types, one of
//! them `async def`, one task handler with the JSON codec), and
//! `examples/python/calls_client.py` calls them through a real scheduler
//! with futures (`add.submit`, `add.map`), `await`, the asyncio client and
//! a dict returned by a handler.

use std::process::Command;

use anyhow::{ensure, Context};
use passer_tests::conformance::{python, repo_root};
use passer_tests::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_functions_are_called_with_futures_and_asyncio() -> anyhow::Result<()> {
    let executor = format!("{} {}", python().display(), repo_root().join("examples/python/calls.py").display());
    let cluster = Cluster::builder()
        .node_monitors(1)
        .node_args(["--builtin", "", "--executor", executor.as_str()])
        .scheduler_args(["--node-poll-ms", "100"])
        .start()
        .await?;
    passer_tests::conformance::wait_executor_offered(&cluster, "word-stats", 1).await?;
    passer_tests::conformance::wait_executor_offered(&cluster, "slow_square", 1).await?;
    passer_tests::conformance::wait_executor_offered(&cluster, "add", 1).await?;
    let output = Command::new(python())
        .arg(repo_root().join("examples/python/calls_client.py"))
        .args(["--scheduler", &cluster.scheduler_addrs[0]])
        .current_dir(repo_root().join("examples/python"))
        .output()
        .context("run calls_client.py")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.success(),
        "calls_client.py exited {}:\n{stdout}\n{stderr}\nnode log:\n{}",
        output.status,
        cluster.node_monitors[0].log_tail()
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).context("calls_client.py printed no JSON")?;
    assert_eq!(report["add"], 5);
    assert_eq!(report["map_sum"], 9900);
    assert_eq!(report["word_stats"]["longest"], "not");
    Ok(())
}
