//! The workloads, each driving a running cluster through the Rust SDK and
//! returning what it measured: no-op throughput, sequential single-task
//! latency, the makespan of a batch of sleep tasks, and Poisson arrivals of
//! sleep-task jobs at a given fraction of the cluster's slot capacity.
//! Every loop is bounded in count and in time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use passer::{Bytes, Client, JobSpec, TaskOutput};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::hops::{self, HopSummary, RoundTripStamps};
use super::stats::Summary;

/// How long any one job may take before the workload gives up on it.
const JOB_TIMEOUT: Duration = Duration::from_secs(120);

/// No-op throughput.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Tasks run.
    pub tasks: usize,
    /// Tasks per job.
    pub job_size: usize,
    /// Jobs in flight at once.
    pub inflight_jobs: usize,
    /// Bytes of each task's payload (echoed back as its output).
    pub payload_bytes: usize,
    /// From the first submission to the last result.
    pub seconds: f64,
    /// Tasks per second, end to end.
    pub tasks_per_second: f64,
    /// Tasks that did not succeed.
    pub failed: usize,
}

/// Sequential single-task round trips.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Round trips, in microseconds (submit until the result is in hand).
    pub round_trip_us: Summary,
    /// As the scheduler saw them: job accepted until the result was in, in microseconds.
    pub scheduler_us: Summary,
    /// Job accepted until the task was launched on a node monitor, in microseconds.
    pub queued_us: Summary,
    /// Time in the executor, as it reported it, in microseconds.
    pub run_us: Summary,
    /// Each hop of the round trip ([`hops::HOP_NAMES`]), from the stamps on the messages.
    pub hops: Vec<HopSummary>,
    /// Tasks that did not succeed.
    pub failed: usize,
}

/// A batch of equal sleep tasks submitted at once.
#[derive(Debug, Clone, Serialize)]
pub struct Makespan {
    /// Tasks run.
    pub tasks: usize,
    /// Each task's service time, in milliseconds.
    pub service_ms: u64,
    /// Executor slots the tasks share.
    pub slots: u32,
    /// From submission to the last result.
    pub seconds: f64,
    /// tasks × service time / slots.
    pub ideal_seconds: f64,
    /// seconds / ideal_seconds.
    pub ratio_to_ideal: f64,
    /// Tasks that did not succeed.
    pub failed: usize,
}

/// One point of the load sweep.
#[derive(Debug, Clone, Serialize)]
pub struct LoadPoint {
    /// Offered load as a fraction of slot capacity.
    pub load: f64,
    /// Offered tasks per second.
    pub offered_tasks_per_second: f64,
    /// Tasks per job.
    pub job_size: usize,
    /// Each task's service time, in milliseconds.
    pub service_ms: u64,
    /// Tasks submitted.
    pub tasks: usize,
    /// Tasks that did not succeed or did not finish in time.
    pub failed: usize,
    /// Response time (job submission to this task's result) over service time.
    pub response_ratio: Summary,
    /// Response time in milliseconds (from the first submission, so it
    /// includes the time a refused job waited to be retried).
    pub response_ms: Summary,
    /// Response time of admitted jobs in milliseconds: from the job's
    /// acceptance to the scheduler holding the task's result.
    pub admitted_response_ms: Summary,
    /// Submissions the scheduler refused (`RESOURCE_EXHAUSTED`) and the SDK
    /// retried.
    pub refusals: u64,
    /// Peak RSS of the scheduler and node monitors together once this point
    /// had run (VmHWM: the peak since they started), in MiB.
    pub servers_peak_rss_mib: f64,
}

/// Runs a tiny job so connections are open before anything is timed.
pub async fn warm_up(client: &Client) -> anyhow::Result<()> {
    let outputs = run_job(client, JobSpec::uniform("", "echo", 8, "warm")).await?;
    if outputs.iter().any(|(output, _)| !output.succeeded()) {
        bail!("warm-up job failed: {:?}", outputs.iter().find(|(output, _)| !output.succeeded()));
    }
    Ok(())
}

/// Submits `job` and collects every result with the instant it arrived.
async fn run_job(client: &Client, job: JobSpec) -> anyhow::Result<Vec<(TaskOutput, Instant)>> {
    Ok(run_job_counting_refusals(client, job).await?.0)
}

