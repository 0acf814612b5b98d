//! `passer cancel JOB`: cancels a job from any terminal. Every scheduler
//! given is asked until one runs the job; its queued reservations are
//! dropped and its running tasks stopped, and its client (if still
//! attached) gets a `CANCELLED` result for every unfinished task.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

/// Flags of `passer cancel`.
#[derive(Debug, Args)]
pub(crate) struct CancelArgs {
    /// The job's id (as `passer submit` prints it).
    pub(crate) job_id: String,
    /// How to reach the schedulers.
    #[command(flatten)]
    pub(crate) client: crate::client_args::ClientArgs,
}

/// Runs `passer cancel`: exit 0 when a scheduler cancelled the job, 1 when
/// none knows it.
pub(crate) async fn run(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let client = args.client.client().await?;
    let found = client.cancel(&args.job_id).await.with_context(|| format!("cannot cancel job {}", args.job_id))?;
    if found {
        println!("cancelled job {}", args.job_id);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("passer: no scheduler of {} is running job {}", args.client.scheduler.join(","), args.job_id);
        Ok(ExitCode::from(1))
    }
}
