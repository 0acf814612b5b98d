//! The Rust word-count example on real processes: node monitors supervise
//! `passer-wordcount executor` (handlers `wc-map`, `wc-reduce`), and
//! `passer-wordcount run` counts 200 generated files with 200 map tasks and
//! a 20-way hash-partitioned reduce, checking the graph's counts itself.

use std::time::Duration;

use anyhow::Context;
use passer_tests::conformance::wait_executor_offered;
use passer_tests::{bin_path, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_wordcount_graph_counts_200_files_with_20_reduces() -> anyhow::Result<()> {
    let executor = format!("{} executor --slots 2", bin_path("passer-wordcount").display());
    let cluster = Cluster::builder()
        .node_monitors(2)
        .node_args(["--builtin".to_owned(), String::new(), "--executor".to_owned(), executor])
        .start()
        .await?;
    wait_executor_offered(&cluster, "wc-map", 2).await?;
    let dir = std::env::temp_dir().join(format!("passer-wordcount-rust-{}", std::process::id()));
    let mut command = tokio::process::Command::new(bin_path("passer-wordcount"));
    command
        .args(["run", "--files", "200", "--reduces", "20", "--words", "500", "--dir"])
        .arg(&dir)
        .arg("--scheduler")
        .arg(cluster.scheduler_addrs.join(","))
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .context("passer-wordcount run did not end within 60 s")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("verified: 100000 words"), "{stdout}");
    assert!(stderr.contains("stage map: 200/200 succeeded"), "{stderr}");
    assert!(stderr.contains("stage reduce: 20/20 succeeded"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
