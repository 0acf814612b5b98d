//! `passer submit`: submit a job of N tasks of one executor type and print
//! each result (with `--json`, one JSON object per line) and a summary; on
//! a terminal, a progress bar with rate and ETA while it runs. With
//! `--detach`, print the job id once accepted and leave the job running.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use passer::{JobSpec, JobUpdate, TaskSpec};

use crate::result_printer::ResultPrinter;

/// Flags of `passer submit`.
#[derive(Debug, Args)]
pub(crate) struct SubmitArgs {
    /// How to reach the schedulers.
    #[command(flatten)]
    pub(crate) client: crate::client_args::ClientArgs,
    /// Executor type of every task.
    #[arg(long, default_value = "echo")]
    pub(crate) executor: String,
    /// Number of tasks.
    #[arg(long, default_value_t = 1)]
    pub(crate) count: usize,
    /// Payload of every task (`{i}` is replaced by the task's index).
    #[arg(long, default_value = "")]
    pub(crate) payload: String,
    /// Job id (generated when empty).
    #[arg(long, default_value = "")]
    pub(crate) job_id: String,
    /// Tenant to account the job to.
    #[arg(long, default_value = "")]
    pub(crate) tenant: String,
    /// Priority of the job (node monitors cap it per tenant).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub(crate) priority: i32,
    /// A node id or `key=value` label every task needs (repeatable).
    #[arg(long = "constraint")]
    pub(crate) constraints: Vec<String>,
    /// Per-attempt timeout in milliseconds (0 = the scheduler's default).
    #[arg(long, default_value_t = 0)]
    pub(crate) timeout_ms: u64,
    /// Attempts per task (0 = the scheduler's default).
    #[arg(long, default_value_t = 0)]
    pub(crate) max_attempts: u32,
    /// Retry a task whose own code failed (an error, a non-zero exit) up to
    /// its attempts, after a backoff; without it such a failure is final.
    #[arg(long)]
    pub(crate) retry_on_error: bool,
    /// With --retry-on-error: milliseconds before the first retry, doubling
    /// for each later one (0 = the scheduler's default, 200 ms).
    #[arg(long, default_value_t = 0, requires = "retry_on_error")]
    pub(crate) retry_backoff_ms: u64,
    /// Print one JSON object per task result on stdout, then a summary object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Print the job id once a scheduler accepted the job and exit 0; the job
    /// runs on (`passer results JOB` streams its results, `passer cancel JOB`
    /// stops it).
    #[arg(long)]
    pub(crate) detach: bool,
}

/// Runs `passer submit`.
pub(crate) async fn run(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.count >= 1, "--count must be at least 1");
    let client = args.client.client().await?;
    let mut job = JobSpec::new(args.job_id.clone()).tenant(args.tenant.clone()).priority(args.priority);
    job.constraints = args.constraints.clone();
    for index in 0..args.count {
        let payload = args.payload.replace("{i}", &index.to_string());
        let mut task = TaskSpec::new(format!("t{index}"), args.executor.clone(), payload.into_bytes());
        if args.timeout_ms > 0 {
            task = task.timeout(Duration::from_millis(args.timeout_ms));
        }
        if args.max_attempts > 0 {
            task = task.max_attempts(args.max_attempts);
        }
        if args.retry_on_error {
            task = task.retry_on_error();
        }
        if args.retry_backoff_ms > 0 {
            task = task.retry_backoff(Duration::from_millis(args.retry_backoff_ms));
        }
        job = job.task(task);
    }
    let started = Instant::now();
    let mut results = client.submit(job).await.context("submission failed")?;
    if args.detach {
        // Dropping the stream leaves the job running; `passer results` fetches it.
        if args.json {
            println!("{}", serde_json::json!({ "job_id": results.job_id(), "scheduler": results.scheduler() }));
        } else {
            println!("{}", results.job_id());
            eprintln!(
                "passer: job {} accepted by {}; `passer results {}` streams its results, `passer cancel {}` stops it",
                results.job_id(),
                results.scheduler(),
                results.job_id(),
                results.job_id()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut printer = ResultPrinter::new(args.count, args.json, started);
    while let Some(update) = results.next_update().await {
        match update.context("the job's result stream failed")? {
            JobUpdate::Result(result) => printer.print(result)?,
            JobUpdate::Progress(progress) => printer.progress(&progress),
        }
    }
    let extra = serde_json::json!({
        "rejections": results.rejections(),
        "waited_ms": results.waited().as_millis() as u64,
        "failovers": results.failovers(),
    });
    Ok(printer.finish(extra)?)
}
