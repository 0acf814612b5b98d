//! The one `main` of every passer server binary (`passer-scheduler`,
//! `passer-node-monitor`): parse the server's flags plus the process flags
//! ([`ProcessArgs`]: log format and file, runtime threads), set up logging,
//! check the flags, load the TLS and token files once, build the runtime,
//! bind the listener and serve until SIGINT or SIGTERM. Bad flags or files
//! exit with 64 (`EX_USAGE`) and a message naming what is wrong; a server
//! that fails while running exits with 1.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser};
use tokio::net::TcpListener;

use crate::security::{Security, SecurityArgs};
use crate::telemetry::{init_logging, LogFormat};

/// Exit code for bad flags or unreadable files (`EX_USAGE`).
const EXIT_USAGE: u8 = 64;

/// What a server's configuration gives the shared `main`.
pub trait ServerConfig: Args + Send + 'static {
    /// Checks what clap cannot; the message names the bad flag.
    fn validate(&self) -> Result<(), String>;
    /// The TLS and token flags, loaded once before serving.
    fn security(&self) -> &SecurityArgs;
    /// The address to listen on.
    fn listen(&self) -> SocketAddr;
    /// Serves on `listener` with `security` until `shutdown` resolves.
    fn serve(
        self,
        listener: TcpListener,
        security: Security,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The flags every server binary takes besides its own.
#[derive(Debug, Clone, Args)]
pub struct ProcessArgs {
    /// Log format: pretty or json.
    #[arg(long, env = "PASSER_LOG_FORMAT", default_value = "pretty")]
    pub log_format: LogFormat,
    /// Also write logs to this file, rotated daily (`<file>.YYYY-MM-DD`).
    #[arg(long, env = "PASSER_LOG_FILE")]
    pub log_file: Option<PathBuf>,
    /// Runtime worker threads (0 = a single-threaded runtime).
    #[arg(long, env = "PASSER_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,
}

/// A server's command line: its own flags and the process flags.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli<C: Args> {
    #[command(flatten)]
    config: C,
    #[command(flatten)]
    process: ProcessArgs,
}

/// The whole `main` of the server binary `name` (described by `about` in
/// `--help`): parses the command line, then runs as [`run`] does.
pub fn main<C: ServerConfig>(name: &'static str, about: &'static str) -> ExitCode {
    let mut command = Cli::<C>::command().name(name).about(about);
    let matches = command.get_matches_mut();
    let cli = match Cli::<C>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.format(&mut command).exit(),
    };
    run(name, cli.config, cli.process)
}

/// Logging, flag checks, security, runtime, listener, then serving until
/// SIGINT or SIGTERM. Errors are printed prefixed with `name`.
pub fn run<C: ServerConfig>(name: &str, config: C, process: ProcessArgs) -> ExitCode {
    let _log_guard = match init_logging(process.log_format, "info", process.log_file.as_deref()) {
        Ok(guard) => guard,
        Err(error) => return usage_error(name, &error.to_string()),
    };
    if let Err(message) = config.validate() {
        return usage_error(name, &message);
    }
    // Loaded once, here: a server that cannot read its TLS or token files
    // refuses to start rather than run without them.
    let security = match config.security().load() {
        Ok(security) => security,
        Err(message) => return usage_error(name, &message),
    };
    let runtime = match crate::runtime::build(process.worker_threads) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{name}: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let listen = config.listen();
        let listener =
            TcpListener::bind(listen).await.map_err(|error| anyhow::anyhow!("cannot bind {listen}: {error}"))?;
        config.serve(listener, security, passer::signal::shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(name: &str, message: &str) -> ExitCode {
    eprintln!("{name}: {message}");
    ExitCode::from(EXIT_USAGE)
}
