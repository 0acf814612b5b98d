//! `passer cancel JOB`: cancels a job from any terminal. Every scheduler
//! given is asked until one runs the job; its queued reservations are
//! dropped and its running tasks stopped, and its client (if still
//! attached) gets a `CANCELLED` result for every unfinished task.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

/// Flags of `passer cancel`.
#[derive(Debug, Args)]
pub(crate) struct CancelArgs {
    /// The job's id (as `passer submit` prints it).
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

/// Runs `passer cancel`: exit 0 when a scheduler cancelled the job, 1 when
/// none knows it.
pub(crate) async fn run(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let client =
        crate::results::job_client(&args.scheduler, args.token.clone(), args.token_file.as_deref(), &args.tls)?;
    let found = client.cancel(&args.job_id).await.with_context(|| format!("cannot cancel job {}", args.job_id))?;
    if found {
        println!("cancelled job {}", args.job_id);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("passer: no scheduler of {} is running job {}", args.scheduler.join(","), args.job_id);
        Ok(ExitCode::from(1))
    }
}
