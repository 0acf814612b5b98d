//! `passer cancel JOB` from another terminal: a `passer submit` of long
//! sleep tasks is running; `passer cancel` with its id stops it, the
//! submitting CLI gets a `CANCELLED` result for every task and exits 2 (some
//! tasks did not succeed); cancelling an unknown id exits 1 naming it.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use passer_tests::{bin_path, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passer_cancel_stops_a_job_submitted_elsewhere() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).node_args(["--slots", "2"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let scheduler = cluster.scheduler_addrs[0].clone();
    let submit = Command::new(bin_path("passer"))
        .args(["submit", "--scheduler", &scheduler, "--job-id", "cancel-me", "--executor", "sleep"])
        .args(["--payload", "30000", "--count", "6", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start passer submit")?;

    // Wait until the scheduler runs the job.
    let client = cluster.client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while client.stats(0).await?.jobs_running == 0 {
        if tokio::time::Instant::now() >= deadline {
            bail!("the submitted job never ran");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let cancel = Command::new(bin_path("passer")).args(["cancel", "cancel-me", "--scheduler", &scheduler]).output()?;
    let said = String::from_utf8_lossy(&cancel.stdout);
    ensure!(cancel.status.code() == Some(0), "passer cancel failed: {said}{}", String::from_utf8_lossy(&cancel.stderr));
    ensure!(said.contains("cancelled job cancel-me"), "passer cancel said: {said}");

    let submitted = tokio::task::spawn_blocking(move || submit.wait_with_output()).await??;
    let results = String::from_utf8_lossy(&submitted.stdout);
    let cancelled = results.lines().filter(|line| line.contains("\"status\":\"cancelled\"")).count();
    ensure!(cancelled == 6, "expected 6 CANCELLED results, got:\n{results}");
    ensure!(submitted.status.code() == Some(2), "passer submit exited {:?}", submitted.status);

    let unknown =
        Command::new(bin_path("passer")).args(["cancel", "no-such-job", "--scheduler", &scheduler]).output()?;
    let complaint = String::from_utf8_lossy(&unknown.stderr);
    ensure!(unknown.status.code() == Some(1), "cancelling an unknown job exited {:?}", unknown.status);
    ensure!(complaint.contains("no-such-job"), "the message does not name the job: {complaint}");
    Ok(())
}
