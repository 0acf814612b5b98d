//! `passer executor`: the built-in handlers (`echo`, `sleep`) as a separate
//! executor process, attached to a node monitor over gRPC. Node monitors
//! supervise it with `--executor "passer executor"`.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use passer::executor::Executor;

/// Flags of `passer executor`.
#[derive(Debug, Args)]
pub(crate) struct ExecutorArgs {
    /// Node monitor to attach to: `host:port`, `http://host:port`, or its
    /// Unix socket as `unix:/path` (TLS flags do not apply to a socket).
    #[arg(long, env = "PASSER_ATTACH_ADDR", default_value = "http://127.0.0.1:20501")]
    pub(crate) attach: String,
    /// Built-in handlers to serve (comma-separated: echo, sleep).
    #[arg(long, value_delimiter = ',', default_value = "echo")]
    pub(crate) builtin: Vec<String>,
    /// Slots per handler.
    #[arg(long, default_value_t = 4)]
    pub(crate) slots: u32,
    /// Shared token (also PASSER_TOKEN).
    #[arg(long, env = "PASSER_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// TLS.
    #[command(flatten)]
    pub(crate) tls: crate::tls_args::TlsArgs,
    /// Milliseconds between heartbeats on the attach stream (a node monitor
    /// withdraws an executor silent past its --executor-silence-ms).
    #[arg(long, env = "PASSER_HEARTBEAT_MS", default_value_t = 5_000)]
    pub(crate) heartbeat_ms: u64,
    /// Exit once this process (the supervising node monitor, which sets it) is gone.
    #[arg(long, env = "PASSER_SUPERVISOR_PID", hide = true)]
    pub(crate) supervisor_pid: Option<u32>,
}

/// Runs `passer executor` until SIGINT/SIGTERM.
pub(crate) async fn run(args: ExecutorArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.slots >= 1, "--slots must be at least 1");
    let mut builder = Executor::builder(args.attach.clone())
        .token(args.token.clone())
        .tls(args.tls.files())
        .supervised_by(args.supervisor_pid)
        .heartbeat_interval(std::time::Duration::from_millis(args.heartbeat_ms))
        .name(format!("passer-executor-{}", std::process::id()));
    for name in &args.builtin {
        let handler = passer::builtin::builtin_handler(name).with_context(|| {
            format!(
                "--builtin {name:?} is not a built-in handler (known: {})",
                passer::builtin::BUILTIN_NAMES.join(", ")
            )
        })?;
        builder = builder.shared_handler(name.clone(), args.slots, handler);
    }
    builder.run(passer::signal::shutdown_signal()).await.context("executor failed")?;
    Ok(ExitCode::SUCCESS)
}
