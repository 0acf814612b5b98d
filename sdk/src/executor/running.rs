//! The tasks one attachment is running: each runs its handler in its own
//! tokio task under the task's deadline, so a slow, cancelled or panicking
//! handler turns into exactly one `TaskResult` and never takes the executor down.
//!
//! At most `slots` run at once. Tasks sent beyond that (the queue places
//! this executor declares in its hello) wait here in arrival order and start
//! as running ones end, so a short task follows the one before it at once.
//!
//! Each handler runs in its own [`LogSink`] scope: what it logs (see
//! [`crate::task_logs`]) goes with its result, at most `max_log_bytes`,
//! also when it fails, panics, runs out of time or is cancelled.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use passer_proto::pb;
use tokio::task::{AbortHandle, Id, JoinError, JoinSet};

use crate::handler::{SharedHandler, Task, TaskError};
use crate::task_logs::{LogSink, DEFAULT_MAX_LOG_BYTES};

/// What a handler sees as its deadline when the node monitor set none.
const NO_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

/// A task is named by its job and task ids.
type TaskKey = (String, String);

/// What is known about a running task besides its future.
struct Started {
    key: TaskKey,
    attempt: u32,
    logs: LogSink,
}

/// The running and waiting tasks of one attachment (or one built-in
/// executor of a node monitor).
pub struct RunningTasks {
    handler: SharedHandler,
    slots: usize,
    max_log_bytes: usize,
    set: JoinSet<pb::TaskResult>,
    by_key: HashMap<TaskKey, AbortHandle>,
    by_id: HashMap<Id, Started>,
    waiting: VecDeque<pb::RunTask>,
}

impl RunningTasks {
    /// No tasks yet; each will run `handler`, at most `slots` at once.
    pub fn new(handler: SharedHandler, slots: u32) -> Self {
        Self {
            handler,
            slots: (slots as usize).max(1),
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            set: JoinSet::new(),
            by_key: HashMap::new(),
            by_id: HashMap::new(),
            waiting: VecDeque::new(),
        }
    }

    /// Keeps at most `max_log_bytes` of each task attempt's logs (default
    /// [`DEFAULT_MAX_LOG_BYTES`]); 0 keeps none.
    pub fn with_max_log_bytes(mut self, max_log_bytes: usize) -> Self {
        self.max_log_bytes = max_log_bytes;
        self
    }

    /// How many tasks are running or waiting for a slot.
    pub fn len(&self) -> usize {
        self.by_id.len() + self.waiting.len()
    }

    /// True when no task is running or waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts `run`, or queues it while every slot is busy. A second start
    /// of a task still here supersedes the first, which is dropped without
    /// a result.
    pub fn start(&mut self, run: pb::RunTask) {
        self.waiting.retain(|queued| queued.job_id != run.job_id || queued.task_id != run.task_id);
        if self.by_id.len() >= self.slots {
            self.waiting.push_back(run);
            return;
        }
        self.spawn(run);
    }

    fn spawn(&mut self, run: pb::RunTask) {
        let key = (run.job_id.clone(), run.task_id.clone());
        let attempt = run.attempt;
        let handler = SharedHandler::clone(&self.handler);
        let logs = LogSink::new(self.max_log_bytes);
        let abort = self.set.spawn(run_one(handler, run, logs.clone()));
        if let Some(previous) = self.by_key.insert(key.clone(), abort.clone()) {
            previous.abort();
            self.by_id.remove(&previous.id());
        }
        self.by_id.insert(abort.id(), Started { key, attempt, logs });
    }

    /// Starts waiting tasks while slots are free.
    fn fill_slots(&mut self) {
        while self.by_id.len() < self.slots {
            let Some(run) = self.waiting.pop_front() else { return };
            self.spawn(run);
        }
    }

