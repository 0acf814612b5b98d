//! A job id names one job (issue 16, items 1 and 7): a different job under
//! the id of one that is running is refused with `ALREADY_EXISTS` naming the
//! id, through the CLI as two real `passer submit` processes; a resubmission
//! of the same job (the SDK's failover, with `skip_task_ids`) still
//! re-attaches; a submission that skips every task finishes at once; the same
//! job resubmitted after it finished replays its kept results.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use passer_proto::pb;
use passer_proto::pb::job_event::Event;
use passer_tests::{bin_path, Cluster};

/// Runs `passer submit` against `scheduler` with `args`, killed after `limit`.
fn submit(scheduler: &str, args: &[&str], limit: Duration) -> anyhow::Result<(Output, Duration)> {
    let started = Instant::now();
    let mut child = Command::new(bin_path("passer"))
        .args(["submit", "--scheduler", scheduler, "--json"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start passer submit")?;
    loop {
        if child.try_wait()?.is_some() {
            return Ok((child.wait_with_output()?, started.elapsed()));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output()?;
            bail!(
                "passer submit {args:?} still running after {limit:?}:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `(task_id, status, output)` lines of `passer submit --json`.
fn results(output: &Output) -> Vec<(String, String, String)> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|value| value.get("task_id").is_some())
        .map(|value| {
            let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
            (field("task_id"), field("status"), field("output"))
        })
        .collect()
}

async fn wait_running(cluster: &Cluster, jobs: u64) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stats = cluster.stats(0).await?;
        if stats.jobs_running >= jobs {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("scheduler never ran {jobs} job(s): {stats:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_job_under_a_running_id_is_refused_naming_it() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let scheduler = cluster.scheduler_addrs[0].clone();

    let first_scheduler = scheduler.clone();
    let first = std::thread::spawn(move || {
        let args = ["--job-id", "same", "--executor", "sleep", "--payload", "1500", "--count", "4"];
        submit(&first_scheduler, &args, Duration::from_secs(30))
    });
    wait_running(&cluster, 1).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let args = ["--job-id", "same", "--executor", "echo", "--payload", "other {i}", "--count", "3"];
    let (second, took) = submit(&scheduler, &args, Duration::from_secs(10))?;
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second job must fail: {stderr}");
    assert!(took < Duration::from_secs(3), "it fails fast, not after retries: {took:?}; {stderr}");
    assert!(stderr.contains("already exists") && stderr.contains("'same'"), "names the code and the id: {stderr}");
    assert!(!stderr.contains("failing over"), "no failover loop: {stderr}");
    assert!(results(&second).is_empty(), "no results of the other job: {:?}", results(&second));

    let (first, _) = first.join().expect("first submit thread")?;
    assert!(first.status.success(), "the first job runs to its end: {}", String::from_utf8_lossy(&first.stderr));
    let mut own = results(&first);
    own.sort();
    let expected: Vec<(String, String, String)> =
        (0..4).map(|i| (format!("t{i}"), "succeeded".to_owned(), String::new())).collect();
    let statuses: Vec<(String, String, String)> =
        own.iter().map(|(id, status, _)| (id.clone(), status.clone(), String::new())).collect();
    assert_eq!(statuses, expected, "the first job gets its own four results");
    assert!(own.iter().all(|(_, _, output)| !output.starts_with("other")), "{own:?}");
    Ok(())
}

fn sleep_request(job_id: &str, count: usize, millis: &str) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest {
        job_id: job_id.into(),
        tasks: (0..count)
            .map(|i| pb::TaskSpec {
                task_id: format!("t{i}"),
                executor: "sleep".into(),
                payload: millis.to_owned().into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Reads events until `JobFinished` (or the stream ends); returns the task ids seen.
async fn drain(stream: &mut tonic::Streaming<pb::JobEvent>, limit: Duration) -> anyhow::Result<(Vec<String>, bool)> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let message = tokio::time::timeout_at(deadline, stream.message()).await.context("stream stalled")??;
        match message.and_then(|event| event.event) {
            Some(Event::Results(batch)) => seen.extend(batch.tasks.into_iter().map(|t| t.task_id)),
            Some(Event::JobFinished(_)) => return Ok((seen, true)),
            Some(Event::Accepted(_)) | Some(Event::Progress(_)) => {}
            None => return Ok((seen, false)),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_job_resubmitted_attaches_with_its_skipped_tasks() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).node_args(["--slots", "1"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let mut raw = cluster.scheduler_client(0).await?;
    // One slot: t0 finishes first, t1 and t2 wait behind it.
    let request = sleep_request("attach-me", 3, "400");
    let mut first = raw.submit_job(request.clone()).await?.into_inner();
    let mut first_done = Vec::new();
    while first_done.is_empty() {
        match tokio::time::timeout(Duration::from_secs(10), first.message()).await??.and_then(|e| e.event) {
            Some(Event::Results(batch)) => first_done.extend(batch.tasks.into_iter().map(|t| t.task_id)),
            Some(Event::Accepted(_)) => {}
            other => bail!("unexpected event before the first result: {other:?}"),
        }
    }
    // The failover form: same tasks (in another order), the delivered ones skipped.
    let mut again = request.clone();
    again.tasks.reverse();
    again.skip_task_ids = first_done.clone();
    let mut second = raw.submit_job(again).await?.into_inner();
    let (seen, finished) = drain(&mut second, Duration::from_secs(15)).await?;
    assert!(finished, "the re-attached stream ends with JobFinished");
    let mut all: Vec<String> = first_done.iter().chain(&seen).cloned().collect();
    all.sort();
    assert_eq!(all, ["t0", "t1", "t2"], "each task once over both streams (skipped: {first_done:?})");
    let stats = cluster.stats(0).await?;
    assert_eq!(stats.jobs_accepted, 1, "re-attached, not run twice: {stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_skipping_every_task_finishes_at_once() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let mut raw = cluster.scheduler_client(0).await?;
    for round in 0..3 {
        let mut request = sleep_request(&format!("all-skipped-{round}"), 3, "10");
        request.skip_task_ids = vec!["t2".into(), "t0".into(), "t1".into()];
        let mut stream = raw.submit_job(request).await?.into_inner();
        let first = tokio::time::timeout(Duration::from_secs(5), stream.message()).await??;
        match first.and_then(|e| e.event) {
            Some(Event::Accepted(accepted)) => assert_eq!(accepted.task_count, 0),
            other => bail!("expected Accepted, got {other:?}"),
        }
        let (seen, finished) = drain(&mut stream, Duration::from_secs(5)).await?;
        assert!(finished && seen.is_empty(), "JobFinished at once with no results: {seen:?}");
    }
    let stats = cluster.stats(0).await?;
    assert_eq!(stats.jobs_running, 0, "nothing left running: {stats:?}");
    assert_eq!(stats.tasks_in_flight, 0, "{stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_resubmitted_replays_its_kept_results_and_another_job_replaces_them() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let client = cluster.client();
    let job = || {
        passer::JobSpec::new("finished-once")
            .task(passer::TaskSpec::new("a", "echo", "one"))
            .task(passer::TaskSpec::new("b", "echo", "two"))
    };
    // Hop stamps belong to the live delivery; a replay carries none.
    let without_hops = |mut outputs: Vec<passer::TaskOutput>| {
        outputs.iter_mut().for_each(|output| output.hops = None);
        outputs
    };
    let first = without_hops(tokio::time::timeout(Duration::from_secs(20), client.run(job())).await??);
    let launched = client.stats(0).await?.tasks_launched;
    let again = without_hops(tokio::time::timeout(Duration::from_secs(20), client.run(job())).await??);
    anyhow::ensure!(first == again, "the replay differs:\n{first:?}\n{again:?}");
    anyhow::ensure!(client.stats(0).await?.tasks_launched == launched, "the same job ran twice");

    // Another job under the id runs (and its results replace the kept ones).
    let other = passer::JobSpec::new("finished-once").task(passer::TaskSpec::new("c", "echo", "three"));
    let ran = tokio::time::timeout(Duration::from_secs(20), client.run(other)).await??;
    anyhow::ensure!(ran.len() == 1 && ran[0].output == "three", "{ran:?}");
    anyhow::ensure!(client.stats(0).await?.tasks_launched == launched + 1);
    Ok(())
}
