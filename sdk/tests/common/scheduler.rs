//! A fake `Scheduler` for client tests: every instance shares a call log
//! and a script that decides each answer from the call number.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use passer::pb;
use passer::pb::job_event::Event;
use passer::pb::scheduler_server::{Scheduler, SchedulerServer};
use passer::ClientConfig;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::{listener, within};

/// One `SubmitJob` the fake saw: which server, the request, its token.
#[derive(Debug, Clone)]
pub struct Call {
    pub server: usize,
    pub request: pb::SubmitJobRequest,
    pub authorization: Option<String>,
}

/// What the fake answers: a refusal, or the events of the job stream.
pub enum Reply {
    Refuse(Status),
    Events(Vec<Result<pb::JobEvent, Status>>),
}

/// Decides a reply from the call number (over all servers sharing the log) and the request.
pub type Script = Arc<dyn Fn(usize, &pb::SubmitJobRequest) -> Reply + Send + Sync>;

#[derive(Clone)]
pub struct FakeScheduler {
    pub server: usize,
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub script: Script,
    pub knows_job: bool,
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<pb::JobEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Scheduler for FakeScheduler {
    type SubmitJobStream = EventStream;

    async fn submit_job(&self, request: Request<pb::SubmitJobRequest>) -> Result<Response<EventStream>, Status> {
        let authorization = request.metadata().get("authorization").map(|value| value.to_str().unwrap().to_owned());
        let request = request.into_inner();
        let number = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(Call { server: self.server, request: request.clone(), authorization });
            calls.len() - 1
        };
        match (self.script)(number, &request) {
            Reply::Refuse(status) => Err(status),
            Reply::Events(events) => Ok(Response::new(Box::pin(futures::stream::iter(events)))),
        }
    }

    type SubmitJobsStream = Pin<Box<dyn Stream<Item = Result<pb::SubmitJobsResponse, Status>> + Send>>;

    /// An old scheduler's answer: the client falls back to `SubmitJob`.
    async fn submit_jobs(
        &self,
        _request: Request<tonic::Streaming<pb::SubmitJobsRequest>>,
    ) -> Result<Response<Self::SubmitJobsStream>, Status> {
        Err(Status::unimplemented("fake scheduler: SubmitJobs"))
    }

    type WatchJobStream = EventStream;

    async fn watch_job(&self, request: Request<pb::WatchJobRequest>) -> Result<Response<EventStream>, Status> {
        Err(Status::not_found(format!("fake scheduler: no job '{}'", request.get_ref().job_id)))
    }

    async fn cancel_job(
        &self,
        _request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        Ok(Response::new(pb::CancelJobResponse { found: self.knows_job }))
    }

    async fn get_stats(&self, _request: Request<pb::GetStatsRequest>) -> Result<Response<pb::SchedulerStats>, Status> {
        Ok(Response::new(pb::SchedulerStats { jobs_accepted: 40 + self.server as u64, ..Default::default() }))
    }
}

/// Starts `count` fake schedulers sharing one call log and script; returns their addresses.
pub async fn start_schedulers(count: usize, script: Script) -> (Vec<String>, Arc<Mutex<Vec<Call>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut addresses = Vec::new();
    for server in 0..count {
        let fake =
            FakeScheduler { server, calls: Arc::clone(&calls), script: Arc::clone(&script), knows_job: server == 1 };
        let (listener, address) = listener().await;
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(SchedulerServer::new(fake))
                .serve_with_incoming(TcpIncoming::from(listener)),
        );
        addresses.push(address.to_string());
    }
    (addresses, calls)
}

pub fn fast_config(addresses: &[String]) -> ClientConfig {
    let mut config = ClientConfig::new(addresses.iter().cloned());
    config.initial_backoff = Duration::from_millis(5);
    config.max_backoff = Duration::from_millis(50);
    config.max_retry_time = Duration::from_secs(3);
    config
}

pub fn accepted(request: &pb::SubmitJobRequest) -> Result<pb::JobEvent, Status> {
    let task_count = (request.tasks.len() - request.skip_task_ids.len()) as u32;
    let accepted = pb::JobAccepted { job_id: request.job_id.clone(), task_count, scheduler: "fake".to_owned() };
    Ok(pb::JobEvent { event: Some(Event::Accepted(accepted)) })
}

pub fn results<'a>(task_ids: impl IntoIterator<Item = &'a str>) -> Result<pb::JobEvent, Status> {
    let tasks = task_ids
        .into_iter()
        .map(|task_id| pb::TaskFinished {
            task_id: task_id.to_owned(),
            attempt: 1,
            status: pb::TaskStatus::Succeeded as i32,
            output: format!("out-{task_id}").into(),
            run_micros: 1500,
            ..Default::default()
        })
        .collect();
    Ok(pb::JobEvent { event: Some(Event::Results(pb::TaskResults { tasks })) })
}

pub fn finished() -> Result<pb::JobEvent, Status> {
    Ok(pb::JobEvent { event: Some(Event::JobFinished(pb::JobFinished::default())) })
}

/// Accepts and reports every task not skipped, then finishes.
pub fn complete(request: &pb::SubmitJobRequest) -> Reply {
    let skip: HashSet<&str> = request.skip_task_ids.iter().map(String::as_str).collect();
    let remaining = request.tasks.iter().map(|task| task.task_id.as_str()).filter(|id| !skip.contains(id));
    Reply::Events(vec![accepted(request), results(remaining), finished()])
}

pub fn overloaded(retry_after_ms: &str) -> Reply {
    let mut status = Status::resource_exhausted("admission limit reached");
    status.metadata_mut().insert("retry-after-ms", retry_after_ms.parse().unwrap());
    Reply::Refuse(status)
}

/// Drains `results`, asserting each task id comes exactly once.
pub async fn collect_once(results: &mut passer::JobResults) -> Vec<passer::TaskOutput> {
    let mut outputs = Vec::new();
    let mut seen = HashSet::new();
    while let Some(output) = within("the next result", results.next()).await {
        let output = output.expect("result");
        assert!(seen.insert(output.task_id.clone()), "task {} delivered twice", output.task_id);
        outputs.push(output);
    }
    outputs
}
