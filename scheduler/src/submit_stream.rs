//! The `SubmitJobs` call: many jobs on one long-lived client stream. Each
//! incoming job goes through [`Scheduler::submit`] (validation, re-attach
//! and replay, admission) exactly as a `SubmitJob` does; its event receiver
//! joins the set of open jobs, whose events are merged, tagged with the
//! job's `call_id`, into the one outbound stream. A job's refusal is one
//! response for its `call_id`; the stream goes on. That includes a job the
//! pre-decoding scan refused ([`crate::intake::stream_body`]): it arrives
//! here as a request with no job whose refusal waits in [`StreamRefusals`].
//!
//! The outbound stream is polled by tonic only while it can write, and the
//! inbound stream is read only from that poll: a client that stops reading
//! stops its own submissions (HTTP/2 flow control), and each job's events
//! wait in that job's bounded channel as they would for `SubmitJob`. No
//! timer: tonic encodes every response that is ready into one write.
//! Dropping the stream (the client went away) drops the open jobs'
//! receivers; the jobs run on and can be re-attached.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{SelectAll, Stream, StreamExt};
use passer_proto::pb;
use passer_proto::pb::submit_jobs_response::Outcome;
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

use crate::core::Scheduler;
use crate::error::SchedulerError;
use crate::intake::stream_body::StreamRefusals;

/// Inbound requests handled per poll before the open jobs' events get a
/// turn, so a client submitting fast cannot starve its own results.
const REQUESTS_PER_POLL: usize = 64;

/// How long a client refused for too many open jobs is asked to wait.
const STREAM_FULL_RETRY_AFTER: Duration = Duration::from_millis(50);

/// The outbound half of one `SubmitJobs` call.
pub struct SubmitJobsStream {
    scheduler: Arc<Scheduler>,
    /// The client's requests; `None` once it closed its side or broke.
    inbound_opt: Option<Streaming<pb::SubmitJobsRequest>>,
    /// The event streams of the jobs open on this call.
    open_jobs: SelectAll<TaggedEvents>,
    /// The call ids of the jobs open on this call.
    open_call_ids: HashSet<u64>,
    /// Refusals waiting to be sent (at most one per request read).
    refusals: VecDeque<pb::SubmitJobsResponse>,
    max_open_jobs: usize,
    /// An unreadable request that got past the scan: the call ends with
    /// it, since the stream's framing is lost.
    failure_opt: Option<Status>,
    /// Refusals of jobs the pre-decoding scan replaced by job-less requests.
    scan_refusals: StreamRefusals,
}

impl SubmitJobsStream {
    /// Serves `inbound` on `scheduler`, with at most `max_open_jobs` jobs
    /// open at once; `scan_refusals` are the call's pre-decoding refusals.
    pub fn new(
        scheduler: Arc<Scheduler>,
        inbound: Streaming<pb::SubmitJobsRequest>,
        max_open_jobs: usize,
        scan_refusals: StreamRefusals,
    ) -> Self {
        Self {
            scheduler,
            inbound_opt: Some(inbound),
            open_jobs: SelectAll::new(),
            open_call_ids: HashSet::new(),
            refusals: VecDeque::new(),
            max_open_jobs,
            failure_opt: None,
            scan_refusals,
        }
    }

    /// Submits one job from the stream: it joins the open jobs, or its
    /// refusal is queued.
    fn accept(&mut self, request: pb::SubmitJobsRequest) {
        let call_id = request.call_id;
        let scanned_out_opt = if request.job.is_none() { self.scan_refusals.take(call_id) } else { None };
        let refusal = if let Some(scanned_out) = scanned_out_opt {
            SchedulerError::InvalidArgument(scanned_out.to_string())
        } else if self.open_call_ids.contains(&call_id) {
            SchedulerError::InvalidArgument(format!(
                "call_id: {call_id} names a job still open on this stream; use a new call_id per job"
            ))
        } else if self.open_call_ids.len() >= self.max_open_jobs {
            SchedulerError::ResourceExhausted {
                message: format!(
                    "this stream has {} jobs open, the limit per stream (--max-jobs-per-stream); retry when one finishes",
                    self.max_open_jobs
                ),
                retry_after: STREAM_FULL_RETRY_AFTER,
            }
        } else {
            match request.job {
                None => SchedulerError::InvalidArgument("job: missing; each request carries one job".to_owned()),
                Some(job) => match self.scheduler.submit(job) {
                    Ok(receiver) => {
                        self.open_call_ids.insert(call_id);
                        self.open_jobs.push(TaggedEvents::new(call_id, receiver));
                        return;
                    }
                    Err(error) => {
                        tracing::debug!(call_id, %error, "job on stream refused");
                        error
                    }
                },
            }
        };
        self.refusals.push_back(refusal_response(call_id, &Status::from(refusal)));
    }