/// As [`run_job`], also returning how often the scheduler refused the job
/// before admitting it.
async fn run_job_counting_refusals(client: &Client, job: JobSpec) -> anyhow::Result<(Vec<(TaskOutput, Instant)>, u64)> {
    let job_id = job.job_id.clone();
    let collect = async {
        let mut results = client.submit(job).await?;
        let mut outputs = Vec::with_capacity(results.task_count());
        while let Some(output) = results.next().await {
            outputs.push((output?, Instant::now()));
        }
        Ok::<_, passer::ClientError>((outputs, u64::from(results.rejections())))
    };
    tokio::time::timeout(JOB_TIMEOUT, collect)
        .await
        .with_context(|| format!("job {job_id} did not finish within {JOB_TIMEOUT:?}"))?
        .with_context(|| format!("job {job_id}"))
}

/// Runs `tasks` echo tasks of `payload_bytes` each (at least 1) in jobs of
/// `job_size`, `inflight_jobs` at a time. Every task shares one payload buffer.
pub async fn throughput(
    client: &Client,
    tasks: usize,
    job_size: usize,
    inflight_jobs: usize,
    payload_bytes: usize,
) -> anyhow::Result<Throughput> {
    anyhow::ensure!(
        tasks >= 1 && job_size >= 1 && inflight_jobs >= 1 && payload_bytes >= 1,
        "tasks, job size, in-flight jobs and payload bytes must be >= 1"
    );
    let payload = Bytes::from(vec![b'x'; payload_bytes]);
    let permits = Arc::new(Semaphore::new(inflight_jobs));
    let started = Instant::now();
    // Finished jobs are reaped as the loop goes: a finished task's memory is
    // freed only once its handle is joined, and keeping every handle to the
    // end grew the client by ~4 KiB per job (its page faults were a tenth of
    // the machine's CPU in a single-task run; docs/benchmarks.md).
    let mut running = JoinSet::new();
    let mut failed = 0;
    let mut remaining = tasks;
    while remaining > 0 {
        let size = remaining.min(job_size);
        remaining -= size;
        let permit = permits.clone().acquire_owned().await.context("semaphore closed")?;
        while let Some(joined) = running.try_join_next() {
            failed += joined.context("throughput job panicked")??;
        }
        let client = client.clone();
        let job = JobSpec::uniform("", "echo", size, payload.clone());
        running.spawn(async move {
            let outputs = run_job(&client, job).await;
            drop(permit);
            outputs.map(|outputs| outputs.iter().filter(|(output, _)| !output.succeeded()).count())
        });
    }
    while let Some(joined) = running.join_next().await {
        failed += joined.context("throughput job panicked")??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let tasks_per_second = tasks as f64 / seconds;
    Ok(Throughput { tasks, job_size, inflight_jobs, payload_bytes, seconds, tasks_per_second, failed })
}

/// Runs `count` single-task echo jobs one after another.
pub async fn latency(client: &Client, count: usize) -> anyhow::Result<Latency> {
    let mut round_trips = Vec::with_capacity(count);
    let (mut scheduler, mut queued, mut run) = (Vec::new(), Vec::new(), Vec::new());
    let mut stamps = Vec::with_capacity(count);
    let mut failed = 0;
    for _ in 0..count {
        let started = Instant::now();
        let submitted_us = passer_proto::unix_micros();
        let outputs = run_job(client, JobSpec::uniform("", "echo", 1, "x")).await?;
        round_trips.push(started.elapsed());
        for (output, received) in &outputs {
            failed += usize::from(!output.succeeded());
            if let Some(hop_times) = output.hops.as_deref() {
                let since_submit = u64::try_from(received.duration_since(started).as_micros()).unwrap_or(u64::MAX);
                stamps.push(RoundTripStamps {
                    submitted_us,
                    client_received_us: submitted_us + since_submit,
                    total_micros: u64::try_from(output.total.as_micros()).unwrap_or(u64::MAX),
                    run_micros: u64::try_from(output.run.as_micros()).unwrap_or(u64::MAX),
                    hops: *hop_times,
                });
            }
            scheduler.push(output.total);
            queued.push(output.queued);
            run.push(output.run);
        }
    }
    Ok(Latency {
        round_trip_us: Summary::of_micros(&round_trips),
        scheduler_us: Summary::of_micros(&scheduler),
        queued_us: Summary::of_micros(&queued),
        run_us: Summary::of_micros(&run),
        hops: hops::summarise(&stamps),
        failed,
    })
}

/// Submits `tasks` sleep tasks of `service_ms` as one job and times the last result.
pub async fn makespan(client: &Client, tasks: usize, service_ms: u64, slots: u32) -> anyhow::Result<Makespan> {
    let payload = service_ms.to_string();
    let started = Instant::now();
    let outputs = run_job(client, JobSpec::uniform("", "sleep", tasks, payload)).await?;
    let seconds = started.elapsed().as_secs_f64();
    let ideal_seconds = tasks as f64 * service_ms as f64 / 1000.0 / f64::from(slots);
    let failed = outputs.iter().filter(|(output, _)| !output.succeeded()).count();
    Ok(Makespan { tasks, service_ms, slots, seconds, ideal_seconds, ratio_to_ideal: seconds / ideal_seconds, failed })
}

/// What one load point offers.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    /// Fraction of slot capacity, in (0, 4]; above 1 is overload.
    pub load: f64,
    /// Slots of the cluster.
    pub slots: u32,
    /// Service time of each sleep task.
    pub service_ms: u64,
    /// Tasks per job.
    pub job_size: usize,
    /// How long arrivals continue.
    pub duration: Duration,
    /// Most tasks offered, whatever the duration.
    pub max_tasks: usize,
    /// Seed of the arrival process.
    pub seed: u64,
}

