//! The gRPC services of a scheduler: `Scheduler` for clients and
//! `TaskSource` for node monitors. Thin shells over [`Scheduler`].

use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use passer_proto::pb;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{ReceiverStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};

use crate::core::Scheduler;
use crate::intake::stream_body::StreamRefusals;
use crate::node_stream::{self, NodeStream};
use crate::stats::add;

/// Serves `passer.v1.Scheduler`.
pub struct SchedulerService {
    scheduler: Arc<Scheduler>,
}

impl SchedulerService {
    /// A service over `scheduler`.
    pub fn new(scheduler: Arc<Scheduler>) -> Self {
        Self { scheduler }
    }
}

type JobEvents = ReceiverStream<Result<pb::JobEvent, Status>>;

#[tonic::async_trait]
impl pb::scheduler_server::Scheduler for SchedulerService {
    type SubmitJobStream = JobEvents;

    #[tracing::instrument(skip_all, fields(job_id = %request.get_ref().job_id, tasks = request.get_ref().tasks.len()))]
    async fn submit_job(&self, request: Request<pb::SubmitJobRequest>) -> Result<Response<JobEvents>, Status> {
        match self.scheduler.submit(request.into_inner()) {
            Ok(receiver) => Ok(Response::new(ReceiverStream::new(receiver))),
            Err(error) => {
                tracing::debug!(%error, "job refused");
                Err(error.into())
            }
        }
    }

    type SubmitJobsStream = crate::submit_stream::SubmitJobsStream;

    async fn submit_jobs(
        &self,
        request: Request<Streaming<pb::SubmitJobsRequest>>,
    ) -> Result<Response<Self::SubmitJobsStream>, Status> {
        let config = &self.scheduler.config;
        if config.disable_submit_stream {
            return Err(Status::unimplemented("SubmitJobs is disabled on this scheduler (--disable-submit-stream)"));
        }
        let scan_refusals = request.extensions().get::<StreamRefusals>().cloned().unwrap_or_default();
        let inbound = request.into_inner();
        let stream = crate::submit_stream::SubmitJobsStream::new(
            Arc::clone(&self.scheduler),
            inbound,
            config.max_jobs_per_stream,
            scan_refusals,
        );
        Ok(Response::new(stream))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let found = self.scheduler.cancel(&request.into_inner().job_id);
        Ok(Response::new(pb::CancelJobResponse { found }))
    }

    type WatchJobStream = JobEvents;

    async fn watch_job(&self, request: Request<pb::WatchJobRequest>) -> Result<Response<JobEvents>, Status> {
        let request = request.into_inner();
        let receiver = self.scheduler.watch(&request.job_id, &request.skip_task_ids)?;
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn get_stats(&self, _request: Request<pb::GetStatsRequest>) -> Result<Response<pb::SchedulerStats>, Status> {
        let mut stats = self.scheduler.stats.snapshot();
        let connected = self.scheduler.sessions.lock().iter().map(|(id, s)| (id.clone(), s.generation)).collect();
        stats.nodes = self.scheduler.nodes.describe(&connected);
        Ok(Response::new(stats))
    }
}

/// Serves `passer.v1.TaskSource`.
pub struct TaskSourceService {
    scheduler: Arc<Scheduler>,
}

impl TaskSourceService {
    /// A service over `scheduler`.
    pub fn new(scheduler: Arc<Scheduler>) -> Self {
        Self { scheduler }
    }
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<pb::SchedulerToNode, Status>> + Send>>;

fn check_node_id(node_id: &str) -> Result<(), Status> {
    if node_id.is_empty() || node_id.len() > 256 {
        return Err(Status::invalid_argument("node_id must be 1 to 256 bytes"));
    }
    Ok(())
}

#[tonic::async_trait]
impl pb::task_source_server::TaskSource for TaskSourceService {
    type SessionStream = SessionStream;

