//! The task-graph workloads on passer, through the Rust SDK's graph API
//! (`passer::graph`), each checked for the right answer:
//!
//! - chain: `links` single-task nodes, each after the previous (`noop`);
//! - fan-out / fan-in: one stage of `width` `noop` tasks, then one `fan-in`
//!   task after it, whose envelope carries every output;
//! - word count: a `wc-map` stage (one task per file), then a `wc-reduce`
//!   stage made by a generator from the map outputs (the shuffle), one task
//!   per partition; the counts are checked against a local count.
//!
//! It also writes the word count's input files (shared with the peers) and
//! breaks a chain link's time down from the graph's events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use passer::graph::{Graph, GraphEvent};
use passer::{Client, TaskSpec};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::stats::Summary;
use super::wc_tasks;

/// How long one graph may take before the workload gives up on it.
const GRAPH_TIMEOUT: Duration = Duration::from_secs(600);

/// Where one chain link's time goes (over the links, in µs).
#[derive(Debug, Clone, Serialize)]
pub struct LinkBreakdown {
    /// Link finished at the caller until the next link's job was submitted:
    /// the graph driver's own work (payload envelope, job spec, hand-off).
    pub driver_us: Summary,
    /// Submission until the scheduler accepted the job, plus the result's way
    /// back to the caller: the client side of a job round trip.
    pub client_us: Summary,
    /// Job accepted until the task was launched on a node monitor.
    pub queued_us: Summary,
    /// Time in the executor, as it reported it.
    pub run_us: Summary,
    /// Launch until the result was back at the scheduler, less the executor's time.
    pub node_us: Summary,
}

impl LinkBreakdown {
    /// No links measured.
    pub fn empty() -> LinkBreakdown {
        breakdown(&HashMap::new(), 0)
    }
}

/// Event times of one chain link.
#[derive(Debug, Default, Clone, Copy)]
struct LinkTimes {
    submitted: Option<Instant>,
    finished: Option<Instant>,
    queued: Duration,
    run: Duration,
    total: Duration,
}

