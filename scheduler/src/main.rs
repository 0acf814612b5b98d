//! The `passer-scheduler` binary: parse flags, set up logging, serve
//! until SIGINT/SIGTERM.

use clap::Parser;
use passer::telemetry::{init_logging, LogFormat};
use passer_scheduler::SchedulerConfig;

/// passer scheduler: batch sampling with late binding.
#[derive(Debug, Parser)]
#[command(name = "passer-scheduler", version)]
struct Cli {
    #[command(flatten)]
    config: SchedulerConfig,
    /// Log format: pretty or json.
    #[arg(long, env = "PASSER_LOG_FORMAT", default_value = "pretty")]
    log_format: LogFormat,
    /// Also write logs to this file, rotated daily (`<file>.YYYY-MM-DD`).
    #[arg(long, env = "PASSER_LOG_FILE")]
    log_file: Option<std::path::PathBuf>,
    /// Runtime worker threads (0 = a single-threaded runtime).
    #[arg(long, env = "PASSER_WORKER_THREADS", default_value_t = 0)]
    worker_threads: usize,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _log_guard = match init_logging(cli.log_format, "info", cli.log_file.as_deref()) {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("passer-scheduler: {error}");
            return std::process::ExitCode::from(64);
        }
    };
    if let Err(message) = cli.config.validate() {
        eprintln!("passer-scheduler: {message}");
        return std::process::ExitCode::from(64);
    }
    // Loaded once, here: a scheduler that cannot read its TLS or token
    // files refuses to start rather than run without them.
    let security = match cli.config.security.load() {
        Ok(security) => security,
        Err(message) => {
            eprintln!("passer-scheduler: {message}");
            return std::process::ExitCode::from(64);
        }
    };
    let runtime = match passer::runtime::build(cli.worker_threads) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("passer-scheduler: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cli.config.listen).await?;
        passer_scheduler::run_with_security(listener, cli.config, security, passer::signal::shutdown_signal()).await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("passer-scheduler: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
