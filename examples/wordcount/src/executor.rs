//! The executor side: handlers `wc-map` (payload `{"path", "partitions"}`:
//! reads the file, returns a JSON array of one `{word: count}` object per
//! partition) and `wc-reduce` (payload: a JSON array of `{word: count}`
//! objects, one per map; returns their sum). Files are passed by path, a
//! reference: the text never flows through the frontend.

use passer::{Task, TaskError};
use serde_json::Value;

use crate::counting::{add, count_partitioned, Counts};

/// `wc-map`: counts one file into partitions.
pub(crate) async fn map(task: Task) -> Result<Vec<u8>, TaskError> {
    let spec: Value = serde_json::from_slice(&task.payload)
        .map_err(|error| TaskError::new(format!("wc-map payload is not JSON: {error}")))?;
    let path = spec["path"].as_str().ok_or_else(|| TaskError::new("wc-map payload has no \"path\""))?.to_owned();
    let partitions = spec["partitions"].as_u64().filter(|&count| count >= 1).unwrap_or(1) as usize;
    // Reading and counting a file is blocking work: off the async threads.
    let counted = tokio::task::spawn_blocking(move || {
        let text = std::fs::read_to_string(&path).map_err(|error| format!("cannot read {path}: {error}"))?;
        Ok::<_, String>(count_partitioned(&text, partitions))
    })
    .await
    .map_err(|error| TaskError::new(format!("wc-map panicked: {error}")))?;
    let parts = counted.map_err(TaskError::new)?;
    Ok(serde_json::to_vec(&parts)?)
}

/// `wc-reduce`: sums the partial counts of one partition.
pub(crate) async fn reduce(task: Task) -> Result<Vec<u8>, TaskError> {
    let parts: Vec<Counts> = serde_json::from_slice(&task.payload)
        .map_err(|error| TaskError::new(format!("wc-reduce payload is not a JSON array of counts: {error}")))?;
    let mut total = Counts::new();
    for part in &parts {
        add(&mut total, part);
    }
    Ok(serde_json::to_vec(&total)?)
}