    async fn get_task(&self, request: Request<pb::GetTaskRequest>) -> Result<Response<pb::GetTaskResponse>, Status> {
        let request = request.into_inner();
        check_node_id(&request.node_id)?;
        let node_id = request.node_id.clone();
        let mut responses = self.scheduler.assign(&node_id, vec![request]);
        Ok(Response::new(responses.pop().unwrap_or_default()))
    }

    async fn report_tasks(
        &self,
        request: Request<pb::ReportTasksRequest>,
    ) -> Result<Response<pb::ReportTasksResponse>, Status> {
        let request = request.into_inner();
        check_node_id(&request.node_id)?;
        self.scheduler.report(&request.node_id, request.outcomes);
        Ok(Response::new(pb::ReportTasksResponse {}))
    }

    async fn session(
        &self,
        request: Request<Streaming<pb::NodeToScheduler>>,
    ) -> Result<Response<SessionStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("session closed before its first message"))?;
        check_node_id(&first.node_id)?;
        let node_id = first.node_id.clone();
        let scheduler = Arc::clone(&self.scheduler);
        let (placement, placement_queue) = if first.takes_reservations {
            let (stream, queue) = NodeStream::new();
            (Some(stream), Some(queue))
        } else {
            (None, None)
        };
        let generation = scheduler.session_started(&node_id, placement.clone());
        // One answer per inbound message at most, so the depth is bounded by
        // the node's requests in flight, which its slots bound.
        let (answers, receiver) = mpsc::unbounded_channel();
        // Ends the outbound stream with the inbound one.
        let (ended, ended_signal) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ended = ended;
            let mut next = Some(first);
            loop {
                let message = match next.take() {
                    Some(message) => message,
                    None => match inbound.message().await {
                        Ok(Some(message)) => message,
                        Ok(None) => break,
                        Err(status) => {
                            tracing::debug!(%node_id, %status, "node session broke");
                            break;
                        }
                    },
                };
                if !message.reservation_answers.is_empty() {
                    if let Some(placement) = &placement {
                        placement.resolve(message.reservation_answers);
                    }
                }
                if message.reservations_cancelled > 0 {
                    add(&scheduler.stats.reservations_cancelled, u64::from(message.reservations_cancelled));
                }
                if !message.outcomes.is_empty() {
                    scheduler.report(&node_id, message.outcomes);
                }
                if !message.progress.is_empty() {
                    scheduler.progress(&node_id, message.progress);
                }
                if !message.requests.is_empty() {
                    let responses = scheduler.assign(&node_id, message.requests);
                    let sent = split_by_payload(responses)
                        .into_iter()
                        .all(|responses| answers.send(pb::SchedulerToNode { responses, ..Default::default() }).is_ok());
                    if !sent {
                        break;
                    }
                }
            }
            if let Some(placement) = &placement {
                placement.close();
            }
            scheduler.session_ended(&node_id, generation);
        });
        let grants = UnboundedReceiverStream::new(receiver);
        let outbound: SessionStream = match placement_queue {
            Some(queue) => {
                Box::pin(futures::stream::select(grants, node_stream::outbound(queue)).take_until(ended_signal).map(Ok))
            }
            None => Box::pin(grants.map(Ok)),
        };
        Ok(Response::new(outbound))
    }
}

/// Cuts answers into stream messages of at most the batch budget of task
/// payload each (one answer may exceed it alone: it is one job's, and the
/// message limit admits any one job's tasks).
fn split_by_payload(responses: Vec<pb::GetTaskResponse>) -> Vec<Vec<pb::GetTaskResponse>> {
    let budget = passer_proto::batch_budget(passer_proto::MAX_MESSAGE_BYTES_DEFAULT);
    let mut chunks = Vec::new();
    let mut current: Vec<pb::GetTaskResponse> = Vec::new();
    let mut bytes = 0;
    for response in responses {
        let size: usize = response.tasks.iter().map(|task| task.payload.len()).sum();
        if bytes + size > budget && !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(response);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}
