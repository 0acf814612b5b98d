//! The frontend: writes the text files, builds the graph — `map` (one
//! `wc-map` task per file) then `reduce`, made by a generator from the map
//! outputs (the shuffle: reduce task r gets partition r of every map) — runs
//! it, prints the top words and checks them against counting here.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use passer::graph::{Graph, GraphEvent, Inputs};
use passer::{Client, TaskSpec};
use serde_json::{json, Value};

use crate::counting::{add, count_partitioned, text, top, Counts};

/// What to count.
pub(crate) struct Job {
    pub(crate) files: usize,
    pub(crate) reduces: usize,
    pub(crate) words: usize,
}

/// Writes `job.files` files of text into `dir`, runs the graph, prints the
/// top 10 and `verified`; exit 0, or 2 if tasks failed.
pub(crate) async fn run(client: &Client, dir: &Path, job: &Job) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut expected = Counts::new();
    let mut map_tasks = Vec::with_capacity(job.files);
    for index in 0..job.files {
        let path = dir.join(format!("{index}.txt"));
        let body = text(index as u64, job.words);
        add(&mut expected, &count_partitioned(&body, 1)[0]);
        std::fs::write(&path, body).with_context(|| format!("cannot write {}", path.display()))?;
        let payload = json!({ "path": path, "partitions": job.reduces }).to_string();
        map_tasks.push(TaskSpec::new(format!("m{index}"), "wc-map", payload));
    }
    let reduces = job.reduces;
    let mut graph = Graph::new();
    graph.stage("map", map_tasks);
    graph.stage_from("reduce", move |inputs: &Inputs| shuffle(inputs, reduces)).after("map");
    let mut run = client.run_graph(graph).await?;
    while let Some(event) = run.next().await {
        if let GraphEvent::StageFinished { node, summary } = event {
            eprintln!("stage {node}: {}/{} succeeded", summary.succeeded, summary.tasks);
        }
    }
    let outcome = run.outcome().await?;
    if !outcome.succeeded() {
        for failed in outcome.failed() {
            eprintln!("failed: {}/{}: {}", failed.node, failed.task, failed.error);
        }
        return Ok(ExitCode::from(2));
    }
    let mut counted = Counts::new();
    for result in outcome.results("reduce").context("reduce is the sink, so kept")? {
        let part: Counts = serde_json::from_slice(&result.output).context("a reduce output is counts")?;
        add(&mut counted, &part);
    }
    for (word, count) in top(&counted, 10) {
        println!("{count:>8} {word}");
    }
    if counted != expected {
        bail!("the graph counted {} distinct words, counting here gave {}", counted.len(), expected.len());
    }
    println!(
        "verified: {} words, {} distinct, over {} files and {} reduces",
        counted.values().sum::<u64>(),
        counted.len(),
        job.files,
        job.reduces
    );
    Ok(ExitCode::SUCCESS)
}

/// One `wc-reduce` task per partition, each given that partition of every map.
fn shuffle(inputs: &Inputs, reduces: usize) -> Result<Vec<TaskSpec>, String> {
    let mut partitions: Vec<Vec<Value>> = vec![Vec::with_capacity(inputs.len()); reduces];
    for (task, output) in inputs.node("map") {
        let parts: Vec<Value> =
            serde_json::from_slice(output).map_err(|error| format!("map task {task} output is not JSON: {error}"))?;
        if parts.len() != reduces {
            return Err(format!("map task {task} made {} partitions, not {reduces}", parts.len()));
        }
        for (index, part) in parts.into_iter().enumerate() {
            partitions[index].push(part);
        }
    }
    Ok(partitions
        .into_iter()
        .enumerate()
        .map(|(index, parts)| TaskSpec::new(format!("r{index}"), "wc-reduce", Value::Array(parts).to_string()))
        .collect())
}
