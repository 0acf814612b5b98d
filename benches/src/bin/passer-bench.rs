//! The `passer-bench` binary: start a real passer cluster on loopback from
//! the release binaries next to it, run one benchmark (or `compare` with
//! Ray, Dask and Celery), print a summary and write JSON and SVG plots.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use passer_bench::bench::cluster::{ClusterShape, ExecutorMode};
use passer_bench::bench::compare::{self, CompareSpec};
use passer_bench::bench::graphs::GraphSpec;
use passer_bench::bench::job_cost::JobCostSpec;
use passer_bench::bench::output::{write_json, write_svg, LinePlot, Series};
use passer_bench::bench::report;
use passer_bench::bench::runs::{self, LoadSweep};
use passer_bench::bench::{graph_executor, graph_report};

/// Benchmarks passer on a real cluster of processes on loopback.
#[derive(Debug, Parser)]
#[command(name = "passer-bench", version)]
struct Cli {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Directory for JSON results and SVG plots.
    #[arg(long, global = true, default_value = "target/bench")]
    out: PathBuf,
    /// Runtime worker threads of the benchmark client (0 = current-thread).
    #[arg(long, global = true, default_value_t = 0)]
    client_threads: usize,
    #[command(subcommand)]
    command: Command,
}

/// The cluster every benchmark starts.
#[derive(Debug, Args)]
struct ClusterArgs {
    /// Node monitors.
    #[arg(long, global = true, default_value_t = 2)]
    nodes: usize,
    /// Executor slots per node monitor.
    #[arg(long, global = true, default_value_t = 1)]
    slots: u32,
    /// Where executors run: one supervised `passer executor` process per node, or built-in.
    #[arg(long, global = true, value_enum, default_value = "process")]
    executors: ExecutorMode,
    /// Sparrow's probe ratio d (the scheduler's default unless given).
    #[arg(long, global = true, default_value_t = passer_scheduler::config::DEFAULT_PROBE_RATIO)]
    probe_ratio: f64,
    /// Runtime worker threads of the scheduler and node monitors (0 = current-thread).
    #[arg(long, global = true, default_value_t = 0)]
    server_threads: usize,
    /// Tasks per slot the node monitors take ahead of a free slot
    /// (`--prefetch-per-slot`; 0 = pure late binding).
    #[arg(long, global = true, default_value_t = 0)]
    prefetch: u32,
    /// Submit on one `SubmitJobs` stream (the SDK's default); `false`
    /// submits one `SubmitJob` call per job, as before the stream existed.
    #[arg(long, global = true, default_value_t = true, action = clap::ArgAction::Set)]
    submit_stream: bool,
}

/// The load sweep's knobs.
#[derive(Debug, Clone, Args)]
struct SweepArgs {
    /// Offered loads, as fractions of slot capacity.
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.6,0.7,0.8,0.9,0.95")]
    loads: Vec<f64>,
    /// Service time of each sleep task, in milliseconds.
    #[arg(long, default_value_t = 10)]
    service_ms: u64,
    /// Tasks per job.
    #[arg(long, default_value_t = 1)]
    job_size: usize,
    /// Seconds of arrivals per load point.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Most tasks per load point.
    #[arg(long, default_value_t = 20_000)]
    max_tasks: usize,
    /// Seed of the arrival process.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Sleep tasks of the makespan batch run first (0 = none).
    #[arg(long, default_value_t = 2000)]
    makespan_tasks: usize,
    /// Run `python3 -c 'while True: pass'` beside the cluster during the
    /// sweep (killed at the end): the servers compete for CPU.
    #[arg(long)]
    cpu_hog: bool,
}

