//! `passer dev`: one scheduler and N node monitors with built-in executors
//! in this process on loopback; runs a sample job and prints a summary, or
//! with `--serve` keeps the cluster up for `passer submit`.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use passer::{Client, ClientConfig, JobSpec};
use passer_node_monitor::NodeMonitorConfig;
use passer_scheduler::SchedulerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::summary::Summary;

/// Flags of `passer dev`.
#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Node monitors to start.
    #[arg(long, default_value_t = 4)]
    pub(crate) nodes: usize,
    /// Slots of each built-in executor per node monitor.
    #[arg(long, default_value_t = 4)]
    pub(crate) slots: u32,
    /// Tasks in the sample job.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) tasks: usize,
    /// Keep the cluster running and print its addresses instead of running the sample job.
    #[arg(long)]
    pub(crate) serve: bool,
    /// Scheduler port with --serve (0 picks a free one).
    #[arg(long, default_value_t = 20503)]
    pub(crate) scheduler_port: u16,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    pub(crate) worker_threads: usize,
}

/// Runs `passer dev`.
pub(crate) async fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.nodes >= 1, "--nodes must be at least 1");
    let (stop, stopped) = watch::channel(false);
    let wait_stop = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let mut node_addresses = Vec::new();
    for _ in 0..args.nodes {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("cannot bind a node monitor port")?;
        let address = listener.local_addr()?;
        node_addresses.push(address.to_string());
        let config = NodeMonitorConfig::local(address, &["echo", "sleep"], args.slots);
        let shutdown = wait_stop();
        tokio::spawn(async move {
            if let Err(error) = passer_node_monitor::run(listener, config, shutdown).await {
                eprintln!("passer dev: node monitor failed: {error:#}");
            }
        });
    }
    let scheduler_port = if args.serve { args.scheduler_port } else { 0 };
    let listener = TcpListener::bind(("127.0.0.1", scheduler_port))
        .await
        .with_context(|| format!("cannot bind scheduler port {scheduler_port}"))?;
    let scheduler_address = listener.local_addr()?.to_string();
    let config = SchedulerConfig::local(listener.local_addr()?, node_addresses.clone());
    let shutdown = wait_stop();
    let scheduler = tokio::spawn(async move { passer_scheduler::run(listener, config, shutdown).await });

    if args.serve {
        println!("passer dev: scheduler at {scheduler_address}");
        println!("passer dev: node monitors at {}", node_addresses.join(", "));
        println!("try: passer submit --scheduler {scheduler_address} --executor echo --count 1000");
        passer::signal::shutdown_signal().await;
        let _ = stop.send(true);
        let _ = scheduler.await;
        return Ok(ExitCode::SUCCESS);
    }

    let client = Client::new(ClientConfig::new([scheduler_address.clone()])).context("cannot create the client")?;
    println!(
        "passer dev: 1 scheduler, {} node monitors x {} slots, running {} echo tasks",
        args.nodes, args.slots, args.tasks
    );
    let job = JobSpec::uniform("", "echo", args.tasks, "hello");
    let started = Instant::now();
    let results = client.run(job).await.context("the sample job failed")?;
    let summary = Summary::new(&results, started.elapsed());
    println!("{}", summary.render());
    // The process exits now; the in-process servers need no orderly stop.
    drop((stop, scheduler));
    let all_ok = summary.succeeded == args.tasks;
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
