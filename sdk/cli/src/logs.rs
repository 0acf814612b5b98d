//! `passer logs JOB [TASK]`: what a job's tasks wrote (their logs, see
//! `passer::task_logs`), fetched like `passer results` (a running job's as
//! its tasks end, a finished one's while a scheduler keeps it). Without a
//! task, each finished task's logs follow a header line; with one, that
//! task's logs alone, raw, once it has ended.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use passer::TaskOutput;

use crate::results::{watch_job, ResultsArgs};

/// Flags of `passer logs`: those of `passer results`, and a task.
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// The job and how to reach it (`--json`: one object per task with
    /// `task_id`, `attempt`, `status`, `node_id` and `logs`).
    #[command(flatten)]
    pub(crate) job: ResultsArgs,
    /// Print only this task's logs, raw (waits for it to end).
    pub(crate) task_id: Option<String>,
}

/// Runs `passer logs`: exit 0 once the logs are printed, 1 when no
/// scheduler knows the job or the job has no such task.
pub(crate) async fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let mut watch = watch_job(&args.job).await?;
    let job_id = &args.job.job_id;
    let mut stdout = std::io::stdout().lock();
    while let Some(result) = watch.next().await {
        let output = result.with_context(|| format!("the results of job {job_id} broke off"))?;
        match &args.task_id {
            Some(task_id) if *task_id == output.task_id => {
                stdout.write_all(output.logs.as_bytes())?;
                stdout.flush()?;
                return Ok(ExitCode::SUCCESS);
            }
            Some(_) => {}
            None if args.job.json => writeln!(stdout, "{}", json_line(&output))?,
            None => write_section(&mut stdout, &output)?,
        }
    }
    match &args.task_id {
        Some(task_id) => anyhow::bail!("job {job_id} has no task {task_id:?}"),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// One task's logs under a header line, ending with a newline.
fn write_section(out: &mut impl Write, output: &TaskOutput) -> std::io::Result<()> {
    let status = status_name(output);
    writeln!(out, "=== {} (attempt {}, {status}, node {}) ===", output.task_id, output.attempt, node(output))?;
    out.write_all(output.logs.as_bytes())?;
    if !output.logs.is_empty() && !output.logs.ends_with('\n') {
        writeln!(out)?;
    }
    out.flush()
}

fn json_line(output: &TaskOutput) -> serde_json::Value {
    serde_json::json!({
        "task_id": output.task_id,
        "attempt": output.attempt,
        "status": status_name(output),
        "node_id": output.node_id,
        "logs": output.logs,
    })
}

fn status_name(output: &TaskOutput) -> String {
    output.status.as_str_name().trim_start_matches("TASK_STATUS_").to_ascii_lowercase()
}

fn node(output: &TaskOutput) -> &str {
    if output.node_id.is_empty() {
        "-"
    } else {
        &output.node_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_has_a_header_and_ends_with_a_newline() {
        let output = TaskOutput {
            task_id: "t1".into(),
            attempt: 2,
            node_id: "n1".into(),
            status: passer::pb::TaskStatus::Failed,
            output: Default::default(),
            error: String::new(),
            queued: std::time::Duration::ZERO,
            run: std::time::Duration::ZERO,
            total: std::time::Duration::ZERO,
            executor_id: String::new(),
            logs: "line".into(),
            hops: None,
        };
        let mut text = Vec::new();
        write_section(&mut text, &output).expect("written");
        assert_eq!(String::from_utf8(text).expect("utf-8"), "=== t1 (attempt 2, failed, node n1) ===\nline\n");
        assert_eq!(json_line(&output)["status"], "failed");
    }
}
