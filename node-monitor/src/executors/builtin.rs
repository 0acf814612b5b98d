//! Executors built into the node monitor (`--builtin echo,sleep`): the SDK's
//! handlers run in-process, with no gRPC hop, under the same slot,
//! deadline and cancellation rules as an attached process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use passer::handler::{SharedHandler, Task};
use passer_proto::pb;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::monitor::{ExecutorCommand, Monitor};

/// Attaches the built-in executor `name` with `slots` slots.
pub fn start_builtin(monitor: &Arc<Monitor>, name: &str, handler: SharedHandler, slots: u32) {
    let (commands, receiver) = mpsc::unbounded_channel();
    let label = format!("builtin:{name}@pid:{}", std::process::id());
    let instance = monitor.attach_instance(name, slots, 0, label, commands);
    tokio::spawn(run_host(Arc::clone(monitor), instance, handler, receiver));
}

async fn run_host(
    monitor: Arc<Monitor>,
    instance: u64,
    handler: SharedHandler,
    mut commands: mpsc::UnboundedReceiver<ExecutorCommand>,
) {
    let (results_tx, mut results_rx) = mpsc::unbounded_channel::<pb::TaskResult>();
    let mut running: HashMap<(String, String), (AbortHandle, u32)> = HashMap::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(ExecutorCommand::Run(task)) => {
                    let key = (task.job_id.clone(), task.task_id.clone());
                    let attempt = task.attempt;
                    let abort = spawn_task(Arc::clone(&handler), task, results_tx.clone());
                    running.insert(key, (abort, attempt));
                }
                Some(ExecutorCommand::Cancel(cancel)) => {
                    if let Some((abort, attempt)) = running.remove(&(cancel.job_id.clone(), cancel.task_id.clone())) {
                        abort.abort();
                        // Reporting the stopped attempt frees its slot now
                        // rather than after the node's cancel grace.
                        let error = format!("cancelled: {}", cancel.reason);
                        let stopped = pb::TaskResult { job_id: cancel.job_id, task_id: cancel.task_id, attempt, ok: false, output: Vec::new(), error };
                        monitor.on_results(instance, vec![stopped]);
                    }
                }
                Some(ExecutorCommand::Shutdown) | None => return,
            },
            Some(first) = results_rx.recv() => {
                let mut batch = vec![first];
                while let Ok(more) = results_rx.try_recv() {
                    batch.push(more);
                }
                for result in &batch {
                    running.remove(&(result.job_id.clone(), result.task_id.clone()));
                }
                monitor.on_results(instance, batch);
            }
        }
    }
}

fn spawn_task(
    handler: SharedHandler,
    task: pb::RunTask,
    results: mpsc::UnboundedSender<pb::TaskResult>,
) -> AbortHandle {
    let deadline = Duration::from_millis(task.deadline_ms);
    let job_id = task.job_id.clone();
    let task_id = task.task_id.clone();
    let attempt = task.attempt;
    let call =
        handler.call(Task { job_id: task.job_id, task_id: task.task_id, attempt, payload: task.payload, deadline });
    let join = tokio::spawn(async move {
        let (ok, output, error) = match tokio::time::timeout(deadline, call).await {
            Ok(Ok(output)) => (true, output, String::new()),
            Ok(Err(failure)) => (false, failure.output, failure.message),
            Err(_) => (false, Vec::new(), "deadline exceeded".to_owned()),
        };
        let _ = results.send(pb::TaskResult { job_id, task_id, attempt, ok, output, error });
    });
    join.abort_handle()
}
