//! passer-sim: runs a simulation preset and writes CSV, a Markdown table and
//! an SVG plot of job response times.
//!
//! ```sh
//! passer-sim --preset sparrow                     # the paper's setting, every strategy
//! passer-sim --preset sparrow --loads 0.8 --strategies batch+late-binding,omniscient
//! ```

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use passer_bench::sim::output::{csv_line, markdown_table, plot, read_csv, write_csv, CSV_HEADER};
use passer_bench::sim::presets::{preset, Preset, PRESET_NAMES};
use passer_bench::sim::strategy::Strategy;
use passer_bench::sim::sweep::{run_preset_seeds, Row};

/// Simulate passer's scheduling policies on a virtual cluster.
#[derive(Debug, Parser)]
#[command(name = "passer-sim", version)]
struct Args {
    /// The experiment: sparrow, probe-ratio, tenants, mixed or small.
    #[arg(long, default_value = "sparrow")]
    preset: String,
    /// Override the preset's node count.
    #[arg(long)]
    nodes: Option<u32>,
    /// Override the preset's jobs per point.
    #[arg(long)]
    jobs: Option<usize>,
    /// Override the preset's loads (comma-separated, each in (0, 1]).
    #[arg(long, value_delimiter = ',')]
    loads: Vec<f64>,
    /// Override the preset's probe ratios (comma-separated, each >= 1).
    #[arg(long, value_delimiter = ',')]
    probe_ratios: Vec<f64>,
    /// Override the preset's strategies (comma-separated).
    #[arg(long, value_delimiter = ',')]
    strategies: Vec<Strategy>,
    /// Network round trip in milliseconds.
    #[arg(long)]
    rtt_ms: Option<f64>,
    /// Override the scheduler's default offers to idle nodes (batch+late-binding).
    #[arg(long)]
    offer_to_idle: Option<bool>,
    /// First seed of the workload and placement RNGs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seeds per point (`--seed`, `--seed`+1, ...): each figure is their
    /// mean, with the medians' spread beside it.
    #[arg(long, default_value_t = 3)]
    seeds: u32,
    /// Threads running points and seeds (the machine's cores by default).
    #[arg(long)]
    threads: Option<usize>,
    /// Redraw the plot and table from this CSV (written by an earlier run)
    /// instead of simulating.
    #[arg(long)]
    replot: Option<PathBuf>,
    /// Directory for `<preset>.csv`, `<preset>.md` and `<preset>.svg`.
    #[arg(long, default_value = "sim-out")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match configure(&args).and_then(|chosen| simulate(&args, &chosen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("passer-sim: {message}");
            ExitCode::from(64)
        }
    }
}

/// The preset with the command line's overrides, validated.
fn configure(args: &Args) -> Result<Preset, String> {
    let mut chosen = preset(&args.preset)?;
    if let Some(nodes) = args.nodes {
        if nodes == 0 {
            return Err("--nodes must be at least 1".into());
        }
        chosen.cluster.nodes = nodes;
    }
    if let Some(jobs) = args.jobs {
        if jobs < 10 {
            return Err("--jobs must be at least 10".into());
        }
        chosen.jobs = jobs;
    }
    if !args.loads.is_empty() {
        if let Some(bad) = args.loads.iter().find(|load| !(**load > 0.0 && **load <= 1.0)) {
            return Err(format!("--loads must each be in (0, 1], not {bad}"));
        }
        chosen.loads = args.loads.clone();
    }
    if args.seeds == 0 {
        return Err("--seeds must be at least 1".into());
    }
    if args.threads == Some(0) {
        return Err("--threads must be at least 1".into());
    }
    if !args.probe_ratios.is_empty() {
        if let Some(bad) = args.probe_ratios.iter().find(|d| !(**d >= 1.0 && **d <= 100.0)) {
            return Err(format!("--probe-ratios must each be between 1 and 100, not {bad}"));
        }
        chosen.probe_ratios = args.probe_ratios.clone();
    }
    if !args.strategies.is_empty() {
        chosen.strategies = args.strategies.clone();
    }
    if args.offer_to_idle.is_some() {
        chosen.cluster.offer_to_idle = args.offer_to_idle;
    }
    if let Some(rtt_ms) = args.rtt_ms {
        if !(rtt_ms.is_finite() && rtt_ms >= 0.0) {
            return Err(format!("--rtt-ms must be a non-negative number, not {rtt_ms}"));
        }
        chosen.cluster.round_trip = (rtt_ms * 1e6) as u64;
    }
    Ok(chosen)
}

fn simulate(args: &Args, chosen: &Preset) -> Result<(), String> {
    fs::create_dir_all(&args.out).map_err(|e| format!("cannot create --out {}: {e}", args.out.display()))?;
    eprintln!("preset {}: {} (presets: {})", chosen.name, chosen.description, PRESET_NAMES.join(", "));
    eprintln!(
        "{} nodes x {} slots, {} jobs per point, seeds {}..={}",
        chosen.cluster.nodes,
        chosen.cluster.slots_per_node,
        chosen.jobs,
        args.seed,
        args.seed + u64::from(args.seeds.max(1)) - 1
    );
    eprintln!("{CSV_HEADER}");
    let base = args.out.join(chosen.name);
    if let Some(replot) = &args.replot {
        let text = fs::read_to_string(replot).map_err(|e| format!("--replot {}: {e}", replot.display()))?;
        let rows = read_csv(&text, chosen).map_err(|e| format!("--replot {}: {e}", replot.display()))?;
        return write_outputs(chosen, &rows, &base, false);
    }
    let started = Instant::now();
    let seeds: Vec<u64> = (0..u64::from(args.seeds)).map(|offset| args.seed + offset).collect();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let rows = run_preset_seeds(chosen, &seeds, threads, |row| eprintln!("{}", csv_line(row)))?;
    eprintln!("sweep took {:.1} s", started.elapsed().as_secs_f64());
    write_outputs(chosen, &rows, &base, true)
}

/// Writes `<base>.md` and `<base>.svg`, and `<base>.csv` when `with_csv`.
fn write_outputs(chosen: &Preset, rows: &[Row], base: &Path, with_csv: bool) -> Result<(), String> {
    if with_csv {
        write_csv_file(rows, &base.with_extension("csv"))?;
    }
    let table = markdown_table(rows);
    let table_path = base.with_extension("md");
    fs::write(&table_path, &table).map_err(|e| format!("{}: {e}", table_path.display()))?;
    plot(chosen, rows, &base.with_extension("svg"))?;
    println!("{table}");
    eprintln!("wrote {} outputs", base.display());
    Ok(())
}

fn write_csv_file(rows: &[Row], csv_path: &Path) -> Result<(), String> {
    let mut csv = BufWriter::new(fs::File::create(csv_path).map_err(|e| format!("{}: {e}", csv_path.display()))?);
    write_csv(rows, &mut csv).and_then(|()| csv.flush()).map_err(|e| format!("{}: {e}", csv_path.display()))
}
