//! One submission of a job, retried across schedulers until one accepts it
//! (on the client's shared `SubmitJobs` stream to that scheduler by
//! default, by a `SubmitJob` call when the stream is off or the scheduler
//! predates it; refusals are the same either way):
//! overloaded schedulers (`RESOURCE_EXHAUSTED`) are retried after their
//! `retry-after-ms` hint or a jittered backoff, unreachable ones are skipped
//! round-robin with a backoff after each full round, and a bad job fails at once.
//! A first submission where nothing serves at any address (refused,
//! unresolvable, not a scheduler) fails after `unreachable_timeout` (at once
//! when every address is not a scheduler), naming each address and why; an
//! address that accepts the connection and stays silent (perhaps a frozen
//! scheduler) is waited for like an overloaded one.

use std::time::Duration;

use passer_proto::pb;
use passer_proto::pb::job_event::Event;
use tokio::time::Instant;
use tonic::{Code, Status};
use tracing::{debug, warn};

use super::backoff::{retry_after, Backoff};
use super::events::JobEventStream;
use super::reach::{self, Attempts, Unreached};
use super::Client;
use crate::error::ClientError;

/// Longest wait for a scheduler's `accepted` once the call is made.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Shortest wait for `accepted` near the end of a first submission's window.
const MIN_ANSWER_TIMEOUT: Duration = Duration::from_millis(200);

/// A job stream a scheduler accepted.
pub(crate) struct Opened {
    /// The index of the scheduler that accepted.
    pub(crate) index: usize,
    /// The rest of the job's events.
    pub(crate) stream: JobEventStream,
    /// The scheduler's acceptance.
    pub(crate) accepted: pb::JobAccepted,
}

/// Overload counters, kept over every submission of one job.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RetryStats {
    /// Time spent backing off on `RESOURCE_EXHAUSTED`.
    pub(crate) waited: Duration,
    /// `RESOURCE_EXHAUSTED` answers retried.
    pub(crate) rejections: u32,
}

/// Why one attempt did not open a stream.
enum Refusal {
    /// The scheduler is overloaded; retry later, perhaps elsewhere.
    Overloaded(Status),
    /// The scheduler could not be reached or dropped the call, or the
    /// address is no scheduler at all; try another.
    Unreachable(Unreached),
    /// Retrying cannot help.
    Fatal(ClientError),
}

