//! `passer-wordcount`: word count as a passer task graph, with Rust executors.
//!
//! - `passer-wordcount executor`: serves `wc-map` and `wc-reduce`; a node
//!   monitor supervises it with `--executor "passer-wordcount executor"`.
//! - `passer-wordcount run`: writes text files, runs map (one task per
//!   file) then a hash-partitioned reduce, prints the top words, and checks
//!   the counts against counting the files itself.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

mod counting;
mod executor;
mod frontend;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use passer::executor::ExecutorBuilder;
use passer::{Client, ClientConfig};
use tracing_subscriber::EnvFilter;

/// Word count over passer task graphs.
#[derive(Debug, Parser)]
#[command(name = "passer-wordcount")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve wc-map and wc-reduce, attached to the node monitor in PASSER_ATTACH_ADDR.
    Executor {
        /// Slots per handler.
        #[arg(long, default_value_t = 2)]
        slots: u32,
    },
    /// Generate text files and count their words with a map/reduce graph.
    Run {
        /// Schedulers (comma-separated host:port).
        #[arg(long, env = "PASSER_SCHEDULERS", value_delimiter = ',', default_value = "127.0.0.1:20503")]
        scheduler: Vec<String>,
        /// Where to write the text files (every node must see it).
        #[arg(long, default_value = "/tmp/passer-wordcount-rust")]
        dir: PathBuf,
        /// Map tasks: one per file.
        #[arg(long, default_value_t = 200)]
        files: usize,
        /// Reduce tasks: one per hash partition.
        #[arg(long, default_value_t = 20)]
        reduces: usize,
        /// Words per file.
        #[arg(long, default_value_t = 2000)]
        words: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs (the SDK's warnings) on stderr, RUST_LOG to change the level.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("passer-wordcount: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("passer-wordcount: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Executor { slots } => {
            ExecutorBuilder::from_env()?
                .name(format!("passer-wordcount-{}", std::process::id()))
                .handler("wc-map", slots, executor::map)
                .handler("wc-reduce", slots, executor::reduce)
                .run(passer::signal::shutdown_signal())
                .await
                .context("executor failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { scheduler, dir, files, reduces, words } => {
            anyhow::ensure!(files >= 1 && reduces >= 1, "--files and --reduces must be at least 1");
            let client = Client::new(ClientConfig::new(scheduler))?;
            frontend::run(&client, &dir, &frontend::Job { files, reduces, words }).await
        }
    }
}
