//! `SubmitJobs`, many jobs on one client stream, against real processes:
//! every result exactly once, one job's refusal beside others' success,
//! the stream broken by a scheduler's restart, the SDK's fallback to
//! `SubmitJob` against a scheduler without the call, and the raw protocol
//! (call ids, per-job errors, an oversized job refused alone while the
//! stream goes on) spoken by hand.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use passer::{Client, ClientConfig, ClientError, JobSpec, TaskOutput};
use passer_proto::pb;
use passer_proto::pb::submit_jobs_response::Outcome;
use passer_tests::{Cluster, Within};
use tokio::sync::mpsc;

fn assert_one_result_each(job_id: &str, results: &[TaskOutput], expected: usize) {
    assert_eq!(results.len(), expected, "{job_id}: one result per task");
    let ids: HashSet<&str> = results.iter().map(|r| r.task_id.as_str()).collect();
    assert_eq!(ids.len(), expected, "{job_id}: no task got two results");
    assert!(results.iter().all(TaskOutput::succeeded), "{job_id}: every task succeeds");
}

/// Runs `jobs` at once on `client`; each job's results, or the first error.
async fn run_all(client: &Client, jobs: Vec<JobSpec>) -> Vec<(String, Result<Vec<TaskOutput>, ClientError>)> {
    let mut running: FuturesUnordered<_> = jobs
        .into_iter()
        .map(|job| {
            let client = client.clone();
            async move {
                let job_id = job.job_id.clone();
                (job_id, client.run(job).await)
            }
        })
        .collect();
    let mut done = Vec::new();
    while let Some(outcome) = running.next().await {
        done.push(outcome);
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_jobs_on_one_stream_get_every_result_once() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).node_args(["--slots", "4"]).start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let client = cluster.client();
    let jobs: Vec<JobSpec> = (0..300).map(|i| JobSpec::uniform(format!("many-{i}"), "echo", 1 + i % 5, "x")).collect();
    let sizes: HashMap<String, usize> = jobs.iter().map(|job| (job.job_id.clone(), job.tasks.len())).collect();
    let done = run_all(&client, jobs).within("300 jobs on one stream").await?;
    assert_eq!(done.len(), 300);
    for (job_id, outcome) in done {
        assert_one_result_each(&job_id, &outcome?, sizes[&job_id]);
    }
    assert_eq!(cluster.stats(0).await?.jobs_accepted, 300, "each job admitted once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_refused_on_the_stream_leave_the_others_running() -> anyhow::Result<()> {
    // Two jobs open per stream at most: the other eight are refused
    // RESOURCE_EXHAUSTED one by one and retried by the SDK.
    let cluster = Cluster::builder()
        .node_monitors(1)
        .node_args(["--slots", "4"])
        .scheduler_args(["--max-jobs-per-stream", "2"])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 1).await?;
    let client = cluster.client();
    let mut results: Vec<_> = Vec::new();
    for i in 0..10 {
        results.push(client.submit(JobSpec::uniform(format!("capped-{i}"), "sleep", 2, "100")));
    }
    // A job no node can run, refused on the same stream.
    let bad = client.submit(JobSpec::uniform("no-such-executor", "no-such-executor", 1, ""));
    let (opened, bad) = futures::future::join(futures::future::join_all(results), bad).within("submissions").await?;
    let bad_error = bad.expect_err("no node offers the executor");
    assert!(bad_error.to_string().contains("no-such-executor"), "{bad_error}");
    let mut rejections = 0;
    for job in opened {
        let mut job = job?;
        rejections += job.rejections();
        let mut outputs = Vec::new();
        while let Some(output) = job.next().within("the next result").await? {
            outputs.push(output?);
        }
        assert_one_result_each(job.job_id(), &outputs, 2);
    }
    assert!(rejections >= 8, "jobs beyond the stream's cap were refused and retried: {rejections}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_restart_breaks_the_stream_and_loses_nothing() -> anyhow::Result<()> {
    let mut cluster = Cluster::builder().node_monitors(2).node_args(["--slots", "4"]).start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let client = cluster.client();
    let received = Arc::new(AtomicUsize::new(0));
    let (first_results, mut first_result_seen) = mpsc::channel::<()>(1);
    let mut running = Vec::new();
    for i in 0..40 {
        let client = client.clone();
        let received = Arc::clone(&received);
        let first_results = first_results.clone();
        running.push(tokio::spawn(async move {
            let job_id = format!("restart-{i}");
            let mut results = client.submit(JobSpec::uniform(&job_id, "sleep", 6, "150")).await?;
            let mut outputs = Vec::new();
            while let Some(output) = results.next().within("the next result").await? {
                outputs.push(output?);
                received.fetch_add(1, Ordering::Relaxed);
                let _ = first_results.try_send(());
            }
            anyhow::Ok((job_id, outputs, results.failovers()))
        }));
    }
    drop(first_results);
    first_result_seen.recv().within("a first result").await?;
    let before_restart = received.load(Ordering::Relaxed);
    cluster.restart_scheduler(0).await?;
    let mut failovers = 0;
    for job in running {
        let (job_id, outputs, job_failovers) = job.await??;
        assert_one_result_each(&job_id, &outputs, 6);
        failovers += job_failovers;
    }
    assert!(before_restart < 240, "the restart came mid-way: {before_restart} of 240 results before it");
    assert!(failovers > 0, "jobs open on the broken stream were resubmitted");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_without_submit_jobs_gets_one_call_per_job() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).scheduler_args(["--disable-submit-stream"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    // The raw call is refused as an old scheduler would refuse it...
    let mut raw = cluster.scheduler_client(0).await?;
    let status = raw.submit_jobs(futures::stream::empty()).within("the refusal").await?.expect_err("disabled");
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    // ...and the SDK falls back to SubmitJob, by default and with the stream off.
    for submit_stream in [true, false] {
        let mut config = ClientConfig::new(cluster.scheduler_addrs.clone());
        config.submit_stream = submit_stream;
        let client = Client::new(config)?;
        let jobs = (0..20).map(|i| JobSpec::uniform(format!("old-{submit_stream}-{i}"), "echo", 3, "y")).collect();
        for (job_id, outcome) in run_all(&client, jobs).within("20 jobs by SubmitJob").await? {
            assert_one_result_each(&job_id, &outcome?, 3);
        }
    }
    Ok(())
}

/// The request side of a raw call: what is sent on `requests`, until it is dropped.
fn request_stream(
    requests: mpsc::Receiver<pb::SubmitJobsRequest>,
) -> impl futures::Stream<Item = pb::SubmitJobsRequest> {
    futures::stream::unfold(requests, |mut requests| async move { requests.recv().await.map(|next| (next, requests)) })
}

/// One raw request on a `SubmitJobs` stream.
fn raw_request(call_id: u64, job: Option<pb::SubmitJobRequest>) -> pb::SubmitJobsRequest {
    pb::SubmitJobsRequest { call_id, job }
}

fn echo_job(job_id: &str, tasks: usize, payload_bytes: usize) -> pb::SubmitJobRequest {
    pb::SubmitJobRequest {
        job_id: job_id.to_owned(),
        tasks: (0..tasks)
            .map(|i| pb::TaskSpec {
                task_id: format!("t{i}"),
                executor: "echo".into(),
                payload: vec![b'p'; payload_bytes].into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raw_protocol_tags_events_and_refusals_by_call_id() -> anyhow::Result<()> {
    let cluster = Cluster::builder()
        .node_monitors(1)
        .scheduler_args(["--max-message-bytes", "65536", "--max-payload-bytes", "4096", "--max-job-bytes", "16384"])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 1).await?;
    let mut raw = cluster.scheduler_client(0).await?;
    let (requests, outbound) = mpsc::channel(8);
    requests.send(raw_request(1, Some(echo_job("raw-a", 3, 8)))).await?;
    requests.send(raw_request(2, None)).await?;
    requests
        .send(raw_request(3, Some(pb::SubmitJobRequest { job_id: "raw-empty".into(), ..Default::default() })))
        .await?;
    requests.send(raw_request(4, Some(echo_job("raw-b", 2, 8)))).await?;
    let mut responses = raw.submit_jobs(request_stream(outbound)).within("the call").await??.into_inner();
    let mut events: HashMap<u64, Vec<Outcome>> = HashMap::new();
    while let Some(response) = responses.message().within("the next response").await?? {
        let outcome = response.outcome.expect("an outcome");
        events.entry(response.call_id).or_default().push(outcome);
        let finished = |call_id| {
            events.get(&call_id).is_some_and(|outcomes: &Vec<Outcome>| {
                outcomes.iter().any(|o| {
                    matches!(o, Outcome::Event(pb::JobEvent { event: Some(pb::job_event::Event::JobFinished(_)) }))
                })
            })
        };
        if finished(1) && finished(4) && events.contains_key(&2) && events.contains_key(&3) {
            break;
        }
    }
    for (call_id, tasks) in [(1, 3), (4, 2)] {
        let results: usize = events[&call_id]
            .iter()
            .map(|o| match o {
                Outcome::Event(pb::JobEvent { event: Some(pb::job_event::Event::Results(batch)) }) => batch.tasks.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(results, tasks, "call {call_id}: one result per task");
        assert!(matches!(
            events[&call_id].first(),
            Some(Outcome::Event(pb::JobEvent { event: Some(pb::job_event::Event::Accepted(_)) }))
        ));
    }
    for call_id in [2, 3] {
        let [Outcome::Error(error)] = events[&call_id].as_slice() else {
            panic!("call {call_id}: {:?}", events[&call_id])
        };
        assert_eq!(error.code, tonic::Code::InvalidArgument as i32, "call {call_id}: {}", error.message);
    }
    // Closing our side ends the call, nothing being open any more.
    drop(requests);
    assert!(responses.message().within("the end of the call").await??.is_none());

    // A job over --max-message-bytes is refused on its own, before it is
    // decoded, naming the limit; the stream goes on and takes the next job.
    let (requests, outbound) = mpsc::channel(2);
    requests.send(raw_request(1, Some(echo_job("raw-big", 40, 4000)))).await?;
    requests.send(raw_request(2, Some(echo_job("raw-after-big", 2, 8)))).await?;
    let mut responses = raw.submit_jobs(request_stream(outbound)).within("the call").await??.into_inner();
    let mut big_refusal_opt = None;
    let mut after_finished = false;
    while big_refusal_opt.is_none() || !after_finished {
        let response = responses.message().within("the next response").await??.ok_or_else(|| {
            anyhow::anyhow!("the stream ended: refused {big_refusal_opt:?}, next job finished {after_finished}")
        })?;
        match (response.call_id, response.outcome) {
            (1, Some(Outcome::Error(error))) => big_refusal_opt = Some(error),
            (1, other) => anyhow::bail!("an oversized job was not refused: {other:?}"),
            (2, Some(Outcome::Event(pb::JobEvent { event: Some(pb::job_event::Event::JobFinished(finished)) }))) => {
                assert_eq!(finished.succeeded, 2, "{finished:?}");
                after_finished = true;
            }
            (2, Some(Outcome::Error(error))) => anyhow::bail!("the job after the oversized one was refused: {error:?}"),
            _ => {}
        }
    }
    let refusal = big_refusal_opt.expect("refused");
    assert_eq!(refusal.code, tonic::Code::InvalidArgument as i32, "{refusal:?}");
    assert!(refusal.message.starts_with("job: is "), "names the field: {}", refusal.message);
    assert!(refusal.message.contains("limit of 65536 (--max-message-bytes)"), "names the limit: {}", refusal.message);
    drop(requests);
    assert!(responses.message().within("the end of the call").await??.is_none(), "ends cleanly");
    Ok(())
}
