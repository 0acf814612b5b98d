//! How `passer submit` and `passer results` print a job's results: one line
//! per failed task (and per task for jobs of up to 20), or one JSON object
//! per task with `--json`; a progress bar on a terminal (its message: the
//! failures so far and the latest task progress); then the summary and
//! the exit code (0 when every task succeeded, 2 otherwise).

use std::io::{BufWriter, StdoutLock, Write};
use std::process::ExitCode;
use std::time::Instant;

use passer::TaskOutput;

use crate::summary::Summary;

/// Jobs of up to this many tasks print successes too.
const PRINT_ALL_UP_TO: usize = 20;

/// Prints results as they arrive and the summary at the end.
pub(crate) struct ResultPrinter {
    json: bool,
    print_all: bool,
    started: Instant,
    out: BufWriter<StdoutLock<'static>>,
    bar: indicatif::ProgressBar,
    outputs: Vec<TaskOutput>,
    failed: u64,
    latest_progress: String,
}

impl ResultPrinter {
    /// A printer for a job of `count` tasks (started at `started`).
    pub(crate) fn new(count: usize, json: bool, started: Instant) -> Self {
        Self {
            json,
            print_all: count <= PRINT_ALL_UP_TO,
            started,
            out: BufWriter::new(std::io::stdout().lock()),
            bar: crate::progress::job_bar(count, !json),
            outputs: Vec::with_capacity(count),
            failed: 0,
            latest_progress: String::new(),
        }
    }

    /// Shows a running task's progress in the bar's message.
    pub(crate) fn progress(&mut self, progress: &passer::pb::TaskProgress) {
        self.latest_progress = format!(
            "{}: {:.0}%{}{}",
            progress.task_id,
            f64::from(progress.fraction) * 100.0,
            if progress.message.is_empty() { "" } else { " " },
            progress.message
        );
        self.show_message();
    }

    fn show_message(&self) {
        let message = match (self.failed, self.latest_progress.is_empty()) {
            (0, _) => self.latest_progress.clone(),
            (failed, true) => format!("{failed} failed"),
            (failed, false) => format!("{failed} failed · {}", self.latest_progress),
        };
        self.bar.set_message(message);
    }

    /// Prints one result.
    pub(crate) fn print(&mut self, result: TaskOutput) -> std::io::Result<()> {
        self.bar.inc(1);
        if !result.succeeded() {
            self.failed += 1;
            self.show_message();
        }
        if self.json {
            let line = serde_json::json!({
                "task_id": result.task_id,
                "status": result.status.short_name(),
                "attempt": result.attempt,
                "node": result.node_id,
                "executor_id": result.executor_id,
                "output": String::from_utf8_lossy(&result.output),
                "error": result.error,
                "queued_us": result.queued.as_micros() as u64,
                "run_us": result.run.as_micros() as u64,
                "total_us": result.total.as_micros() as u64,
            });
            writeln!(self.out, "{line}")?;
        } else if !result.succeeded() || self.print_all {
            let out = &mut self.out;
            self.bar.suspend(|| {
                writeln!(
                    out,
                    "{} {} {}{}",
                    result.task_id,
                    result.status.short_name(),
                    String::from_utf8_lossy(&result.output),
                    if result.error.is_empty() { String::new() } else { format!(" ({})", result.error) }
                )
                .and_then(|()| out.flush())
            })?;
        }
        self.outputs.push(result);
        Ok(())
    }

    /// Prints the summary (with `--json`, one object with `extra`'s fields
    /// beside `summary`) and returns the exit code.
    pub(crate) fn finish(mut self, extra: serde_json::Value) -> std::io::Result<ExitCode> {
        self.bar.finish_and_clear();
        let summary = Summary::new(&self.outputs, self.started.elapsed());
        if self.json {
            let mut object = serde_json::json!({ "summary": summary });
            if let (Some(object), serde_json::Value::Object(extra)) = (object.as_object_mut(), extra) {
                object.extend(extra);
            }
            writeln!(self.out, "{object}")?;
        } else {
            writeln!(self.out, "{}", summary.render())?;
        }
        self.out.flush()?;
        Ok(if summary.succeeded == summary.tasks { ExitCode::SUCCESS } else { ExitCode::from(2) })
    }
}