/// Submits `request`, starting at scheduler `start`, until a scheduler
/// accepts it or `max_retry_time` has passed. On a `first` submission, a
/// cluster where no scheduler answers at all fails after
/// `unreachable_timeout` instead.
pub(crate) async fn open(
    client: &Client,
    request: &pb::SubmitJobRequest,
    start: usize,
    stats: &mut RetryStats,
    first: bool,
) -> Result<Opened, ClientError> {
    let config = client.config();
    let count = client.scheduler_count();
    let began = Instant::now();
    let mut backoff = Backoff::new(config.initial_backoff, config.max_backoff);
    let mut index = start % count;
    let mut unreachable_in_round = 0usize;
    let mut unreachable_total = 0u32;
    let mut attempts = Attempts::new(count);
    // Set once a scheduler answered (even "overloaded"): from then on only
    // `max_retry_time` bounds the retries.
    let mut window_opt = first.then_some(config.unreachable_timeout);
    loop {
        let answer_timeout = match window_opt {
            // A share of what is left, so one silent address cannot use up
            // the window before the others are tried.
            Some(window) => {
                (window.saturating_sub(began.elapsed()) / count as u32).clamp(MIN_ANSWER_TIMEOUT, ACCEPT_TIMEOUT)
            }
            None => ACCEPT_TIMEOUT,
        };
        let refusal = match attempt(client, index, request, answer_timeout).await {
            Ok((stream, accepted)) => return Ok(Opened { index, stream, accepted }),
            Err(refusal) => refusal,
        };
        let tried = index;
        let address = &client.schedulers()[index];
        index = (index + 1) % count;
        match refusal {
            Refusal::Fatal(error) => return Err(error),
            Refusal::Overloaded(status) => {
                window_opt = None;
                stats.rejections += 1;
                unreachable_in_round = 0;
                let delay = retry_after(&status).unwrap_or_else(|| backoff.next_delay());
                if began.elapsed() + delay > config.max_retry_time {
                    return Err(ClientError::Rejected { waited: stats.waited });
                }
                debug!(job_id = %request.job_id, scheduler = %address, ?delay, "scheduler overloaded, backing off");
                tokio::time::sleep(delay).await;
                stats.waited += delay;
            }
            Refusal::Unreachable(unreached) => {
                let reason = unreached.reason.clone();
                if !unreached.absent {
                    // Something listens there and may be a frozen scheduler:
                    // wait for it as long as for an overloaded one.
                    window_opt = None;
                }
                attempts.record(tried, unreached);
                let window_passed = window_opt.is_some_and(|window| began.elapsed() >= window);
                if attempts.all_permanent() || window_passed {
                    return Err(no_scheduler_answered(config.unreachable_timeout, &attempts, client.schedulers()));
                }
                unreachable_total += 1;
                if unreachable_total == 1 {
                    warn!(job_id = %request.job_id, scheduler = %address, %reason, "scheduler unreachable, trying others");
                } else {
                    debug!(job_id = %request.job_id, scheduler = %address, %reason, unreachable_total, "scheduler unreachable");
                }
                unreachable_in_round += 1;
                if unreachable_in_round < count {
                    continue;
                }
                unreachable_in_round = 0;
                let delay = backoff.next_delay();
                // Give up before the window ends rather than after it.
                if window_opt.is_some_and(|window| began.elapsed() + delay >= window) {
                    return Err(no_scheduler_answered(config.unreachable_timeout, &attempts, client.schedulers()));
                }
                if began.elapsed() + delay > config.max_retry_time {
                    return Err(ClientError::Unavailable(format!(
                        "no scheduler accepted job {} within {:?}; last error from {address}: {reason}",
                        request.job_id, config.max_retry_time
                    )));
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// The error of a first submission no scheduler answered.
fn no_scheduler_answered(window: Duration, attempts: &Attempts, addresses: &[String]) -> ClientError {
    let verdict = if attempts.all_permanent() {
        "no scheduler at the addresses given".to_owned()
    } else {
        format!("no scheduler answered within {window:?}")
    };
    ClientError::Unavailable(format!("{verdict}: {}", attempts.describe(addresses)))
}

/// One submission to the scheduler at `index`, up to its `accepted` event,
/// which must come within `answer_timeout`.
async fn attempt(
    client: &Client,
    index: usize,
    request: &pb::SubmitJobRequest,
    answer_timeout: Duration,
) -> Result<(JobEventStream, pb::JobAccepted), Refusal> {
    let call = async {
        let mut stream = match send(client, index, request).await {
            Ok(stream) => stream,
            Err(status) => return Err(refusal(client, index, status).await),
        };
        let first = match stream.message().await {
            Ok(first) => first,
            Err(status) => return Err(refusal(client, index, status).await),
        };
        match first {
            Some(pb::JobEvent { event: Some(Event::Accepted(accepted)) }) => Ok((stream, accepted)),
            Some(other) => Err(Refusal::Fatal(ClientError::Protocol(format!(
                "scheduler {} sent {other:?} before accepting job {}",
                client.schedulers()[index],
                request.job_id
            )))),
            None => Err(unreachable("stream ended before the job was accepted".to_owned())),
        }
    };
    match tokio::time::timeout(answer_timeout, call).await {
        Ok(result) => result,
        Err(_) => Err(unreachable(format!("no answer within {answer_timeout:?}"))),
    }
}

/// Sends `request` to the scheduler at `index`: on the shared stream when
/// the client uses one and the endpoint takes jobs on it, else by its own
/// call. Which is decided where the stream's answers are read
/// ([`super::shared_stream`]): a stream that ended before the job was sent
/// is asked for again once, which either opens a new one or says that
/// this endpoint is per-call-only.
async fn send(client: &Client, index: usize, request: &pb::SubmitJobRequest) -> Result<JobEventStream, Status> {
    if client.config().submit_stream {
        let mut last_failure_opt = None;
        for _ in 0..2 {
            let Some(shared) = client.shared_stream(index).await? else {
                // Per-call-only: the job goes by its own call below.
                last_failure_opt = None;
                break;
            };
            match shared.submit(request.clone()).await {
                Ok(call) => return Ok(JobEventStream::Shared(call)),
                Err(status) => {
                    debug!(%status, "submit stream ended before the job was sent");
                    last_failure_opt = Some(status);
                }
            }
        }
        if let Some(status) = last_failure_opt {
            // Two streams ended at once without saying why: a break on the
            // way; the caller retries or fails over.
            return Err(status);
        }
    }
    let response = client.scheduler(index).submit_job(client.request(request.clone())).await?;
    Ok(JobEventStream::Call(Box::new(response.into_inner())))
}

/// Sorts a failed call, first asking whether the address is a scheduler at all.
async fn refusal(client: &Client, index: usize, status: Status) -> Refusal {
    match reach::wrong_server(&status, client.channel(index)).await {
        Some(wrong) => Refusal::Unreachable(wrong),
        None => classify(status),
    }
}

fn unreachable(reason: String) -> Refusal {
    Refusal::Unreachable(Unreached::silent(reason))
}

/// Sorts a failed call by what to do next. A TLS certificate failure
/// arrives as `UNAVAILABLE` from the transport but no retry can fix it.
fn classify(status: Status) -> Refusal {
    if let Some(problem) = crate::error::certificate_error(&status) {
        return Refusal::Fatal(ClientError::Tls(problem));
    }
    match status.code() {
        Code::ResourceExhausted => Refusal::Overloaded(status),
        Code::Unavailable | Code::Cancelled | Code::Aborted | Code::Unknown | Code::DeadlineExceeded => {
            Refusal::Unreachable(reach::transport_reason(&status))
        }
        _ => Refusal::Fatal(ClientError::from(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_refusals() {
        assert!(matches!(classify(Status::resource_exhausted("full")), Refusal::Overloaded(_)));
        assert!(matches!(classify(Status::unavailable("down")), Refusal::Unreachable(_)));
        assert!(matches!(classify(Status::unknown("reset")), Refusal::Unreachable(_)));
        assert!(matches!(classify(Status::invalid_argument("tasks")), Refusal::Fatal(ClientError::InvalidArgument(_))));
        assert!(matches!(
            classify(Status::failed_precondition("no executor")),
            Refusal::Fatal(ClientError::FailedPrecondition(_))
        ));
        assert!(matches!(classify(Status::permission_denied("token")), Refusal::Fatal(ClientError::Status(_))));
        assert!(matches!(classify(Status::already_exists("job id")), Refusal::Fatal(ClientError::AlreadyExists(_))));
        let certificate = Status::unavailable("tcp connect error: invalid peer certificate: UnknownIssuer");
        assert!(matches!(classify(certificate), Refusal::Fatal(ClientError::Tls(_))));
    }
}
