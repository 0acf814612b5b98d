//! Executors built into the node monitor (`--builtin echo,sleep`): the SDK's
//! handlers run in-process, with no gRPC hop, through the very code an
//! attached SDK executor runs them with ([`passer::executor::RunningTasks`]):
//! the same slots, deadlines and cancellation, and a panicking handler
//! fails its task at once (with the panic's message) and frees its slot.

use std::sync::Arc;

use futures::FutureExt;
use passer::executor::RunningTasks;
use passer::handler::SharedHandler;
use tokio::sync::mpsc;

use crate::monitor::{ExecutorCommand, Monitor};

/// Most results handed to the monitor in one call.
const RESULT_BATCH: usize = 256;

/// Attaches the built-in executor `name` with `slots` slots, keeping at
/// most `max_log_bytes` of each task's logs.
pub fn start_builtin(monitor: &Arc<Monitor>, name: &str, handler: SharedHandler, slots: u32, max_log_bytes: usize) {
    let (commands, receiver) = mpsc::unbounded_channel();
    let label = format!("builtin:{name}@pid:{}", std::process::id());
    let instance = monitor.attach_instance(name, slots, 0, label, commands);
    let running = RunningTasks::new(handler, slots).with_max_log_bytes(max_log_bytes);
    tokio::spawn(run_host(Arc::clone(monitor), instance, running, receiver));
}

async fn run_host(
    monitor: Arc<Monitor>,
    instance: u64,
    mut running: RunningTasks,
    mut commands: mpsc::UnboundedReceiver<ExecutorCommand>,
) {
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(ExecutorCommand::Run(task)) => running.start(task),
                Some(ExecutorCommand::Cancel(cancel)) => {
                    // Reporting the stopped attempt frees its slot now
                    // rather than after the node's cancel grace.
                    if let Some(stopped) = running.cancel(&cancel) {
                        monitor.on_results(instance, vec![stopped]);
                    }
                }
                Some(ExecutorCommand::Shutdown) | None => return,
            },
            Some(first) = running.next_finished() => {
                let mut batch = vec![first];
                while batch.len() < RESULT_BATCH {
                    match running.next_finished().now_or_never() {
                        Some(Some(more)) => batch.push(more),
                        _ => break,
                    }
                }
                monitor.on_results(instance, batch);
            }
        }
    }
}

#[cfg(test)]
#[path = "builtin_tests.rs"]
mod tests;