    /// Stops the task `cancel` names and returns its `cancelled` result, or
    /// `None` if it is neither running nor waiting (it already reported).
    pub fn cancel(&mut self, cancel: &pb::node_message::CancelTask) -> Option<pb::TaskResult> {
        let reason = if cancel.reason.is_empty() { "cancelled by the node monitor" } else { &cancel.reason };
        let key = (cancel.job_id.clone(), cancel.task_id.clone());
        if let Some(position) = self.waiting.iter().position(|q| q.job_id == key.0 && q.task_id == key.1) {
            let run = self.waiting.remove(position).expect("position is in range");
            let started = Started { key, attempt: run.attempt, logs: LogSink::new(0) };
            return Some(failure(started, format!("cancelled: {reason}")));
        }
        let abort = self.by_key.remove(&key)?;
        abort.abort();
        let started = self.by_id.remove(&abort.id())?;
        self.fill_slots();
        Some(failure(started, format!("cancelled: {reason}")))
    }

    /// Waits for the next task to end and returns its result; `None` when
    /// nothing is running. Cancel-safe.
    pub async fn next_finished(&mut self) -> Option<pb::TaskResult> {
        loop {
            let joined = self.set.join_next_with_id().await?;
            let result_opt = self.on_joined(joined);
            self.fill_slots();
            if let Some(result) = result_opt {
                return Some(result);
            }
        }
    }

    /// Stops every task, running or waiting, and returns a failed result
    /// for each, saying `reason`.
    pub fn abort_all(&mut self, reason: &str) -> Vec<pb::TaskResult> {
        self.set.abort_all();
        self.by_key.clear();
        let waiting = self.waiting.drain(..).map(|run| Started {
            key: (run.job_id, run.task_id),
            attempt: run.attempt,
            logs: LogSink::new(0),
        });
        let running = self.by_id.drain().map(|(_, started)| started);
        waiting.chain(running).map(|started| failure(started, reason.to_owned())).collect()
    }

    fn on_joined(&mut self, joined: Result<(Id, pb::TaskResult), JoinError>) -> Option<pb::TaskResult> {
        let id = match &joined {
            Ok((id, _)) => *id,
            Err(error) => error.id(),
        };
        // Unknown ids were cancelled or superseded and have been accounted for.
        let started = self.by_id.remove(&id)?;
        if self.by_key.get(&started.key).is_some_and(|abort| abort.id() == id) {
            self.by_key.remove(&started.key);
        }
        match joined {
            Ok((_, result)) => Some(result),
            Err(error) if error.is_panic() => {
                let message = panic_message(error.into_panic());
                Some(failure(started, format!("handler panicked: {message}")))
            }
            Err(_) => Some(failure(started, "handler task was aborted".to_owned())),
        }
    }
}

/// Runs one task under its deadline (`deadline_ms` 0 means none), with
/// `logs` as its logs.
async fn run_one(handler: SharedHandler, run: pb::RunTask, logs: LogSink) -> pb::TaskResult {
    let deadline_opt = (run.deadline_ms > 0).then(|| Duration::from_millis(run.deadline_ms));
    let task = Task {
        job_id: run.job_id.clone(),
        task_id: run.task_id.clone(),
        attempt: run.attempt,
        payload: run.payload,
        deadline: deadline_opt.unwrap_or(NO_DEADLINE),
    };
    // The handler's call itself, not only its future, runs in the scope.
    let call = logs.scope(async move { handler.call(task).await });
    let outcome_opt = match deadline_opt {
        Some(deadline) => tokio::time::timeout(deadline, call).await.ok(),
        None => Some(call.await),
    };
    let (ok, output, error) = match outcome_opt {
        Some(Ok(output)) => (true, output, String::new()),
        Some(Err(TaskError { message, output })) => (false, output, message),
        None => (false, Bytes::new(), "deadline exceeded".to_owned()),
    };
    let logs = logs.take();
    pb::TaskResult { job_id: run.job_id, task_id: run.task_id, attempt: run.attempt, ok, output, error, logs }
}

