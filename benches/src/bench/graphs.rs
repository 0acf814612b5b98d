//! The task-graph part of `passer-bench compare`: passer's chain,
//! fan-out / fan-in and word count (on a cluster whose node monitors each
//! supervise one `passer-bench executor` process), each repeated and
//! summarised by its median, with the frontend's peak RSS and a chain
//! link's time broken down; then the peers' figures beside them.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cluster::{BenchCluster, ClusterShape, ExecutorMode};
use super::compare::{Better, PeerFigure, Row, Unfinished};
use super::graph_workloads::{self, Corpus, LinkBreakdown, StageTimes};
use super::peers::{PeerRepeated, PeerReport};
use super::workloads;

/// What the graph workloads run.
#[derive(Debug, Clone, Serialize)]
pub struct GraphSpec {
    /// Links of the chain.
    pub chain_links: usize,
    /// Tasks of the fan-out before the fan-in.
    pub fan_out_tasks: usize,
    /// Word count files, one map task each.
    pub wordcount_files: usize,
    /// Words per file.
    pub wordcount_words: usize,
    /// Reduce tasks.
    pub wordcount_reducers: usize,
    /// Repetitions of each workload on passer.
    pub runs: usize,
    /// Repetitions of each workload on each peer.
    pub peer_runs: usize,
    /// Where the word count's files are written.
    pub corpus_dir: PathBuf,
}

/// Seconds of each repetition and their median.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repeated {
    /// Each repetition's seconds, in order.
    pub runs: Vec<f64>,
    /// The median (the lower middle for an even count).
    pub median_seconds: f64,
}

impl Repeated {
    /// Summarises `runs`.
    pub fn of(runs: Vec<f64>) -> Repeated {
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        let median_seconds = sorted.get(sorted.len().saturating_sub(1) / 2).copied().unwrap_or(0.0);
        Repeated { runs, median_seconds }
    }
}

/// The frontend's (this process's) peak RSS during each workload, in MiB.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FrontendMemory {
    /// During the chain runs.
    pub chain_mib: Option<f64>,
    /// During the fan-out / fan-in runs.
    pub fan_out_mib: Option<f64>,
    /// During the word count runs.
    pub word_count_mib: Option<f64>,
}

impl FrontendMemory {
    /// The largest of the three.
    pub fn peak_mib(&self) -> Option<f64> {
        [self.chain_mib, self.fan_out_mib, self.word_count_mib].into_iter().flatten().reduce(f64::max)
    }
}

/// passer's graph figures.
#[derive(Debug, Clone, Serialize)]
pub struct PasserGraphs {
    /// The cluster they ran on.
    pub shape: ClusterShape,
    /// The chain.
    pub chain: Repeated,
    /// Where a link's time went, in the median chain run's terms (all links of all runs).
    pub chain_breakdown: LinkBreakdown,
    /// Fan-out / fan-in.
    pub fan_out: Repeated,
    /// Word count.
    pub word_count: Repeated,
    /// Where the median word count's time went.
    pub word_count_stages: StageTimes,
    /// Words counted in each word count.
    pub words: u64,
    /// The benchmark process's peak RSS (it is the graph frontend).
    pub frontend: FrontendMemory,
}

/// Writes the word count's files for passer and the peers.
pub fn corpus(spec: &GraphSpec) -> anyhow::Result<Corpus> {
    graph_workloads::write_corpus(&spec.corpus_dir, spec.wordcount_files, spec.wordcount_words)
}