/// Offers jobs of sleep tasks with Poisson arrivals at `spec.load` of the
/// cluster's capacity and measures each task's response time.
pub async fn load_point(client: &Client, spec: LoadSpec) -> anyhow::Result<LoadPoint> {
    anyhow::ensure!(spec.load > 0.0 && spec.load <= 4.0, "load {} must be in (0, 4]", spec.load);
    anyhow::ensure!(spec.service_ms >= 1 && spec.job_size >= 1, "service time and job size must be >= 1");
    let capacity_tasks_per_second = f64::from(spec.slots) * 1000.0 / spec.service_ms as f64;
    let offered_tasks_per_second = spec.load * capacity_tasks_per_second;
    let jobs_per_second = offered_tasks_per_second / spec.job_size as f64;
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let payload = Bytes::from(spec.service_ms.to_string());
    let started = tokio::time::Instant::now();
    let mut next_arrival = started;
    let mut handles = Vec::new();
    let mut offered = 0;
    while offered < spec.max_tasks && next_arrival.duration_since(started) < spec.duration {
        tokio::time::sleep_until(next_arrival).await;
        let client = client.clone();
        let job = JobSpec::uniform("", "sleep", spec.job_size, payload.clone());
        offered += spec.job_size;
        handles.push(tokio::spawn(async move {
            let submitted = Instant::now();
            let (outputs, refusals) = run_job_counting_refusals(&client, job).await?;
            let responses = outputs
                .into_iter()
                .map(|(output, arrived)| (output.succeeded(), arrived - submitted, output.total))
                .collect::<Vec<_>>();
            Ok::<_, anyhow::Error>((responses, refusals))
        }));
        let uniform: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
        next_arrival += Duration::from_secs_f64(-uniform.ln() / jobs_per_second);
    }
    let service_seconds = spec.service_ms as f64 / 1000.0;
    let mut ratios = Vec::with_capacity(offered);
    let mut millis = Vec::with_capacity(offered);
    let mut admitted_millis = Vec::with_capacity(offered);
    let mut failed = 0;
    let mut refusals = 0;
    for handle in handles {
        match handle.await.context("load job panicked")? {
            Ok((results, job_refusals)) => {
                refusals += job_refusals;
                for (succeeded, response, admitted_response) in results {
                    failed += usize::from(!succeeded);
                    ratios.push(response.as_secs_f64() / service_seconds);
                    millis.push(response.as_secs_f64() * 1000.0);
                    admitted_millis.push(admitted_response.as_secs_f64() * 1000.0);
                }
            }
            Err(_) => failed += spec.job_size,
        }
    }
    Ok(LoadPoint {
        load: spec.load,
        offered_tasks_per_second,
        job_size: spec.job_size,
        service_ms: spec.service_ms,
        tasks: offered,
        failed,
        response_ratio: Summary::of(&ratios),
        response_ms: Summary::of(&millis),
        admitted_response_ms: Summary::of(&admitted_millis),
        refusals,
        servers_peak_rss_mib: 0.0,
    })
}
