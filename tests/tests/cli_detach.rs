//! Detach and re-attach through the CLI on real processes: `passer submit
//! --detach` prints the job id and exits while the job runs on (a client
//! that leaves does not cancel its job); `passer results JOB` from another
//! terminal streams its results, first while it runs and again after it
//! finished (the scheduler keeps them); a detached job can be cancelled and
//! its results show it; an unknown id exits 1 naming the job; a scheduler
//! started with `--keep-results-secs 0` keeps nothing.

use anyhow::{ensure, Context};
use passer_tests::process::{lossy as text, run_passer as passer};
use passer_tests::Cluster;

/// The `status` field of each JSON result line.
fn statuses(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|value| value.get("status").and_then(|s| s.as_str()).map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_job_runs_on_and_its_results_come_back_from_another_terminal() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).node_args(["--slots", "2"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let scheduler = cluster.scheduler_addrs[0].clone();

    let submitted = passer(&[
        "submit",
        "--scheduler",
        &scheduler,
        "--executor",
        "sleep",
        "--payload",
        "400",
        "--count",
        "4",
        "--detach",
    ])
    .await?;
    ensure!(submitted.status.success(), "submit --detach failed: {}", text(&submitted.stderr));
    let job_id = text(&submitted.stdout).trim().to_owned();
    ensure!(!job_id.is_empty() && !job_id.contains(char::is_whitespace), "no job id printed: {job_id:?}");
    ensure!(text(&submitted.stderr).contains(&format!("passer results {job_id}")), "{}", text(&submitted.stderr));

    // The submitter has gone; the job still runs, and its results stream here.
    let watched = passer(&["results", &job_id, "--scheduler", &scheduler, "--json"]).await?;
    let stdout = text(&watched.stdout);
    ensure!(
        watched.status.code() == Some(0),
        "passer results exited {:?}: {stdout}{}",
        watched.status,
        text(&watched.stderr)
    );
    ensure!(statuses(&stdout) == ["succeeded"; 4], "expected 4 successes, got:\n{stdout}");
    ensure!(stdout.contains("\"summary\""), "no summary line:\n{stdout}");

    // Finished: the scheduler kept the results, so a second look gets them all.
    let again = passer(&["results", &job_id, "--scheduler", &scheduler]).await?;
    ensure!(again.status.code() == Some(0), "second passer results exited {:?}: {}", again.status, text(&again.stderr));
    ensure!(
        text(&again.stdout).lines().filter(|line| line.contains(" succeeded ")).count() == 4,
        "{}",
        text(&again.stdout)
    );

    let unknown = passer(&["results", "no-such-job", "--scheduler", &scheduler]).await?;
    ensure!(unknown.status.code() == Some(1), "an unknown job exited {:?}", unknown.status);
    let complaint = text(&unknown.stderr);
    ensure!(complaint.contains("no-such-job") && complaint.contains("not found"), "{complaint}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_job_can_be_cancelled_and_its_results_say_so() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).node_args(["--slots", "2"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let scheduler = cluster.scheduler_addrs[0].clone();
    let submitted = passer(&[
        "submit",
        "--scheduler",
        &scheduler,
        "--job-id",
        "long-one",
        "--executor",
        "sleep",
        "--payload",
        "30000",
        "--count",
        "3",
        "--detach",
        "--json",
    ])
    .await?;
    ensure!(submitted.status.success(), "{}", text(&submitted.stderr));
    let said: serde_json::Value =
        serde_json::from_slice(&submitted.stdout).context("--detach --json prints an object")?;
    ensure!(said["job_id"] == "long-one" && said["scheduler"] == scheduler.as_str(), "{said}");

    let cancel = passer(&["cancel", "long-one", "--scheduler", &scheduler]).await?;
    ensure!(cancel.status.success(), "cancel failed: {}", text(&cancel.stderr));
    let watched = passer(&["results", "long-one", "--scheduler", &scheduler, "--json"]).await?;
    ensure!(watched.status.code() == Some(2), "results of a cancelled job exited {:?}", watched.status);
    ensure!(statuses(&text(&watched.stdout)) == ["cancelled"; 3], "{}", text(&watched.stdout));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_results_secs_zero_keeps_nothing() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).scheduler_args(["--keep-results-secs", "0"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let scheduler = cluster.scheduler_addrs[0].clone();
    let ran = passer(&["submit", "--scheduler", &scheduler, "--job-id", "gone", "--count", "2"]).await?;
    ensure!(ran.status.success(), "{}", text(&ran.stderr));
    let watched = passer(&["results", "gone", "--scheduler", &scheduler]).await?;
    ensure!(watched.status.code() == Some(1), "exited {:?}: {}", watched.status, text(&watched.stdout));
    ensure!(text(&watched.stderr).contains("--keep-results-secs, 0 s here"), "{}", text(&watched.stderr));
    Ok(())
}
