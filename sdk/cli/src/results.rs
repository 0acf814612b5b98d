//! `passer results JOB`: streams a job's results from any terminal — a job
//! submitted with `passer submit --detach`, or one another client runs. The
//! results so far come first, then the rest as they end; a finished job's
//! come back while a scheduler keeps them (`--keep-results-secs`). Printed
//! as `passer submit` prints them, with the same exit codes.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use passer::JobWatch;

use crate::result_printer::ResultPrinter;

/// Flags of `passer results`.
#[derive(Debug, Args)]
pub(crate) struct ResultsArgs {
    /// The job's id (as `passer submit --detach` prints it).
    pub(crate) job_id: String,
    /// How to reach the schedulers.
    #[command(flatten)]
    pub(crate) client: crate::client_args::ClientArgs,
    /// Print one JSON object per task result on stdout, then a summary object.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `passer results`: exit 0 when every task succeeded, 2 when some did
/// not, 1 when no scheduler knows the job.
pub(crate) async fn run(args: ResultsArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut watch = watch_job(&args).await?;
    let mut printer = ResultPrinter::new(watch.task_count(), args.json, started);
    while let Some(result) = watch.next().await {
        printer.print(result.with_context(|| format!("the results of job {} broke off", args.job_id))?)?;
    }
    Ok(printer.finish(serde_json::json!({ "job_id": args.job_id, "scheduler": watch.scheduler() }))?)
}

/// Re-attaches to the job `args` names with its connection and security
/// flags (also for `passer logs`).
pub(crate) async fn watch_job(args: &ResultsArgs) -> anyhow::Result<JobWatch> {
    let client = args.client.client().await?;
    client.watch(&args.job_id).await.with_context(|| format!("cannot fetch job {}", args.job_id))
}