/// Runs one chain of `links` nodes; returns its seconds and, per link, where the time went.
pub async fn chain(client: &Client, run_index: usize, links: usize) -> anyhow::Result<(f64, LinkBreakdown)> {
    ensure!(links >= 1, "a chain needs at least one link");
    let mut graph = Graph::with_id(format!("chain-{run_index}-{}", std::process::id()));
    for link in 0..links {
        let node = graph.task(format!("l{link:05}"), TaskSpec::new("t", "noop", "x"));
        if link > 0 {
            node.after(format!("l{:05}", link - 1));
        }
    }
    let started = Instant::now();
    let mut run = client.run_graph(graph).await.context("start the chain")?;
    let mut times: HashMap<String, LinkTimes> = HashMap::with_capacity(links);
    let drained = async {
        while let Some(event) = run.next().await {
            let now = Instant::now();
            match event {
                GraphEvent::StageSubmitted { node, .. } => times.entry(node).or_default().submitted = Some(now),
                GraphEvent::TaskFinished { node, output } => {
                    let entry = times.entry(node).or_default();
                    entry.finished = Some(now);
                    (entry.queued, entry.run, entry.total) = (output.queued, output.run, output.total);
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(GRAPH_TIMEOUT, drained).await.context("the chain did not finish in time")?;
    let outcome = run.outcome().await.context("the chain")?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(outcome.succeeded(), "the chain failed: {:?} {:?}", outcome.failed(), outcome.cancelled());
    let last = outcome.results(&format!("l{:05}", links - 1)).context("the last link's result")?;
    ensure!(last.len() == 1 && last[0].output == "x", "the last link returned {last:?}");
    Ok((seconds, breakdown(&times, links)))
}

fn breakdown(times: &HashMap<String, LinkTimes>, links: usize) -> LinkBreakdown {
    let mut parts: [Vec<Duration>; 5] = Default::default();
    for link in 0..links {
        let Some(this) = times.get(&format!("l{link:05}")) else { continue };
        let (Some(submitted), Some(finished)) = (this.submitted, this.finished) else { continue };
        if let Some(next_submitted) = times.get(&format!("l{:05}", link + 1)).and_then(|next| next.submitted) {
            parts[0].push(next_submitted.saturating_duration_since(finished));
        }
        parts[1].push(finished.saturating_duration_since(submitted).saturating_sub(this.total));
        parts[2].push(this.queued);
        parts[3].push(this.run);
        parts[4].push(this.total.saturating_sub(this.queued).saturating_sub(this.run));
    }
    let [driver, client, queued, run, node] = parts.map(|samples| Summary::of_micros(&samples));
    LinkBreakdown { driver_us: driver, client_us: client, queued_us: queued, run_us: run, node_us: node }
}

/// Runs `width` no-op tasks, then one task over all their outputs; returns its seconds.
pub async fn fan_out_in(client: &Client, run_index: usize, width: usize) -> anyhow::Result<f64> {
    ensure!(width >= 1, "fan-out needs at least one task");
    let mut graph = Graph::with_id(format!("fan-{run_index}-{}", std::process::id()));
    graph.stage("fan", (0..width).map(|index| TaskSpec::new(format!("f{index:06}"), "noop", "x")));
    graph.task("gather", TaskSpec::new("g", "fan-in", "")).after("fan");
    let started = Instant::now();
    let run = client.run_graph(graph).await.context("start the fan-out")?;
    let outcome = tokio::time::timeout(GRAPH_TIMEOUT, run.outcome())
        .await
        .context("the fan-out did not finish in time")?
        .context("the fan-out")?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(outcome.succeeded(), "the fan-out failed: {:?} {:?}", outcome.failed(), outcome.cancelled());
    let gathered = outcome.results("gather").context("the fan-in result")?;
    let count = String::from_utf8_lossy(&gathered[0].output).into_owned();
    ensure!(count == width.to_string(), "the fan-in saw {count} inputs, not {width}");
    Ok(seconds)
}

/// The word count's input: generated files and their expected counts.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The directory holding `part-NNNN.txt`.
    pub dir: PathBuf,
    /// The files, in order.
    pub files: Vec<PathBuf>,
    /// Every word's count over all files.
    pub expected: HashMap<String, u64>,
}

/// Writes `files` text files of `words` words each (a Zipf-like draw from a
/// 5,000-word vocabulary, fixed seed) into `dir`.
pub fn write_corpus(dir: &Path, files: usize, words: usize) -> anyhow::Result<Corpus> {
    const VOCABULARY: usize = 5000;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let cumulative: Vec<f64> = (1..=VOCABULARY)
        .scan(0.0, |sum, rank| {
            *sum += 1.0 / rank as f64;
            Some(*sum)
        })
        .collect();
    let total_weight = cumulative[VOCABULARY - 1];
    let mut rng = SmallRng::seed_from_u64(19);
    let mut expected: HashMap<String, u64> = HashMap::new();
    let mut paths = Vec::with_capacity(files);
    for index in 0..files {
        let mut text = String::with_capacity(words * 6);
        for position in 0..words {
            let draw = rng.random_range(0.0..total_weight);
            let rank = cumulative.partition_point(|&weight| weight < draw);
            let word = format!("w{rank}");
            text.push_str(&word);
            text.push(if position % 12 == 11 { '\n' } else { ' ' });
            *expected.entry(word).or_default() += 1;
        }
        let path = dir.join(format!("part-{index:04}.txt"));
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))?;
        paths.push(path);
    }
    Ok(Corpus { dir: dir.to_owned(), files: paths, expected })
}

/// Where one word count's time went, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageTimes {
    /// The map stage, submission to its last result reaching the frontend
    /// (the generator's start).
    pub map_ms: f64,
    /// The generator over the map outputs (the shuffle, in the frontend).
    pub shuffle_ms: f64,
    /// The generator's end until the caller saw the reduce stage submitted.
    pub handoff_ms: f64,
    /// The reduce stage, submission to its last result.
    pub reduce_ms: f64,
}

