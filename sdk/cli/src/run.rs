//! `passer run FILE`: runs the task graph a graph file describes (see
//! `graph_file`), with a progress line per stage on stderr, the kept stages'
//! results on stdout (a command's stdout, any other output as is), and with
//! `--json` one JSON object per event on stdout instead. Exit code: 0 when
//! every task succeeded, 2 when some failed or were cancelled, 1 on a client
//! error (a bad file, a refused graph, no scheduler) — as `passer submit`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use passer::graph::{GraphEvent, GraphOutcome};
use passer::TaskOutput;
use serde_json::json;

use crate::graph_file::{command_stdout, GraphFile, COMMAND};

/// Flags of `passer run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The graph file: TOML, or JSON when its name ends in `.json`.
    pub(crate) file: PathBuf,
    /// How to reach the schedulers.
    #[command(flatten)]
    pub(crate) client: crate::client_args::ClientArgs,
    /// Sets `{KEY}` in the file (overrides its `[vars]`; repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub(crate) vars: Vec<(String, String)>,
    /// Print one JSON object per event on stdout (stage submitted, task
    /// finished, stage finished, then the graph's outcome).
    #[arg(long)]
    pub(crate) json: bool,
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    let (key, value) = text.split_once('=').ok_or_else(|| format!("--var {text:?} must be KEY=VALUE"))?;
    Ok((key.to_owned(), value.to_owned()))
}

/// Runs `passer run`.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let file = GraphFile::load(&args.file, &args.vars)?;
    let graph = file.build().with_context(|| format!("{}", args.file.display()))?;
    let executors: HashMap<String, String> =
        file.stages.iter().map(|stage| (stage.name.clone(), stage.executor.clone())).collect();
    let order: Vec<String> = file.stages.iter().map(|stage| stage.name.clone()).collect();
    let client = args.client.client().await?;
    let started = Instant::now();
    let mut run = client.run_graph(graph).await?;
    let graph_id = run.graph_id().to_owned();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut stage_started: HashMap<String, Instant> = HashMap::new();
    let mut stages_done = 0usize;
    while let Some(event) = run.next().await {
        if args.json {
            writeln!(out, "{}", event_json(&event))?;
            continue;
        }
        match event {
            GraphEvent::StageSubmitted { node, .. } => {
                stage_started.insert(node, Instant::now());
            }
            GraphEvent::TaskFinished { .. } => {}
            GraphEvent::StageFinished { node, summary } => {
                stages_done += 1;
                let seconds = stage_started.get(&node).map_or(0.0, |at| at.elapsed().as_secs_f64());
                let line = match &summary.reason {
                    Some(reason) if summary.succeeded == 0 => format!("not run: {reason}"),
                    _ => format!(
                        "{}/{} succeeded, {} failed, {} cancelled in {seconds:.3} s",
                        summary.succeeded, summary.tasks, summary.failed, summary.cancelled
                    ),
                };
                eprintln!("[{stages_done}/{}] stage {node}: {line}", order.len());
            }
        }
    }
    let outcome = run.outcome().await?;
    let wall = started.elapsed();
    if args.json {
        writeln!(out, "{}", outcome_json(&graph_id, &outcome, wall))?;
    } else {
        for failed in outcome.failed() {
            eprintln!("failed: {}/{}: {}", failed.node, failed.task, failed.error);
        }
        for node in &order {
            for result in outcome.results(node).unwrap_or_default() {
                if result.succeeded() {
                    out.write_all(printable(result, executors.get(node).map(String::as_str)).as_bytes())?;
                }
            }
        }
        eprintln!(
            "graph {graph_id}: {} tasks succeeded, {} failed, {} cancelled in {:.3} s",
            outcome.tasks_succeeded(),
            outcome.failed().len(),
            outcome.cancelled().len(),
            wall.as_secs_f64()
        );
    }
    out.flush()?;
    Ok(if outcome.succeeded() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// What to print of a result: a command's stdout, any other output as is.
fn printable(result: &TaskOutput, executor_opt: Option<&str>) -> String {
    if executor_opt == Some(COMMAND) {
        command_stdout(&result.output)
    } else {
        let mut text = String::from_utf8_lossy(&result.output).into_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    }
}

fn event_json(event: &GraphEvent) -> serde_json::Value {
    match event {
        GraphEvent::StageSubmitted { node, job_id, tasks } => {
            json!({ "event": "stage_submitted", "node": node, "job_id": job_id, "tasks": tasks })
        }
        GraphEvent::TaskFinished { node, output } => json!({
            "event": "task_finished",
            "node": node,
            "task": output.task_id,
            "status": output.status.short_name(),
            "attempt": output.attempt,
            "output": String::from_utf8_lossy(&output.output),
            "error": output.error,
            "run_us": output.run.as_micros() as u64,
        }),
        GraphEvent::StageFinished { node, summary } => json!({
            "event": "stage_finished",
            "node": node,
            "tasks": summary.tasks,
            "succeeded": summary.succeeded,
            "failed": summary.failed,
            "cancelled": summary.cancelled,
            "reason": summary.reason,
        }),
    }
}

fn outcome_json(graph_id: &str, outcome: &GraphOutcome, wall: Duration) -> serde_json::Value {
    let failed: Vec<_> = outcome
        .failed()
        .iter()
        .map(|task| json!({ "node": task.node, "task": task.task, "error": task.error }))
        .collect();
    let cancelled: Vec<_> = outcome
        .cancelled()
        .iter()
        .map(|task| json!({ "node": task.node, "task": task.task, "reason": task.reason }))
        .collect();
    json!({
        "event": "graph_finished",
        "graph": graph_id,
        "succeeded": outcome.succeeded(),
        "tasks_succeeded": outcome.tasks_succeeded(),
        "failed": failed,
        "cancelled": cancelled,
        "wall_seconds": wall.as_secs_f64(),
    })
}
