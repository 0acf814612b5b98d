//! The `passer` command line: `dev` (an embedded cluster running a sample
//! job), `submit`, `run` (a task graph from a file), `executor` (built-in
//! handlers as an external executor process), `health`, `status`, `results`
//! (a job's results from any terminal) and `cancel`.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

mod cancel;
mod client_args;
mod connect_args;
mod dev;
mod executor;
mod graph_file;
mod health;
mod logs;
mod progress;
mod result_printer;
mod results;
mod run;
mod status;
mod submit;
mod summary;
mod tls_args;

use clap::{Parser, Subcommand};
use passer_server::telemetry::{init_tracing, LogFormat};

/// passer: low-latency decentralized task scheduling.
#[derive(Debug, Parser)]
#[command(name = "passer", version)]
struct Cli {
    /// Log format: pretty or json.
    #[arg(long, global = true, env = "PASSER_LOG_FORMAT", default_value = "pretty")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a scheduler and node monitors in this process and run a sample job.
    Dev(dev::DevArgs),
    /// Submit a job of N tasks and print the results.
    Submit(submit::SubmitArgs),
    /// Run a task graph described in a file (TOML or JSON): stages, their tasks and edges.
    Run(run::RunArgs),
    /// Run the built-in handlers as an executor process attached to a node monitor.
    Executor(executor::ExecutorArgs),
    /// Check a server's gRPC health; exit 0 when it is serving.
    Health(health::HealthArgs),
    /// Show the schedulers and node monitors of a cluster (`--watch` to refresh).
    Status(status::StatusArgs),
    /// Stream a job's results by its id, from any terminal (e.g. after `submit --detach`).
    Results(results::ResultsArgs),
    /// Cancel a running job by its id, from any terminal.
    Cancel(cancel::CancelArgs),
    /// Print what a job's tasks wrote (their logs), or one task's.
    Logs(logs::LogsArgs),
}

/// mimalloc instead of glibc malloc: fewer cycles per allocation on the hot
/// paths (see docs/benchmarks.md, "CPU per job").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Dev(_)
        | Command::Submit(_)
        | Command::Run(_)
        | Command::Health(_)
        | Command::Status(_)
        | Command::Results(_)
        | Command::Cancel(_)
        | Command::Logs(_) => "warn",
        Command::Executor(_) => "info",
    };
    init_tracing(cli.log_format, default_filter);
    let threads = match &cli.command {
        Command::Dev(args) => args.worker_threads,
        _ => 0,
    };
    let runtime = match passer_server::runtime::build(threads) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("passer: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Dev(args) => dev::run(args).await,
            Command::Submit(args) => submit::run(args).await,
            Command::Run(args) => run::run(args).await,
            Command::Executor(args) => executor::run(args).await,
            Command::Health(args) => health::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Results(args) => results::run(args).await,
            Command::Cancel(args) => cancel::run(args).await,
            Command::Logs(args) => logs::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("passer: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