impl SweepArgs {
    fn sweep(&self) -> LoadSweep {
        LoadSweep {
            loads: self.loads.clone(),
            service_ms: self.service_ms,
            job_size: self.job_size,
            seconds: self.seconds,
            max_tasks: self.max_tasks,
            seed: self.seed,
            makespan_tasks: self.makespan_tasks,
            cpu_hog: self.cpu_hog,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// No-op tasks end to end, in jobs of a given size.
    Throughput {
        /// Tasks in all.
        #[arg(long, default_value_t = 100_000)]
        tasks: usize,
        /// Tasks per job.
        #[arg(long, default_value_t = 1000)]
        job_size: usize,
        /// Jobs in flight at once.
        #[arg(long, default_value_t = 4)]
        inflight_jobs: usize,
    },
    /// Sequential single-task jobs: round-trip median and p99.
    Latency {
        /// Round trips.
        #[arg(long, default_value_t = 1000)]
        count: usize,
    },
    /// A makespan batch, then Poisson arrivals of sleep tasks at several loads.
    Load(SweepArgs),
    /// Slot-bound sleep tasks on 1..=N node monitors.
    Scaling {
        /// Largest number of node monitors.
        #[arg(long, default_value_t = 4)]
        max_nodes: usize,
        /// Service time of each sleep task, in milliseconds.
        #[arg(long, default_value_t = 10)]
        service_ms: u64,
        /// Tasks per slot.
        #[arg(long, default_value_t = 200)]
        tasks_per_slot: usize,
    },
    /// Response times at one load for several probe ratios.
    ProbeRatio {
        /// Probe ratios d.
        #[arg(long, value_delimiter = ',', default_value = "1,1.1,1.5,2,3")]
        ratios: Vec<f64>,
        /// Offered load.
        #[arg(long, default_value_t = 0.8)]
        load: f64,
        #[command(flatten)]
        sweep: SweepArgs,
    },
    /// passer, then Ray, Dask and Celery on the same workloads; writes docs/benchmarks.md.
    Compare(Box<CompareArgs>),
    /// The task-graph benchmarks' executor process (node monitors start it):
    /// echo, sleep, noop, fan-in, wc-map, wc-reduce.
    Executor {
        /// Node monitor to attach to.
        #[arg(long, env = "PASSER_ATTACH_ADDR", default_value = "http://127.0.0.1:20501")]
        attach: String,
        /// Slots per handler.
        #[arg(long, default_value_t = 1)]
        slots: u32,
        /// Exit once this process (the supervising node monitor) is gone.
        #[arg(long, env = "PASSER_SUPERVISOR_PID", hide = true)]
        supervisor_pid: Option<u32>,
    },
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// No-op tasks of passer's throughput run.
    #[arg(long, default_value_t = 50_000)]
    throughput_tasks: usize,
    /// No-op tasks of each peer's throughput run.
    #[arg(long, default_value_t = 5_000)]
    peer_throughput_tasks: usize,
    /// passer's job size in the throughput run.
    #[arg(long, default_value_t = 1000)]
    throughput_job_size: usize,
    /// passer's jobs in flight in the throughput run.
    #[arg(long, default_value_t = 4)]
    inflight_jobs: usize,
    /// Sequential round trips.
    #[arg(long, default_value_t = 1000)]
    latency_count: usize,
    #[command(flatten)]
    sweep: SweepArgs,
    /// Peers to run (ray, dask, celery); empty for none.
    #[arg(long, value_delimiter = ',', default_value = "ray,dask,celery")]
    peers: Vec<String>,
    /// The peers' Python [default: the venv benches/peers/setup.sh makes].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Seconds each peer may take.
    #[arg(long, default_value_t = 900)]
    peer_timeout_secs: u64,
    /// Seconds one graph run of a peer may take; a run past it is reported
    /// as "did not finish" and the peer goes on with its next workload.
    #[arg(long, default_value_t = 120)]
    peer_workload_timeout_secs: u64,
    /// Node monitors of the scaling run (0 = skip).
    #[arg(long, default_value_t = 4)]
    scaling_max_nodes: usize,
    /// Probe ratios at 80% load (empty = skip).
    #[arg(long, value_delimiter = ',', default_value = "1,1.1,1.5,2,3")]
    probe_ratios: Vec<String>,
    /// Tasks per slot passer's node monitors take ahead in the throughput run
    /// (`passer executor` queues them; 0 = pure late binding).
    #[arg(long, default_value_t = 16)]
    throughput_prefetch: u32,
    /// The same for the makespan batch and the load sweep.
    #[arg(long, default_value_t = 1)]
    load_prefetch: u32,
    /// Node monitors of a second load sweep on 4 built-in sleep slots each (0 = skip).
    #[arg(long, default_value_t = 4)]
    wide_nodes: usize,
    /// Single-task jobs on 2 node monitors × 4 built-in slots, for jobs/s
    /// and CPU per job (0 = skip).
    #[arg(long, default_value_t = 20_000)]
    single_task_jobs: usize,
    /// Jobs in flight in that run.
    #[arg(long, default_value_t = 64)]
    single_task_inflight: usize,
    /// Loads of the overload sweep on 16 built-in slots, plain and beside a
    /// CPU hog; the first is the reference the others are judged against
    /// (empty = skip).
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.95,1.2")]
    overload_loads: Vec<String>,
    /// Where to write the Markdown report (empty = nowhere).
    #[arg(long, default_value = "docs/benchmarks.md")]
    doc: PathBuf,
    /// Run only the task graphs, and rewrite only their section of --doc.
    #[arg(long)]
    graphs_only: bool,
    /// Links of the graph chain.
    #[arg(long, default_value_t = 1000)]
    chain_links: usize,
    /// Tasks of the fan-out before the fan-in.
    #[arg(long, default_value_t = 10_000)]
    fan_out_tasks: usize,
    /// Word count files (one map task each).
    #[arg(long, default_value_t = 200)]
    wordcount_files: usize,
    /// Words per word count file.
    #[arg(long, default_value_t = 5000)]
    wordcount_words: usize,
    /// Word count reduce tasks.
    #[arg(long, default_value_t = 20)]
    wordcount_reducers: usize,
    /// Repetitions of each graph workload on passer (0 = skip the graphs).
    #[arg(long, default_value_t = 5)]
    graph_runs: usize,
    /// Repetitions of each graph workload on each peer.
    #[arg(long, default_value_t = 3)]
    peer_graph_runs: usize,
}

impl CompareArgs {
    fn graph_spec(&self, out: &std::path::Path) -> Option<GraphSpec> {
        (self.graph_runs > 0).then(|| GraphSpec {
            chain_links: self.chain_links,
            fan_out_tasks: self.fan_out_tasks,
            wordcount_files: self.wordcount_files,
            wordcount_words: self.wordcount_words,
            wordcount_reducers: self.wordcount_reducers,
            runs: self.graph_runs,
            peer_runs: self.peer_graph_runs.max(1),
            corpus_dir: std::path::absolute(out.join("wordcount")).unwrap_or_else(|_| out.join("wordcount")),
        })
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    point_harness_at_our_binaries();
    let runtime = passer_server::runtime::build(cli.client_threads).context("build the runtime")?;
    runtime.block_on(run(cli))
}

/// The test harness finds the binaries through `PASSER_BIN_DIR`; ours sit next to this one.
fn point_harness_at_our_binaries() {
    if std::env::var_os("PASSER_BIN_DIR").is_some() {
        return;
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(PathBuf::from)) {
        std::env::set_var("PASSER_BIN_DIR", dir);
    }
}

/// Numbers from a comma-separated flag, where an empty value means none.
fn parse_numbers(flag: &str, texts: &[String]) -> anyhow::Result<Vec<f64>> {
    texts
        .iter()
        .filter(|text| !text.trim().is_empty())
        .map(|text| text.trim().parse().with_context(|| format!("{flag}: {text:?} is not a number")))
        .collect()
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let shape = ClusterShape {
        node_monitors: cli.cluster.nodes,
        slots_per_node: cli.cluster.slots,
        executors: cli.cluster.executors,
        probe_ratio: cli.cluster.probe_ratio,
        server_threads: cli.cluster.server_threads,
        prefetch_per_slot: cli.cluster.prefetch,
        submit_stream: cli.cluster.submit_stream,
    };
    anyhow::ensure!(shape.node_monitors >= 1 && shape.slots_per_node >= 1, "--nodes and --slots must be >= 1");
    let out = &cli.out;
    match cli.command {
        Command::Throughput { tasks, job_size, inflight_jobs } => {
            let run = runs::throughput(shape, tasks, job_size, inflight_jobs).await?;
            let result = &run.result;
            println!(
                "throughput: {} tasks in {:.3} s = {:.0} tasks/s ({} failed); peak RSS: servers {:.1} MiB, executors {:.1} MiB",
                result.tasks, result.seconds, result.tasks_per_second, result.failed, run.memory.servers_mib, run.memory.executors_mib
            );
            for line in run.cpu.lines() {
                println!("{line}");
            }
            println!("wrote {}", write_json(out, "throughput", &run)?.display());
        }
        Command::Latency { count } => {
            let run = runs::latency(shape, count).await?;
            let summary = &run.result.round_trip_us;
            println!(
                "latency: {} round trips, p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
                summary.count, summary.p50, summary.p99, summary.max
            );
            let result = &run.result;
            println!(
                "  inside (p50): accepted to result {:.0} µs, accepted to launch {:.0} µs, in the executor {:.0} µs",
                result.scheduler_us.p50, result.queued_us.p50, result.run_us.p50
            );
            for hop in &result.hops {
                println!("  hop p50 {:>7.1} µs  p90 {:>7.1} µs  {}", hop.micros.p50, hop.micros.p90, hop.hop);
            }
            println!("wrote {}", write_json(out, "latency", &run)?.display());
        }
        Command::Load(sweep) => {
            let run = runs::load(shape, sweep.sweep()).await?;
            if let Some(makespan) = &run.makespan {
                println!(
                    "makespan: {} × {} ms on {} slots in {:.3} s = {:.3}× the ideal {:.3} s",
                    makespan.tasks,
                    makespan.service_ms,
                    makespan.slots,
                    makespan.seconds,
                    makespan.ratio_to_ideal,
                    makespan.ideal_seconds
                );
            }
            for point in &run.points {
                println!(
                    "load {:.2}: {} tasks, response/service p50 {:.3} p99 {:.3} ({} failed); admitted jobs p50 {:.1} ms p99 {:.1} ms; {} refusals; servers' peak RSS {:.1} MiB",
                    point.load,
                    point.tasks,
                    point.response_ratio.p50,
                    point.response_ratio.p99,
                    point.failed,
                    point.admitted_response_ms.p50,
                    point.admitted_response_ms.p99,
                    point.refusals,
                    point.servers_peak_rss_mib
                );
            }
            let pick = |quantile: fn(&passer_bench::bench::stats::Summary) -> f64| {
                run.points.iter().map(|point| (point.load, quantile(&point.response_ratio))).collect()
            };
            let series = vec![
                Series { name: "p50".to_owned(), points: pick(|summary| summary.p50) },
                Series { name: "p99".to_owned(), points: pick(|summary| summary.p99) },
            ];
            let plot = LinePlot {
                title: "passer: response / service time",
                x_label: "load",
                y_label: "response / ideal",
                series,
            };
            println!(
                "wrote {} and {}",
                write_json(out, "load", &run)?.display(),
                write_svg(out, "load", &plot)?.display()
            );
        }
        Command::Scaling { max_nodes, service_ms, tasks_per_slot } => {
            let points = runs::scaling(shape, max_nodes, service_ms, tasks_per_slot).await?;
            for point in &points {
                println!(
                    "{} node monitors ({} slots): {:.0} tasks/s, {:.2}× one node monitor, makespan {:.3}× ideal",
                    point.node_monitors,
                    point.slots,
                    point.tasks_per_second,
                    point.speedup,
                    point.makespan.ratio_to_ideal
                );
            }
            let series = vec![
                Series {
                    name: "passer".to_owned(),
                    points: points.iter().map(|point| (point.node_monitors as f64, point.speedup)).collect(),
                },
                Series {
                    name: "linear".to_owned(),
                    points: points
                        .iter()
                        .map(|point| (point.node_monitors as f64, point.node_monitors as f64))
                        .collect(),
                },
            ];
            let plot = LinePlot { title: "passer: scaling", x_label: "node monitors", y_label: "speed-up", series };
            println!(
                "wrote {} and {}",
                write_json(out, "scaling", &points)?.display(),
                write_svg(out, "scaling", &plot)?.display()
            );
        }
        Command::ProbeRatio { ratios, load, sweep } => {
            let points = runs::probe_ratio(shape, &ratios, sweep.sweep(), load).await?;
            for point in &points {
                let summary = &point.point.response_ratio;
                println!(
                    "d = {}: {} tasks, response/service p50 {:.3} p99 {:.3}",
                    point.probe_ratio, point.point.tasks, summary.p50, summary.p99
                );
            }
            println!("wrote {}", write_json(out, "probe-ratio", &points)?.display());
        }
        Command::Executor { attach, slots, supervisor_pid } => {
            graph_executor::run(attach, slots, supervisor_pid).await?;
        }
        Command::Compare(args) => {
            let graphs = args.graph_spec(out);
            let graphs_only = args.graphs_only;
            let spec = CompareSpec {
                shape,
                throughput_tasks: args.throughput_tasks,
                peer_throughput_tasks: args.peer_throughput_tasks,
                job_size: args.throughput_job_size,
                inflight_jobs: args.inflight_jobs,
                latency_count: args.latency_count,
                sweep: args.sweep.sweep(),
                peers: args.peers.into_iter().filter(|peer| !peer.is_empty()).collect(),
                python: args.python.unwrap_or_else(|| passer_bench::bench::peers::peers_dir().join(".venv/bin/python")),
                peer_timeout: Duration::from_secs(args.peer_timeout_secs),
                peer_workload_timeout: Duration::from_secs(args.peer_workload_timeout_secs),
                scaling_max_nodes: args.scaling_max_nodes,
                probe_ratios: parse_numbers("--probe-ratios", &args.probe_ratios)?,
                throughput_prefetch: args.throughput_prefetch,
                load_prefetch: args.load_prefetch,
                wide_nodes: args.wide_nodes,
                graphs,
                job_cost: JobCostSpec {
                    single_task_jobs: args.single_task_jobs,
                    inflight_jobs: args.single_task_inflight,
                    overload_loads: parse_numbers("--overload-loads", &args.overload_loads)?,
                },
            };
            if graphs_only {
                let comparison = compare::run_graphs(spec).await?;
                let systems: Vec<&str> = comparison.peer_reports().iter().map(|r| r.system.as_str()).collect();
                let mut names = vec![format!("passer {}", comparison.machine.passer)];
                names.extend(comparison.peer_reports().iter().map(|r| format!("{} {}", r.system, r.version)));
                println!("{}", report::rows_table(&names, &systems, &comparison.graphs.rows));
                println!("wrote {}", write_json(out, "compare-graphs", &comparison)?.display());
                if !args.doc.as_os_str().is_empty() {
                    let command = std::env::args().collect::<Vec<_>>().join(" ");
                    graph_report::write_section(&args.doc, &graph_report::standalone_section(&comparison, &command))?;
                    println!("wrote the task graphs section of {}", args.doc.display());
                }
                return Ok(());
            }
            let comparison = compare::run(spec).await?;
            println!("{}", report::table(&comparison));
            println!("passer's CPU in the throughput run:");
            for line in comparison.throughput.cpu.lines() {
                println!("{line}");
            }
            print!("{}", passer_bench::bench::job_cost::section(&report::job_cost_targets(&comparison)));
            println!("wrote {}", write_json(out, "compare", &comparison)?.display());
            if !args.doc.as_os_str().is_empty() {
                let plots_dir = args.doc.with_extension("");
                report::plots(&comparison, &plots_dir)?;
                let command = std::env::args().collect::<Vec<_>>().join(" ");
                report::write_markdown(&comparison, &args.doc, &command)?;
                println!("wrote {} and plots in {}", args.doc.display(), plots_dir.display());
            }
        }
    }
    Ok(())
}
