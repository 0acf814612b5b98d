//! `passer submit` fails fast with a reason when no scheduler can take the
//! job (issue 20): a dead address within the 10 s `--connect-timeout`,
//! naming the address and "connection refused"; a node monitor's port at
//! once, saying it is a node monitor; an HTTP port at once, saying it is
//! not a gRPC server. Exit code 1 each time (the client could not do it).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::ensure;
use passer_tests::{bin_path, Cluster, DEAD_ADDRESS};

/// Runs `passer submit --scheduler ADDRESS`; returns its exit code, stderr
/// and how long it took.
fn submit_to(address: &str, extra: &[&str]) -> anyhow::Result<(Option<i32>, String, Duration)> {
    let started = Instant::now();
    let output = Command::new(bin_path("passer"))
        .args(["submit", "--scheduler", address, "--executor", "echo", "--count", "1"])
        .args(extra)
        .env("RUST_LOG", "off")
        .output()?;
    Ok((output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned(), started.elapsed()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_address_fails_within_ten_seconds_naming_it() -> anyhow::Result<()> {
    let address = DEAD_ADDRESS;
    let (code, stderr, took) = submit_to(address, &[])?;
    ensure!(code == Some(1), "exit {code:?}: {stderr}");
    ensure!(took < Duration::from_secs(10), "took {took:?}");
    ensure!(stderr.contains(address) && stderr.contains("connection refused"), "stderr: {stderr}");

    // A shorter --connect-timeout gives up sooner.
    let (code, stderr, took) = submit_to(address, &["--connect-timeout", "1s"])?;
    ensure!(code == Some(1) && took < Duration::from_secs(2), "exit {code:?} after {took:?}: {stderr}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_monitor_or_an_http_port_is_named_for_what_it_is() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).observability().start().await?;
    let node = &cluster.node_addrs[0];
    let (code, stderr, took) = submit_to(node, &[])?;
    ensure!(code == Some(1), "exit {code:?}: {stderr}");
    ensure!(stderr.contains(&format!("{node}: this is a node monitor, not a scheduler")), "stderr: {stderr}");
    ensure!(took < Duration::from_secs(5), "took {took:?}");

    let http = &cluster.scheduler_http_addrs[0];
    let (code, stderr, took) = submit_to(http, &[])?;
    ensure!(code == Some(1), "exit {code:?}: {stderr}");
    ensure!(stderr.contains(&format!("{http}: not a gRPC server")), "stderr: {stderr}");
    ensure!(took < Duration::from_secs(5), "took {took:?}");

    // With a real scheduler among them, the job runs.
    let mixed = format!("{node},{}", cluster.scheduler_addrs[0]);
    cluster.wait_nodes_up(0, 1).await?;
    let (code, stderr, _) = submit_to(&mixed, &[])?;
    ensure!(code == Some(0), "exit {code:?}: {stderr}");
    Ok(())
}