fn failure(started: Started, error: String) -> pb::TaskResult {
    let (job_id, task_id) = started.key;
    let logs = started.logs.take();
    pb::TaskResult { job_id, task_id, attempt: started.attempt, ok: false, output: Bytes::new(), error, logs }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_owned(),
            Err(_) => "non-string panic payload".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn run(task_id: &str, payload: &str, deadline_ms: u64) -> pb::RunTask {
        pb::RunTask {
            job_id: "j".to_owned(),
            task_id: task_id.to_owned(),
            attempt: 1,
            payload: Bytes::copy_from_slice(payload.as_bytes()),
            deadline_ms,
        }
    }

    fn handler() -> SharedHandler {
        Arc::new(|task: Task| async move {
            match &task.payload[..] {
                b"panic" => {
                    crate::task_logs::log("about to panic");
                    panic!("boom")
                }
                b"sleep" => {
                    crate::task_logs::log(&format!("{} sleeps", task.task_id));
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(Vec::new())
                }
                b"fail" => Err(TaskError::new("nope")),
                other => Ok(other.to_vec()),
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn results_cover_success_failure_deadline_and_panic() {
        let mut tasks = RunningTasks::new(handler(), 8);
        tasks.start(run("ok", "hi", 0));
        tasks.start(run("fail", "fail", 1000));
        tasks.start(run("slow", "sleep", 50));
        tasks.start(run("panic", "panic", 1000));
        let mut results = HashMap::new();
        while let Some(result) = tasks.next_finished().await {
            results.insert(result.task_id.clone(), result);
        }
        assert_eq!(results.len(), 4);
        assert!(results["ok"].ok && results["ok"].output == "hi");
        assert_eq!(results["fail"].error, "nope");
        assert_eq!(results["slow"].error, "deadline exceeded");
        assert_eq!(results["panic"].error, "handler panicked: boom");
        assert_eq!(results["panic"].logs, "about to panic\n", "a panic keeps the logs");
        assert_eq!(results["slow"].logs, "slow sleeps\n", "a timeout keeps the logs");
        assert_eq!(results["ok"].logs, "");
        assert_eq!(tasks.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_reports_once() {
        let mut tasks = RunningTasks::new(handler(), 8);
        tasks.start(run("slow", "sleep", 0));
        let cancel = pb::node_message::CancelTask {
            job_id: "j".to_owned(),
            task_id: "slow".to_owned(),
            reason: "job cancelled".to_owned(),
        };
        let result = tasks.cancel(&cancel).expect("running");
        assert_eq!((result.ok, result.error.as_str()), (false, "cancelled: job cancelled"));
        assert!(tasks.cancel(&cancel).is_none());
        assert!(tasks.next_finished().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_beyond_the_slots_wait_their_turn() {
        let mut tasks = RunningTasks::new(handler(), 1);
        tasks.start(run("slow", "sleep", 30));
        tasks.start(run("first", "a", 0));
        tasks.start(run("second", "b", 0));
        tasks.start(run("dropped", "c", 0));
        assert_eq!(tasks.len(), 4);
        let cancel = pb::node_message::CancelTask {
            job_id: "j".to_owned(),
            task_id: "dropped".to_owned(),
            reason: String::new(),
        };
        let cancelled = tasks.cancel(&cancel).expect("waiting");
        assert_eq!(cancelled.error, "cancelled: cancelled by the node monitor");
        let started = tokio::time::Instant::now();
        let mut order = Vec::new();
        while let Some(result) = tasks.next_finished().await {
            order.push(result.task_id);
        }
        assert_eq!(order, ["slow", "first", "second"], "one slot: in arrival order, one at a time");
        assert_eq!(started.elapsed(), Duration::from_millis(30), "the slow one held the only slot");
        tasks.start(run("x", "sleep", 0));
        tasks.start(run("y", "a", 0));
        let failed = tasks.abort_all("gone");
        assert_eq!(failed.len(), 2, "running and waiting tasks each fail once: {failed:?}");
    }
}
