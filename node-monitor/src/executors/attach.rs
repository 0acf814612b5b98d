//! The `Executors` gRPC service: an executor process says `hello`, gets
//! tasks, returns results. Its stream closing means the executor is gone.

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use passer_proto::pb;
use passer_proto::pb::executor_message::Message as FromExecutor;
use passer_proto::pb::node_message::Message as ToExecutor;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::executors::supervisor::ExitLog;
use crate::monitor::{ExecutorCommand, Monitor};

/// Most slots one executor may announce.
const MAX_SLOTS: u32 = 4096;
/// Most queue places per slot one executor may announce.
const MAX_QUEUE_PER_SLOT: u32 = 1024;
/// Largest message on an attach stream: the cluster's one limit.
const MAX_MESSAGE_BYTES: usize = passer_proto::MAX_MESSAGE_BYTES_DEFAULT;
/// Payload bytes after which a `RunTasks` batch is cut.
const RUN_BATCH_BYTES: usize = passer_proto::batch_budget(MAX_MESSAGE_BYTES);

/// The `Executors` gRPC service with its message limits, as every attach
/// listener (the main port, `--attach-listen`, `--attach-socket`) serves it.
pub fn executors_server(monitor: Arc<Monitor>, exits: ExitLog) -> pb::executors_server::ExecutorsServer<AttachService> {
    pb::executors_server::ExecutorsServer::new(AttachService::new(monitor, exits))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Serves `passer.v1.Executors`.
pub struct AttachService {
    monitor: Arc<Monitor>,
    exits: ExitLog,
}

impl AttachService {
    /// A service attaching executors to `monitor`; `exits` names why a
    /// supervised process ended.
    pub fn new(monitor: Arc<Monitor>, exits: ExitLog) -> Self {
        Self { monitor, exits }
    }
}

type NodeMessages = Pin<Box<dyn Stream<Item = Result<pb::NodeMessage, Status>> + Send>>;

#[tonic::async_trait]
impl pb::executors_server::Executors for AttachService {
    type AttachStream = NodeMessages;

    async fn attach(&self, request: Request<Streaming<pb::ExecutorMessage>>) -> Result<Response<NodeMessages>, Status> {
        let transport = transport_of(&request);
        let mut inbound = request.into_inner();
        let hello = match inbound.message().await? {
            Some(pb::ExecutorMessage { message: Some(FromExecutor::Hello(hello)) }) => hello,
            _ => return Err(Status::invalid_argument("the first message on Attach must be hello")),
        };
        validate_hello(&hello)?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let label = format!("pid:{}", hello.pid);
        let instance = tracing::info_span!("attach", transport).in_scope(|| {
            self.monitor.attach_instance(&hello.executor, hello.slots, hello.queue_per_slot, label, commands)
        });
        let monitor = Arc::clone(&self.monitor);
        let exits = self.exits.clone();
        tokio::spawn(async move {
            let reason = loop {
                match inbound.message().await {
                    Ok(Some(pb::ExecutorMessage { message: Some(FromExecutor::Results(batch)) })) => {
                        monitor.on_results(instance, batch.results);
                    }
                    Ok(Some(pb::ExecutorMessage { message: Some(FromExecutor::Heartbeat(_)) })) => {
                        monitor.on_heard(instance, true);
                    }
                    Ok(Some(pb::ExecutorMessage { message: Some(FromExecutor::Progress(progress)) })) => {
                        monitor.on_progress(instance, progress);
                    }
                    Ok(Some(_)) => monitor.on_heard(instance, false),
                    Ok(None) => break "executor stream closed".to_owned(),
                    Err(status) => break format!("executor stream broke: {}", status.message()),
                };
            };
            let reason = exits.reason_for(hello.pid).await.unwrap_or(reason);
            monitor.instance_gone(instance, &reason);
        });
        let outbound = UnboundedReceiverStream::new(receiver)
            .ready_chunks(256)
            .flat_map(|batch| futures::stream::iter(merge_runs(batch).into_iter().map(Ok)));
        Ok(Response::new(Box::pin(outbound)))
    }
}

/// How the executor reached us, for logs: `unix` (an attach socket) or `tcp`.
fn transport_of<T>(request: &Request<T>) -> &'static str {
    if request.extensions().get::<tonic::transport::server::UdsConnectInfo>().is_some() {
        "unix"
    } else {
        "tcp"
    }
}

fn validate_hello(hello: &pb::executor_message::Hello) -> Result<(), Status> {
    if hello.executor.is_empty() || hello.executor.len() > 64 {
        return Err(Status::invalid_argument("hello.executor must be 1 to 64 bytes"));
    }
    if hello.slots == 0 || hello.slots > MAX_SLOTS {
        return Err(Status::invalid_argument(format!("hello.slots must be 1 to {MAX_SLOTS}")));
    }
    if hello.queue_per_slot > MAX_QUEUE_PER_SLOT {
        return Err(Status::invalid_argument(format!("hello.queue_per_slot must be at most {MAX_QUEUE_PER_SLOT}")));
    }
    Ok(())
}

/// Turns a burst of commands into few messages: consecutive runs become one
/// `RunTasks`, cut at [`RUN_BATCH_BYTES`] of payload so every message stays
/// under the executor's message-size limit.
fn merge_runs(batch: Vec<ExecutorCommand>) -> Vec<pb::NodeMessage> {
    let mut messages = Vec::new();
    let mut runs: Vec<pb::RunTask> = Vec::new();
    let flush = |runs: &mut Vec<pb::RunTask>, messages: &mut Vec<pb::NodeMessage>| {
        if !runs.is_empty() {
            let tasks = std::mem::take(runs);
            messages.push(pb::NodeMessage { message: Some(ToExecutor::Run(pb::node_message::RunTasks { tasks })) });
        }
    };
    let mut run_bytes = 0;
    for command in batch {
        match command {
            ExecutorCommand::Run(task) => {
                if run_bytes + task.payload.len() > RUN_BATCH_BYTES {
                    flush(&mut runs, &mut messages);
                    run_bytes = 0;
                }
                run_bytes += task.payload.len();
                runs.push(task);
            }
            ExecutorCommand::Cancel(cancel) => {
                flush(&mut runs, &mut messages);
                messages.push(pb::NodeMessage { message: Some(ToExecutor::Cancel(cancel)) });
            }
            ExecutorCommand::Shutdown => {
                flush(&mut runs, &mut messages);
                messages.push(pb::NodeMessage { message: Some(ToExecutor::Shutdown(pb::node_message::Shutdown {})) });
            }
        }
    }
    flush(&mut runs, &mut messages);
    messages
}
