//! One live `Attach` stream: runs the tasks the node monitor sends, answers
//! cancellations, sends results in batches and a heartbeat every few
//! seconds, and on shutdown lets running tasks finish within a grace period.

use std::time::Duration;

use futures::StreamExt;
use passer_proto::pb;
use passer_proto::pb::executor_message::{Heartbeat, Message as FromExecutor, TaskResults};
use passer_proto::pb::node_message::Message as ToExecutor;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Streaming;

use super::running::RunningTasks;

/// How often an attached executor says it is alive.
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// How long running tasks may take to finish once shutdown begins.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long to wait for the node monitor to close its side after ours.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Most queued items merged into one outgoing message.
const MAX_BATCH: usize = 256;

/// What the executor queues for the node monitor.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A finished task.
    Result(pb::TaskResult),
    /// Liveness.
    Heartbeat,
}

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SessionEnd {
    /// The node monitor asked the executor to exit.
    Shutdown,
    /// The executor's own shutdown signal fired.
    Stopped,
    /// The stream broke; the reason says how.
    Broken(String),
}

/// Turns the outgoing queue into the request stream: `hello` first, then
/// each burst of queued items as one message.
pub(crate) fn outgoing_stream(
    hello: pb::executor_message::Hello,
    queue: mpsc::UnboundedReceiver<Outgoing>,
) -> impl futures::Stream<Item = pb::ExecutorMessage> + Send + 'static {
    let hello = pb::ExecutorMessage { message: Some(FromExecutor::Hello(hello)) };
    let batches = UnboundedReceiverStream::new(queue).ready_chunks(MAX_BATCH).map(batch_message);
    futures::stream::once(futures::future::ready(hello)).chain(batches)
}

/// One message for a burst: its results, or a heartbeat if it had none.
fn batch_message(burst: Vec<Outgoing>) -> pb::ExecutorMessage {
    let results: Vec<pb::TaskResult> = burst
        .into_iter()
        .filter_map(|item| match item {
            Outgoing::Result(result) => Some(result),
            Outgoing::Heartbeat => None,
        })
        .collect();
    let message = if results.is_empty() {
        FromExecutor::Heartbeat(Heartbeat {})
    } else {
        FromExecutor::Results(TaskResults { results })
    };
    pb::ExecutorMessage { message: Some(message) }
}

/// Serves one attached stream until it breaks, the node monitor says
/// shutdown, or `stop` turns true.
pub(crate) async fn serve(
    mut tasks: RunningTasks,
    heartbeat_interval: Duration,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    mut inbound: Streaming<pb::NodeMessage>,
    stop: &mut watch::Receiver<bool>,
) -> SessionEnd {
    // The first tick is at once: it tells the node monitor this executor
    // sends heartbeats, so silence past its limit means a hung executor.
    let mut heartbeat = tokio::time::interval_at(Instant::now(), heartbeat_interval);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let end = loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break SessionEnd::Stopped,
            message = inbound.message() => match message {
                Ok(Some(pb::NodeMessage { message: Some(ToExecutor::Run(batch)) })) => {
                    for run in batch.tasks {
                        tasks.start(run);
                    }
                }
                Ok(Some(pb::NodeMessage { message: Some(ToExecutor::Cancel(cancel)) })) => {
                    if let Some(result) = tasks.cancel(&cancel) {
                        let _ = outgoing.send(Outgoing::Result(result));
                    }
                }
                Ok(Some(pb::NodeMessage { message: Some(ToExecutor::Shutdown(_)) })) => break SessionEnd::Shutdown,
                Ok(Some(pb::NodeMessage { message: None })) => {}
                Ok(None) => break SessionEnd::Broken("the node monitor closed the stream".to_owned()),
                Err(status) => break SessionEnd::Broken(format!("{:?}: {}", status.code(), status.message())),
            },
            Some(result) = tasks.next_finished() => {
                let _ = outgoing.send(Outgoing::Result(result));
            }
            _ = heartbeat.tick() => {
                let _ = outgoing.send(Outgoing::Heartbeat);
            }
        }
    };
    if let SessionEnd::Broken(_) = end {
        // The node monitor already failed these tasks; nobody awaits their results.
        tasks.abort_all("attachment broke");
        return end;
    }
    drain(&mut tasks, &outgoing).await;
    drop(outgoing);
    // Our side is closed; once the node monitor closes too, every result was delivered.
    let _ = tokio::time::timeout(CLOSE_WAIT, async { while let Ok(Some(_)) = inbound.message().await {} }).await;
    end
}

/// Sends the results of running tasks as they finish, for at most
/// [`SHUTDOWN_GRACE`]; tasks still running then fail.
async fn drain(tasks: &mut RunningTasks, outgoing: &mpsc::UnboundedSender<Outgoing>) {
    if !tasks.is_empty() {
        tracing::info!(running = tasks.len(), "letting running tasks finish before exiting");
    }
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    loop {
        tokio::select! {
            finished = tasks.next_finished() => match finished {
                Some(result) => {
                    let _ = outgoing.send(Outgoing::Result(result));
                }
                None => return,
            },
            _ = tokio::time::sleep_until(deadline) => {
                tracing::warn!(running = tasks.len(), "shutdown grace period over, failing running tasks");
                for result in tasks.abort_all("executor shutting down") {
                    let _ = outgoing.send(Outgoing::Result(result));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(task_id: &str) -> Outgoing {
        Outgoing::Result(pb::TaskResult { task_id: task_id.to_owned(), ok: true, ..Default::default() })
    }

    #[tokio::test]
    async fn bursts_become_one_message_after_hello() {
        let (sender, receiver) = mpsc::unbounded_channel();
        for task_id in ["a", "b", "c"] {
            sender.send(result(task_id)).unwrap();
        }
        sender.send(Outgoing::Heartbeat).unwrap();
        drop(sender);
        let hello = pb::executor_message::Hello {
            executor: "echo".to_owned(),
            slots: 2,
            pid: 1,
            name: String::new(),
            queue_per_slot: 0,
        };
        let messages: Vec<pb::ExecutorMessage> = outgoing_stream(hello, receiver).collect().await;
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(matches!(messages[0].message, Some(FromExecutor::Hello(_))));
        match &messages[1].message {
            Some(FromExecutor::Results(batch)) => assert_eq!(batch.results.len(), 3),
            other => panic!("expected one results batch, got {other:?}"),
        }
    }

    #[test]
    fn a_burst_of_heartbeats_is_one_heartbeat() {
        let message = batch_message(vec![Outgoing::Heartbeat, Outgoing::Heartbeat]);
        assert!(matches!(message.message, Some(FromExecutor::Heartbeat(_))));
    }
}