    /// Reads what the client has sent, up to [`REQUESTS_PER_POLL`] requests.
    fn poll_inbound(&mut self, cx: &mut Context<'_>) {
        for _ in 0..REQUESTS_PER_POLL {
            let Some(inbound) = self.inbound_opt.as_mut() else { return };
            match Pin::new(inbound).poll_next(cx) {
                Poll::Ready(Some(Ok(request))) => self.accept(request),
                Poll::Ready(Some(Err(status))) => {
                    self.inbound_opt = None;
                    tracing::info!(code = ?status.code(), message = status.message(), "submit stream request refused");
                    self.failure_opt = Some(Status::new(
                        status.code(),
                        format!(
                            "SubmitJobs: a request could not be read ({}); the stream ends here. Jobs accepted on \
                             it keep running: resubmit them (same job_id) to re-attach",
                            status.message()
                        ),
                    ));
                    return;
                }
                Poll::Ready(None) => self.inbound_opt = None,
                Poll::Pending => return,
            }
        }
        // More may be waiting: come back after the events had their turn.
        cx.waker().wake_by_ref();
    }
}

impl Stream for SubmitJobsStream {
    type Item = Result<pb::SubmitJobsResponse, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.refusals.is_empty() && this.failure_opt.is_none() {
            this.poll_inbound(cx);
        }
        if let Some(refusal) = this.refusals.pop_front() {
            return Poll::Ready(Some(Ok(refusal)));
        }
        if let Some(failure) = this.failure_opt.take() {
            // Ends the call; the open jobs' receivers drop with it.
            this.open_jobs.clear();
            this.open_call_ids.clear();
            return Poll::Ready(Some(Err(failure)));
        }
        match this.open_jobs.poll_next_unpin(cx) {
            Poll::Ready(Some(tagged)) => {
                if tagged.last {
                    this.open_call_ids.remove(&tagged.response.call_id);
                }
                Poll::Ready(Some(Ok(tagged.response)))
            }
            // No job open: the call ends once the client's side has.
            Poll::Ready(None) if this.inbound_opt.is_none() => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

/// One response and whether it is the last for its call id.
struct Tagged {
    response: pb::SubmitJobsResponse,
    last: bool,
}

/// One open job's events, tagged with its call id. A receiver that ends
/// before `job_finished` (a re-attach elsewhere took the job's stream over)
/// ends with an `UNAVAILABLE` error for the call id, so the client knows.
struct TaggedEvents {
    call_id: u64,
    receiver: mpsc::Receiver<Result<pb::JobEvent, Status>>,
    ended: bool,
}

impl TaggedEvents {
    fn new(call_id: u64, receiver: mpsc::Receiver<Result<pb::JobEvent, Status>>) -> Self {
        Self { call_id, receiver, ended: false }
    }
}

impl Stream for TaggedEvents {
    type Item = Tagged;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Tagged>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let call_id = this.call_id;
        let tagged = match this.receiver.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(event))) => {
                let last = matches!(event.event, Some(pb::job_event::Event::JobFinished(_)));
                Tagged { response: pb::SubmitJobsResponse { call_id, outcome: Some(Outcome::Event(event)) }, last }
            }
            Poll::Ready(Some(Err(status))) => Tagged { response: refusal_response(call_id, &status), last: true },
            Poll::Ready(None) => {
                let status = Status::unavailable(
                    "the job's result stream was taken over by another submission of it; resubmit to re-attach",
                );
                Tagged { response: refusal_response(call_id, &status), last: true }
            }
        };
        this.ended = tagged.last;
        Poll::Ready(Some(tagged))
    }
}

/// The response carrying `status` as the refusal of `call_id`.
fn refusal_response(call_id: u64, status: &Status) -> pb::SubmitJobsResponse {
    let retry_after_ms = status
        .metadata()
        .get(passer_proto::RETRY_AFTER_METADATA)
        .and_then(|value| value.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let error = pb::SubmitJobError { code: status.code() as i32, message: status.message().to_owned(), retry_after_ms };
    pb::SubmitJobsResponse { call_id, outcome: Some(Outcome::Error(error)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_carries_code_message_and_retry_after() {
        let status = Status::from(SchedulerError::ResourceExhausted {
            message: "full".to_owned(),
            retry_after: Duration::from_millis(250),
        });
        let response = refusal_response(7, &status);
        assert_eq!(response.call_id, 7);
        let Some(Outcome::Error(error)) = response.outcome else { panic!("not an error: {response:?}") };
        assert_eq!(error.code, tonic::Code::ResourceExhausted as i32);
        assert_eq!(error.message, "full");
        assert_eq!(error.retry_after_ms, 250);
    }

    #[tokio::test]
    async fn events_are_tagged_and_an_early_end_is_an_error() {
        let (sender, receiver) = mpsc::channel(4);
        let mut tagged = TaggedEvents::new(3, receiver);
        sender.try_send(Ok(pb::JobEvent::default())).expect("room");
        drop(sender);
        let first = tagged.next().await.expect("event");
        assert!(!first.last);
        assert!(matches!(first.response.outcome, Some(Outcome::Event(_))));
        let second = tagged.next().await.expect("end marker");
        assert!(second.last);
        let Some(Outcome::Error(error)) = second.response.outcome else { panic!("not an error") };
        assert_eq!(error.code, tonic::Code::Unavailable as i32);
        assert!(tagged.next().await.is_none());
    }
}
