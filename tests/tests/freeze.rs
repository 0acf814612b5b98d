//! Frozen schedulers (SIGSTOP), issue 16 items 9 and 10: a scheduler waking
//! from a freeze long enough for its node sessions to break keeps every job
//! submitted meanwhile (its nodes stay up while their polls answer, and a
//! transient absence is `UNAVAILABLE`, retried, never a final refusal); and
//! both SDKs leave a frozen scheduler's stalled result stream within
//! seconds, finishing the job on another scheduler.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::Signal;
use passer::{Client, ClientConfig, JobSpec, TaskOutput};
use passer_tests::Cluster;

/// Long enough for node monitors to give up their sessions to the frozen
/// scheduler (their HTTP/2 keep-alive: 10 s pings, 5 s to answer).
const FREEZE: Duration = Duration::from_secs(16);

fn check_job(job_id: &str, outputs: &[TaskOutput], count: usize) {
    let ids: HashSet<&str> = outputs.iter().map(|o| o.task_id.as_str()).collect();
    assert_eq!(outputs.len(), count, "{job_id}: one result per task");
    assert_eq!(ids.len(), count, "{job_id}: no task twice");
    let failed: Vec<&TaskOutput> = outputs.iter().filter(|o| !o.succeeded()).collect();
    assert!(failed.is_empty(), "{job_id}: {failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_waking_from_a_freeze_keeps_every_job() -> anyhow::Result<()> {
    let cluster = Cluster::builder().schedulers(3).node_monitors(2).node_args(["--slots", "8"]).start().await?;
    for index in 0..3 {
        cluster.wait_nodes_up(index, 2).await?;
    }
    let frozen = cluster.scheduler_addrs[0].clone();
    // Clients that know only the frozen scheduler (they wait for it) and
    // clients that know all three (they may fail over).
    let only_frozen = Client::new(ClientConfig::new([frozen.clone()]))?;
    let all = cluster.client();

    cluster.schedulers[0].signal(Signal::SIGSTOP);
    let frozen_at = Instant::now();
    let mut jobs = Vec::new();
    let mut round = 0;
    while frozen_at.elapsed() < FREEZE {
        for (kind, client) in [("only-frozen", &only_frozen), ("any", &all)] {
            let client = client.clone();
            let job_id = format!("freeze-{kind}-{round}");
            let job = JobSpec::uniform(job_id.clone(), "sleep", 20, "10");
            jobs.push((job_id, tokio::spawn(async move { client.run(job).await })));
        }
        round += 1;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    cluster.schedulers[0].signal(Signal::SIGCONT);
    // A few more right after waking, to the woken scheduler alone.
    for extra in 0..4 {
        let client = only_frozen.clone();
        let job_id = format!("freeze-after-{extra}");
        let job = JobSpec::uniform(job_id.clone(), "sleep", 20, "10");
        jobs.push((job_id, tokio::spawn(async move { client.run(job).await })));
    }
    for (job_id, handle) in jobs {
        let outcome = tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .with_context(|| format!("{job_id} did not finish within 60 s of waking"))??;
        match outcome {
            Ok(outputs) => check_job(&job_id, &outputs, 20),
            Err(error) => bail!("{job_id} was lost: {error}\nscheduler log:\n{}", cluster.schedulers[0].log_tail()),
        }
    }
    Ok(())
}

/// How long after its scheduler froze a job of four 3 s tasks may take at
/// most: noticing (about 3 s), then the tasks again elsewhere (3 s), slack.
const STALL_LIMIT: Duration = Duration::from_secs(11);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_sdk_leaves_a_stalled_stream_within_seconds() -> anyhow::Result<()> {
    let cluster = Cluster::builder().schedulers(2).node_monitors(1).node_args(["--slots", "8"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    cluster.wait_nodes_up(1, 1).await?;
    let client = cluster.client();
    let mut results = client.submit(JobSpec::uniform("stalled-rust", "sleep", 4, "3000")).await?;
    let index = cluster.scheduler_addrs.iter().position(|a| a == results.scheduler()).context("which scheduler")?;
    cluster.schedulers[index].signal(Signal::SIGSTOP);
    let frozen_at = Instant::now();
    let mut outputs = Vec::new();
    while let Some(output) = tokio::time::timeout(STALL_LIMIT, results.next()).await.context("no failover")? {
        outputs.push(output?);
    }
    let took = frozen_at.elapsed();
    cluster.schedulers[index].signal(Signal::SIGCONT);
    check_job("stalled-rust", &outputs, 4);
    assert!(results.failovers() >= 1, "the job moved to the other scheduler");
    assert!(took < STALL_LIMIT, "took {took:?} after the freeze");
    println!("rust sdk: all results {took:?} after its scheduler froze");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_leaves_a_stalled_stream_within_seconds() -> anyhow::Result<()> {
    const SCRIPT: &str = r#"
import sys, time
from passer import Client, Task
with Client(sys.argv[1].split(","), max_unavailable=100) as client:
    stream = client.submit("stalled-python", [Task(f"t{i}", "sleep", "3000") for i in range(4)])
    print("accepted", stream.scheduler, flush=True)
    sys.stdin.readline()  # the test froze that scheduler
    started = time.monotonic()
    results = stream.results()
    took = time.monotonic() - started
    assert sorted(r.task_id for r in results) == [f"t{i}" for i in range(4)], results
    assert all(r.ok for r in results), results
    print(f"done {took:.2f} failovers {stream.failovers}", flush=True)
"#;
    let cluster = Cluster::builder().schedulers(2).node_monitors(1).node_args(["--slots", "8"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    cluster.wait_nodes_up(1, 1).await?;
    let mut child = Command::new(passer_tests::conformance::python())
        .args(["-c", SCRIPT, &cluster.scheduler_addrs.join(",")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let accepted = lines.next().context("the script ended before acceptance")??;
    let address = accepted.strip_prefix("accepted ").context("unexpected first line")?.to_owned();
    let index = cluster.scheduler_addrs.iter().position(|a| *a == address).context("which scheduler")?;
    cluster.schedulers[index].signal(Signal::SIGSTOP);
    let frozen_at = Instant::now();
    {
        use std::io::Write;
        writeln!(child.stdin.as_mut().context("stdin")?, "go")?;
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(lines.next());
    });
    let done = receiver.recv_timeout(STALL_LIMIT + Duration::from_secs(5));
    let took = frozen_at.elapsed();
    cluster.schedulers[index].signal(Signal::SIGCONT);
    let _ = child.kill();
    let _ = child.wait();
    let line = done.context("the python client is still waiting on the frozen scheduler")?.context("no output")??;
    assert!(line.starts_with("done"), "{line}");
    assert!(took < STALL_LIMIT, "took {took:?} after the freeze: {line}");
    println!("python sdk: {line} ({took:?} after the freeze)");
    Ok(())
}
