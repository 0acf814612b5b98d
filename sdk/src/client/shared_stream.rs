//! The one `SubmitJobs` stream a client keeps per scheduler: opened on the
//! first submission, reopened after it breaks. Jobs go out tagged with a
//! call id; a reader task demultiplexes the responses by call id into one
//! channel per job, which [`super::events::JobEventStream`] reads like a
//! `SubmitJob` stream. When the stream breaks, every job open on it gets an
//! `UNAVAILABLE` error, so its [`super::JobResults`] resubmits it (same job
//! id: the scheduler re-attaches and replays what was not seen). An
//! endpoint that cannot take jobs on a stream is marked per-call-only here,
//! where the stream's answer is read, whether the answer came when the
//! stream opened or later to its reader: `UNIMPLEMENTED` (a scheduler that
//! predates `SubmitJobs`, a node monitor), an answer that is not gRPC (an
//! HTTP page, a wrong content type), or a refusal of the stream itself.
//! Jobs go to it by `SubmitJob` from then on, and that call gives the
//! clear error when it is no scheduler at all.
//!
//! Bounded: a job's channel holds its accepted event, one batch per task at
//! most, its end and a few progress reports (dropped when only the room
//! reserved for results is left), so the reader never waits on a job whose
//! results nobody reads and never holds more than the jobs' results.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use passer_proto::pb;
use passer_proto::pb::submit_jobs_response::Outcome;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};
use tracing::{debug, info, warn};

use super::Client;

/// Jobs queued for the stream before a submitter waits (back-pressure
/// from a scheduler that stops reading).
const REQUEST_QUEUE: usize = 64;
/// Room in a job's channel for progress reports beyond its results.
const PROGRESS_ROOM: usize = 16;
/// Events of a job that are not progress and not per-task results:
/// accepted, finished, and an error.
const FRAMING_EVENTS: usize = 3;

/// The stream state of one scheduler connection.
#[derive(Default)]
pub(crate) struct StreamSlot {
    /// The open stream; replaced when it broke.
    current: tokio::sync::Mutex<Option<Arc<SharedStream>>>,
    /// Set once the scheduler showed it cannot take jobs on a stream.
    per_call_only: Arc<AtomicBool>,
}

impl StreamSlot {
    /// The stream to submit on, opened if needed; `None` when this
    /// scheduler takes jobs by `SubmitJob` only.
    pub(crate) async fn get(&self, client: &Client, index: usize) -> Result<Option<Arc<SharedStream>>, Status> {
        if self.per_call_only.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut current = self.current.lock().await;
        if let Some(stream) = current.as_ref().filter(|stream| !stream.is_broken()) {
            return Ok(Some(Arc::clone(stream)));
        }
        *current = None;
        let (requests, outbound) = mpsc::channel(REQUEST_QUEUE);
        let call = client.request(ReceiverStream::new(outbound));
        let responses = match client.scheduler(index).submit_jobs(call).await {
            Ok(response) => response.into_inner(),
            Err(status) if takes_no_stream(&status) => {
                info!(scheduler = %client.schedulers()[index], code = ?status.code(), message = status.message(), "no SubmitJobs here; submitting one call per job");
                self.per_call_only.store(true, Ordering::Relaxed);
                return Ok(None);
            }
            Err(status) => return Err(status),
        };
        let calls = Arc::new(Mutex::new(Calls::default()));
        let address = client.schedulers()[index].clone();
        debug!(scheduler = %address, "submit stream opened");
        tokio::spawn(read(responses, Arc::clone(&calls), address, Arc::clone(&self.per_call_only)));
        let stream = Arc::new(SharedStream { requests, calls, next_call_id: AtomicU64::new(1) });
        *current = Some(Arc::clone(&stream));
        Ok(Some(stream))
    }
}

/// One open `SubmitJobs` call.
pub(crate) struct SharedStream {
    requests: mpsc::Sender<pb::SubmitJobsRequest>,
    calls: Arc<Mutex<Calls>>,
    next_call_id: AtomicU64,
}

/// The jobs open on a stream, by call id.
#[derive(Default)]
struct Calls {
    open: HashMap<u64, OpenCall>,
    /// Set when the stream ended; no job is added after.
    broken: bool,
}

struct OpenCall {
    sender: mpsc::Sender<Result<pb::JobEvent, Status>>,
    /// Channel slots kept for events that are not progress.
    reserved: usize,
}

impl SharedStream {
    fn is_broken(&self) -> bool {
        self.calls.lock().broken
    }

