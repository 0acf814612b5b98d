//! `passer-bench executor`: the executor process of the task-graph
//! benchmarks, attached to a node monitor like `passer executor`. Besides
//! the built-in `echo` and `sleep` it serves the graph workloads' task
//! bodies, the same contract the peers run in Python
//! (`benches/peers/common.py`) and `examples/python/wordcount.py` serves:
//!
//! - `noop`: returns `x` (a chain link or a fan-out task);
//! - `fan-in`: reads its graph envelope, returns how many inputs it had;
//! - `wc-map`: payload `{"path": P, "partitions": R}`, output R JSON lines,
//!   line j the `{"word": count}` of the file's words in partition
//!   CRC-32(word) mod R = j;
//! - `wc-reduce`: payload `{"word": count}` lines (one per map), output the
//!   summed counts (see [`super::wc_tasks`]).

use anyhow::Context;
use passer::executor::Executor;
use passer::graph::Envelope;
use passer::handler::{Task, TaskError};
use serde::Deserialize;

use super::wc_tasks;

/// The executor types this process serves besides the built-ins.
pub const GRAPH_EXECUTORS: &[&str] = &["noop", "fan-in", "wc-map", "wc-reduce"];

/// Serves every handler with `slots` slots until SIGINT/SIGTERM.
pub async fn run(attach: String, slots: u32, supervisor_pid: Option<u32>) -> anyhow::Result<()> {
    anyhow::ensure!(slots >= 1, "--slots must be at least 1");
    let mut builder = Executor::builder(attach)
        .supervised_by(supervisor_pid)
        .name(format!("passer-bench-executor-{}", std::process::id()))
        .handler("noop", slots, noop)
        .handler("fan-in", slots, fan_in)
        .handler("wc-map", slots, wc_map)
        .handler("wc-reduce", slots, wc_reduce);
    for name in passer::builtin::BUILTIN_NAMES {
        let handler = passer::builtin::builtin_handler(name).context("a built-in handler")?;
        builder = builder.shared_handler(*name, slots, handler);
    }
    builder.run(passer::signal::shutdown_signal()).await.context("executor failed")
}

async fn noop(_task: Task) -> Result<Vec<u8>, TaskError> {
    Ok(b"x".to_vec())
}

async fn fan_in(task: Task) -> Result<Vec<u8>, TaskError> {
    let envelope = Envelope::parse(&task.payload).map_err(TaskError::new)?;
    Ok(envelope.inputs.len().to_string().into_bytes())
}

#[derive(Deserialize)]
struct MapSpec {
    path: String,
    partitions: u32,
}

async fn wc_map(task: Task) -> Result<Vec<u8>, TaskError> {
    let spec: MapSpec = serde_json::from_slice(&task.payload)
        .map_err(|error| TaskError::new(format!("wc-map payload must be {{\"path\", \"partitions\"}}: {error}")))?;
    if spec.partitions == 0 {
        return Err(TaskError::new("wc-map: partitions must be at least 1"));
    }
    // File reading and counting take a fraction of a millisecond: off the runtime's threads.
    tokio::task::spawn_blocking(move || {
        let text = std::fs::read_to_string(&spec.path)
            .map_err(|error| TaskError::new(format!("wc-map: read {}: {error}", spec.path)))?;
        wc_tasks::map_text(&text, spec.partitions).map_err(|error| TaskError::new(format!("wc-map: {error}")))
    })
    .await
    .map_err(|error| TaskError::new(format!("wc-map: {error}")))?
}

async fn wc_reduce(task: Task) -> Result<Vec<u8>, TaskError> {
    tokio::task::spawn_blocking(move || {
        wc_tasks::reduce_lines(&task.payload).map_err(|error| TaskError::new(format!("wc-reduce payload: {error}")))
    })
    .await
    .map_err(|error| TaskError::new(format!("wc-reduce: {error}")))?
}