/// Counts `corpus` with one map task per file and `reducers` reduce tasks;
/// returns its seconds and where they went.
pub async fn word_count(
    client: &Client,
    run_index: usize,
    corpus: &Corpus,
    reducers: usize,
) -> anyhow::Result<(f64, StageTimes)> {
    ensure!(reducers >= 1, "word count needs at least one reducer");
    let mut graph = Graph::with_id(format!("wc-{run_index}-{}", std::process::id()));
    graph.stage(
        "map",
        corpus.files.iter().enumerate().map(|(index, path)| {
            let payload = serde_json::json!({ "path": path, "partitions": reducers });
            TaskSpec::new(format!("m{index:04}"), "wc-map", payload.to_string())
        }),
    );
    let shuffle_marks: Arc<Mutex<Option<(Instant, Instant)>>> = Arc::default();
    let marks_in_generator = shuffle_marks.clone();
    graph
        .stage_from("reduce", move |inputs| {
            let began = Instant::now();
            let payloads = wc_tasks::shuffle(inputs.node("map"), reducers)?;
            let tasks = payloads
                .into_iter()
                .enumerate()
                .map(|(index, payload)| TaskSpec::new(format!("r{index:02}"), "wc-reduce", payload))
                .collect();
            *marks_in_generator.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((began, Instant::now()));
            Ok(tasks)
        })
        .after("map");
    let started = Instant::now();
    let mut run = client.run_graph(graph).await.context("start the word count")?;
    let mut marks: HashMap<(String, bool), Instant> = HashMap::new();
    let drained = async {
        while let Some(event) = run.next().await {
            match event {
                GraphEvent::StageSubmitted { node, .. } => marks.insert((node, false), Instant::now()),
                GraphEvent::StageFinished { node, .. } => marks.insert((node, true), Instant::now()),
                _ => None,
            };
        }
    };
    tokio::time::timeout(GRAPH_TIMEOUT, drained).await.context("the word count did not finish in time")?;
    let outcome = run.outcome().await.context("the word count")?;
    let seconds = started.elapsed().as_secs_f64();
    let mark = |node: &str, end: bool| marks.get(&(node.to_owned(), end)).copied().unwrap_or(started);
    let millis = |from: Instant, to: Instant| to.saturating_duration_since(from).as_secs_f64() * 1000.0;
    // The generator runs as the last map result arrives, before the map
    // stage's end is reported: its own marks split the two.
    let (shuffle_began, shuffle_ended) = shuffle_marks
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .unwrap_or((mark("map", true), mark("reduce", false)));
    let stages = StageTimes {
        map_ms: millis(mark("map", false), shuffle_began),
        shuffle_ms: millis(shuffle_began, shuffle_ended),
        handoff_ms: millis(shuffle_ended, mark("reduce", false)),
        reduce_ms: millis(mark("reduce", false), mark("reduce", true)),
    };
    ensure!(outcome.succeeded(), "the word count failed: {:?} {:?}", outcome.failed(), outcome.cancelled());
    let mut counts: HashMap<String, u64> = HashMap::new();
    for output in outcome.results("reduce").context("the reduce results")? {
        let partial: HashMap<String, u64> = serde_json::from_slice(&output.output).context("a reduce output")?;
        counts.extend(partial);
    }
    if counts != corpus.expected {
        bail!("word counts differ from a local count ({} words against {})", counts.len(), corpus.expected.len());
    }
    Ok((seconds, stages))
}

/// Peak resident memory of this process (VmHWM) since the last [`reset_peak_rss`], in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    passer_tests::process::peak_rss_kib(std::process::id()).map(|kib| kib as f64 / 1024.0)
}

/// Resets this process's VmHWM to its current RSS (Linux `clear_refs` 5),
/// so the next [`peak_rss_mib`] covers only what follows.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