    /// Sends `job` on the stream; its events arrive on the returned call.
    pub(crate) async fn submit(&self, job: pb::SubmitJobRequest) -> Result<SharedCall, Status> {
        let call_id = self.next_call_id.fetch_add(1, Ordering::Relaxed);
        let reserved = job.tasks.len() + FRAMING_EVENTS;
        let (sender, receiver) = mpsc::channel(reserved + PROGRESS_ROOM);
        {
            let mut calls = self.calls.lock();
            if calls.broken {
                return Err(Status::unavailable("submit stream broke"));
            }
            calls.open.insert(call_id, OpenCall { sender, reserved });
        }
        let call = SharedCall { receiver, call_id, calls: Arc::clone(&self.calls) };
        let request = pb::SubmitJobsRequest { call_id, job: Some(job) };
        if self.requests.send(request).await.is_err() {
            return Err(Status::unavailable("submit stream closed before the job was sent"));
        }
        Ok(call)
    }
}

/// The events of one job on a shared stream. Dropping it forgets the job
/// on the client side (the job runs on, like a dropped `SubmitJob`).
pub(crate) struct SharedCall {
    receiver: mpsc::Receiver<Result<pb::JobEvent, Status>>,
    call_id: u64,
    calls: Arc<Mutex<Calls>>,
}

impl SharedCall {
    /// The job's next event; `Ok(None)` when its events ended unfinished
    /// (the caller fails over).
    pub(crate) async fn message(&mut self) -> Result<Option<pb::JobEvent>, Status> {
        self.receiver.recv().await.transpose()
    }
}

impl Drop for SharedCall {
    fn drop(&mut self) {
        self.calls.lock().open.remove(&self.call_id);
    }
}

/// Reads the stream's responses into the jobs' channels until it ends,
/// then fails every job still open on it (also if the task is dropped,
/// say with its runtime, so no job waits on a stream nobody reads).
async fn read(
    mut responses: Streaming<pb::SubmitJobsResponse>,
    calls: Arc<Mutex<Calls>>,
    address: String,
    per_call_only: Arc<AtomicBool>,
) {
    let mut ending = FailOpenCalls { calls: Arc::clone(&calls), reason: "its reader stopped".to_owned(), address };
    let end = loop {
        match responses.message().await {
            Ok(Some(response)) => deliver(&calls, response),
            Ok(None) => break Status::unavailable("the scheduler ended the submit stream"),
            Err(status) => break status,
        }
    };
    if is_refusal(end.code()) || takes_no_stream(&end) {
        // The scheduler refused the stream itself (a request it could not
        // read), or the endpoint is no gRPC scheduler at all: per-job calls
        // give each job its own answer, which says which.
        warn!(scheduler = %ending.address, code = ?end.code(), message = end.message(), "submit stream refused; submitting one call per job to this endpoint");
        per_call_only.store(true, Ordering::Relaxed);
    } else {
        debug!(scheduler = %ending.address, code = ?end.code(), message = end.message(), "submit stream ended");
    }
    ending.reason = end.message().to_owned();
}

/// On drop, marks a stream broken and fails the jobs open on it with
/// `UNAVAILABLE`, so each resubmits.
struct FailOpenCalls {
    calls: Arc<Mutex<Calls>>,
    reason: String,
    address: String,
}

impl Drop for FailOpenCalls {
    fn drop(&mut self) {
        let open = {
            let mut calls = self.calls.lock();
            calls.broken = true;
            std::mem::take(&mut calls.open)
        };
        let broke = Status::unavailable(format!("submit stream to {} broke: {}", self.address, self.reason));
        for call in open.into_values() {
            let _ = call.sender.try_send(Err(broke.clone()));
        }
    }
}

/// Whether `status` shows an endpoint that cannot take jobs on a stream at
/// all: `UNIMPLEMENTED` (no `SubmitJobs` there) or an answer that is not
/// gRPC. A new stream would fail the same way.
fn takes_no_stream(status: &Status) -> bool {
    status.code() == Code::Unimplemented || super::reach::not_grpc(status)
}

/// Whether a stream that ended with `code` was refused by the scheduler
/// (a request it would not take on the stream) rather than broken on the
/// way (the scheduler went away, the connection failed: a new stream may
/// work).
fn is_refusal(code: Code) -> bool {
    matches!(
        code,
        Code::OutOfRange
            | Code::InvalidArgument
            | Code::ResourceExhausted
            | Code::FailedPrecondition
            | Code::PermissionDenied
            | Code::Unauthenticated
    )
}

/// Hands one response to its job's channel. A job's last event or error
/// closes its entry; a channel with no room left for a result (it cannot
/// happen while the scheduler keeps to one batch per task) is closed, so
/// its job fails over instead of losing the result.
fn deliver(calls: &Mutex<Calls>, response: pb::SubmitJobsResponse) {
    let call_id = response.call_id;
    let mut calls = calls.lock();
    let Some(call) = calls.open.get_mut(&call_id) else { return };
    let (item, last) = match response.outcome {
        Some(Outcome::Event(event)) => {
            if matches!(event.event, Some(pb::job_event::Event::Progress(_))) {
                if call.sender.capacity() > call.reserved {
                    let _ = call.sender.try_send(Ok(event));
                }
                return;
            }
            let last = matches!(event.event, Some(pb::job_event::Event::JobFinished(_)));
            (Ok(event), last)
        }
        Some(Outcome::Error(error)) => (Err(error_status(error)), true),
        None => return,
    };
    call.reserved = call.reserved.saturating_sub(1);
    let delivered = call.sender.try_send(item).is_ok();
    if last || !delivered {
        calls.open.remove(&call_id);
    }
}