/// Runs passer's graph workloads on a fresh cluster of `shape` with graph executors.
pub async fn run_passer(shape: ClusterShape, spec: &GraphSpec, corpus: &Corpus) -> anyhow::Result<PasserGraphs> {
    let shape = ClusterShape { executors: ExecutorMode::Bench, ..shape };
    let cluster = BenchCluster::start(shape.clone()).await?;
    let client = cluster.client(Duration::from_secs(60))?;
    workloads::warm_up(&client).await?;
    let mut frontend = FrontendMemory::default();

    eprintln!("compare: passer chain of {} links × {}", spec.chain_links, spec.runs);
    let measured = graph_workloads::reset_peak_rss();
    let mut chain_runs = Vec::with_capacity(spec.runs);
    let mut breakdowns = Vec::with_capacity(spec.runs);
    for run_index in 0..spec.runs {
        let (seconds, breakdown) = graph_workloads::chain(&client, run_index, spec.chain_links).await?;
        chain_runs.push(seconds);
        breakdowns.push((seconds, breakdown));
    }
    frontend.chain_mib = measured.then(graph_workloads::peak_rss_mib).flatten();
    breakdowns.sort_by(|a, b| a.0.total_cmp(&b.0));
    let chain_breakdown = breakdowns.get(breakdowns.len().saturating_sub(1) / 2).map(|(_, b)| b.clone());

    eprintln!("compare: passer fan-out of {} tasks, then fan-in × {}", spec.fan_out_tasks, spec.runs);
    let measured = graph_workloads::reset_peak_rss();
    let mut fan_runs = Vec::with_capacity(spec.runs);
    for run_index in 0..spec.runs {
        fan_runs.push(graph_workloads::fan_out_in(&client, run_index, spec.fan_out_tasks).await?);
    }
    frontend.fan_out_mib = measured.then(graph_workloads::peak_rss_mib).flatten();

    eprintln!(
        "compare: passer word count, {} maps and {} reduces × {}",
        corpus.files.len(),
        spec.wordcount_reducers,
        spec.runs
    );
    let measured = graph_workloads::reset_peak_rss();
    let mut wc_runs = Vec::with_capacity(spec.runs);
    let mut wc_stages = Vec::with_capacity(spec.runs);
    for run_index in 0..spec.runs {
        let (seconds, stages) =
            graph_workloads::word_count(&client, run_index, corpus, spec.wordcount_reducers).await?;
        wc_runs.push(seconds);
        wc_stages.push((seconds, stages));
    }
    wc_stages.sort_by(|a, b| a.0.total_cmp(&b.0));
    let word_count_stages = wc_stages.get(wc_stages.len().saturating_sub(1) / 2).map(|(_, s)| s.clone());
    frontend.word_count_mib = measured.then(graph_workloads::peak_rss_mib).flatten();

    Ok(PasserGraphs {
        shape,
        chain: Repeated::of(chain_runs),
        chain_breakdown: chain_breakdown.unwrap_or_else(LinkBreakdown::empty),
        fan_out: Repeated::of(fan_runs),
        word_count: Repeated::of(wc_runs),
        word_count_stages: word_count_stages.unwrap_or_default(),
        words: corpus.expected.values().sum(),
        frontend,
    })
}

/// The graph rows: passer's medians, then each peer's (or the timeout a
/// peer's run did not finish in).
pub fn rows(spec: &GraphSpec, passer: &PasserGraphs, peers: &[&PeerReport]) -> Vec<Row> {
    let row = |label: String,
               passer: f64,
               unit: &dyn Fn(f64) -> f64,
               peer: &dyn Fn(&PeerReport) -> Option<&PeerRepeated>| {
        let figures: Vec<Option<PeerFigure>> =
            peers.iter().map(|report| peer(report).and_then(PeerRepeated::figure)).collect();
        let values = std::iter::once(Some(unit(passer)))
            .chain(figures.iter().map(|figure| match figure {
                Some(PeerFigure::Measured(seconds)) => Some(unit(*seconds)),
                _ => None,
            }))
            .collect();
        let unfinished: Vec<Option<Unfinished>> = std::iter::once(None)
            .chain(figures.iter().map(|figure| match figure {
                Some(PeerFigure::DidNotFinish(timeout)) => {
                    Some(Unfinished { timeout_seconds: *timeout, at_least: unit(*timeout) })
                }
                _ => None,
            }))
            .collect();
        let any_unfinished = unfinished.iter().any(Option::is_some);
        Row { label, better: Better::Lower, values, unfinished: if any_unfinished { unfinished } else { Vec::new() } }
    };
    let per_link = |seconds: f64| seconds / spec.chain_links as f64 * 1e6;
    let seconds = |seconds: f64| seconds;
    vec![
        row(
            format!("chain of {}: time per link (µs)", spec.chain_links),
            passer.chain.median_seconds,
            &per_link,
            &|r| r.chain.as_ref(),
        ),
        row(format!("fan-out {} + fan-in 1 (s)", spec.fan_out_tasks), passer.fan_out.median_seconds, &seconds, &|r| {
            r.fan_out.as_ref()
        }),
        row(
            format!("word count: {} maps + {} reduces (s)", spec.wordcount_files, spec.wordcount_reducers),
            passer.word_count.median_seconds,
            &seconds,
            &|r| r.word_count.as_ref(),
        ),
    ]
}
