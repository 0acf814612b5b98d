//! `passer-bench executor`: the executor process of the task-graph
//! benchmarks, attached to a node monitor like `passer executor`. Besides
//! the built-in `echo` and `sleep` it serves the graph workloads' task
//! bodies, the same contract the peers run in Python
//! (`benches/peers/common.py`) and `examples/python/wordcount.py` serves:
//!
//! - `noop`: returns `x` (a chain link or a fan-out task);
//! - `fan-in`: reads its graph envelope, returns how many inputs it had;
//! - `wc-map`: payload `{"path": P, "partitions": R}`, output
//!   `{"<partition>": {"word": count}}` with each word in partition
//!   CRC-32(word) mod R;
//! - `wc-reduce`: payload `[{"word": count}, ...]`, output the summed counts.

use std::collections::HashMap;

use anyhow::Context;
use passer::executor::Executor;
use passer::graph::Envelope;
use passer::handler::{Task, TaskError};
use serde::Deserialize;

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
    // File reading and counting take milliseconds: off the runtime's threads.
    tokio::task::spawn_blocking(move || count_file(&spec.path, spec.partitions))
        .await
        .map_err(|error| TaskError::new(format!("wc-map: {error}")))?
}

fn count_file(path: &str, partitions: u32) -> Result<Vec<u8>, TaskError> {
    let text = std::fs::read_to_string(path).map_err(|error| TaskError::new(format!("read {path}: {error}")))?;
    let mut split: HashMap<String, HashMap<&str, u64>> = HashMap::new();
    for word in text.split_whitespace() {
        let partition = crc32(word.as_bytes()) % partitions;
        *split.entry(partition.to_string()).or_default().entry(word).or_default() += 1;
    }
    serde_json::to_vec(&split).map_err(TaskError::from)
}

async fn wc_reduce(task: Task) -> Result<Vec<u8>, TaskError> {
    tokio::task::spawn_blocking(move || {
        let parts: Vec<HashMap<String, u64>> = serde_json::from_slice(&task.payload)
            .map_err(|error| TaskError::new(format!("wc-reduce payload must be a list of counts: {error}")))?;
        let mut total: HashMap<String, u64> = HashMap::new();
        for part in parts {
            for (word, count) in part {
                *total.entry(word).or_default() += count;
            }
        }
        serde_json::to_vec(&total).map_err(TaskError::from)
    })
    .await
    .map_err(|error| TaskError::new(format!("wc-reduce: {error}")))?
}

/// CRC-32 (IEEE, as zlib's `crc32`), so Rust and Python agree on partitions.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        // zlib.crc32(b"") == 0, zlib.crc32(b"the") == 0x3c456de6
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"the"), 0x3C45_6DE6);
    }
}