/// The status a `SubmitJob` call would have failed with.
fn error_status(error: pb::SubmitJobError) -> Status {
    let mut status = Status::new(Code::from_i32(error.code), error.message);
    if error.retry_after_ms > 0 {
        if let Ok(value) = error.retry_after_ms.to_string().parse() {
            status.metadata_mut().insert(passer_proto::RETRY_AFTER_METADATA, value);
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_call(calls: &Arc<Mutex<Calls>>, call_id: u64, tasks: usize) -> SharedCall {
        let reserved = tasks + FRAMING_EVENTS;
        let (sender, receiver) = mpsc::channel(reserved + PROGRESS_ROOM);
        calls.lock().open.insert(call_id, OpenCall { sender, reserved });
        SharedCall { receiver, call_id, calls: Arc::clone(calls) }
    }

    fn event(call_id: u64, event: pb::job_event::Event) -> pb::SubmitJobsResponse {
        pb::SubmitJobsResponse { call_id, outcome: Some(Outcome::Event(pb::JobEvent { event: Some(event) })) }
    }

    #[test]
    fn endpoints_without_a_stream_are_told_from_broken_streams() {
        assert!(takes_no_stream(&Status::unimplemented("unknown service passer.v1.Scheduler")));
        let page = "protocol error: received message with invalid compression flag: 60 (valid flags are 0 and 1) \
                    while receiving response with status: 200 OK";
        assert!(takes_no_stream(&Status::internal(page)), "an HTML page served with 200");
        assert!(takes_no_stream(&Status::unknown("grpc-status header missing, mapped from HTTP status code 200")));
        assert!(!takes_no_stream(&Status::unavailable("connection reset")), "a break: a new stream may work");
        assert!(!takes_no_stream(&Status::internal("h2 protocol error: stream reset")));
    }

    #[tokio::test]
    async fn responses_reach_their_own_job_and_finished_closes_it() {
        let calls = Arc::new(Mutex::new(Calls::default()));
        let mut first = open_call(&calls, 1, 1);
        let mut second = open_call(&calls, 2, 1);
        deliver(&calls, event(2, pb::job_event::Event::JobFinished(pb::JobFinished::default())));
        deliver(&calls, event(1, pb::job_event::Event::Results(pb::TaskResults::default())));
        assert!(matches!(second.message().await, Ok(Some(_))));
        assert!(matches!(
            first.message().await,
            Ok(Some(pb::JobEvent { event: Some(pb::job_event::Event::Results(_)) }))
        ));
        assert!(!calls.lock().open.contains_key(&2), "a finished job leaves the table");
        drop(first);
        assert!(calls.lock().open.is_empty(), "a dropped job leaves the table");
    }

    #[tokio::test]
    async fn an_error_keeps_code_and_retry_after() {
        let calls = Arc::new(Mutex::new(Calls::default()));
        let mut call = open_call(&calls, 5, 1);
        let error =
            pb::SubmitJobError { code: Code::ResourceExhausted as i32, message: "full".into(), retry_after_ms: 30 };
        deliver(&calls, pb::SubmitJobsResponse { call_id: 5, outcome: Some(Outcome::Error(error)) });
        let status = call.message().await.expect_err("refused");
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(super::super::backoff::retry_after(&status), Some(std::time::Duration::from_millis(30)));
    }

    #[tokio::test]
    async fn progress_never_takes_the_room_of_results() {
        let calls = Arc::new(Mutex::new(Calls::default()));
        let mut call = open_call(&calls, 9, 2);
        for _ in 0..100 {
            deliver(&calls, event(9, pb::job_event::Event::Progress(pb::TaskProgress::default())));
        }
        for _ in 0..2 {
            deliver(&calls, event(9, pb::job_event::Event::Results(pb::TaskResults::default())));
        }
        deliver(&calls, event(9, pb::job_event::Event::JobFinished(pb::JobFinished::default())));
        let mut results = 0;
        let mut finished = false;
        while let Ok(Some(received)) = call.message().await {
            match received.event {
                Some(pb::job_event::Event::Results(_)) => results += 1,
                Some(pb::job_event::Event::JobFinished(_)) => {
                    finished = true;
                    break;
                }
                _ => {}
            }
        }
        assert_eq!((results, finished), (2, true));
    }
}
