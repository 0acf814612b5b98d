//! `passer results JOB`: streams a job's results from any terminal — a job
//! submitted with `passer submit --detach`, or one another client runs. The
//! results so far come first, then the rest as they end; a finished job's
//! come back while a scheduler keeps them (`--keep-results-secs`). Printed
//! as `passer submit` prints them, with the same exit codes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use passer::{Client, ClientConfig, JobWatch};

use crate::result_printer::ResultPrinter;

/// Flags of `passer results`.
#[derive(Debug, Args)]
pub(crate) struct ResultsArgs {
    /// The job's id (as `passer submit --detach` prints it).
    pub(crate) job_id: String,
    /// Schedulers to ask (comma-separated host:port).
    #[arg(
        long,
        alias = "schedulers",
        env = "PASSER_SCHEDULERS",
        value_delimiter = ',',
        default_value = "127.0.0.1:20503"
    )]
    pub(crate) scheduler: Vec<String>,
    /// Print one JSON object per task result on stdout, then a summary object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Shared token (also PASSER_TOKEN).
    #[arg(long, env = "PASSER_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Read the shared token from this file (surrounding whitespace trimmed); wins over --token.
    #[arg(long, env = "PASSER_TOKEN_FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// TLS, as for `passer submit`.
    #[command(flatten)]
    pub(crate) tls: crate::tls_args::TlsArgs,
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

/// A client of `schedulers` with the token (or token file) and TLS flags
/// of the commands that name a job (`results`, `logs`, `cancel`).
pub(crate) fn job_client(
    schedulers: &[String],
    token_opt: Option<String>,
    token_file_opt: Option<&std::path::Path>,
    tls: &crate::tls_args::TlsArgs,
) -> anyhow::Result<Client> {
    let token = passer::security::token::load_token(token_file_opt, token_opt).map_err(anyhow::Error::msg)?;
    let mut config = ClientConfig::new(schedulers.to_vec());
    config.token = token;
    config.tls = tls.files();
    Client::new(config).context("bad client configuration")
}

/// Re-attaches to the job `args` names with its connection and security
/// flags (also for `passer logs`).
pub(crate) async fn watch_job(args: &ResultsArgs) -> anyhow::Result<JobWatch> {
    let client = job_client(&args.scheduler, args.token.clone(), args.token_file.as_deref(), &args.tls)?;
    client.watch(&args.job_id).await.with_context(|| format!("cannot fetch job {}", args.job_id))
}
