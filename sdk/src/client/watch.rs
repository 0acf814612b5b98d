//! [`JobWatch`]: the results of a job this client did not submit, or
//! submitted and let go (`passer submit --detach`, then `passer results
//! JOB`). It asks the schedulers in turn (`WatchJob`) until one runs the job
//! or keeps its finished results, then streams them: the results so far, the
//! rest as they end, each task once. A stream that breaks is reopened on the
//! schedulers (skipping what was delivered) until every scheduler says it does
//! not know the job. Watching never cancels the job.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use passer_proto::pb;
use passer_proto::pb::job_event::Event;
use tonic::{Code, Streaming};
use tracing::{debug, warn};

use super::backoff::Backoff;
use super::spec::TaskOutput;
use super::Client;
use crate::error::ClientError;

/// Longest wait for a scheduler's first event once a watch call is made.
const FIRST_EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Reopenings of a broken watch in a row without a new result before it gives up.
const MAX_REOPENS_WITHOUT_PROGRESS: u32 = 8;

/// A watched job's results, in the order tasks finished.
pub struct JobWatch {
    client: Client,
    job_id: String,
    /// Tasks in the job as the serving scheduler counts them.
    task_count: usize,
    delivered: HashSet<String>,
    buffer: VecDeque<TaskOutput>,
    stream_opt: Option<Streaming<pb::JobEvent>>,
    scheduler_index: usize,
    summary_opt: Option<pb::JobFinished>,
    backoff: Backoff,
    reopens_without_progress: u32,
    failed: bool,
}

impl JobWatch {
    /// Finds `job_id` on the client's schedulers and opens its event stream.
    pub(crate) async fn open(client: Client, job_id: &str) -> Result<JobWatch, ClientError> {
        let backoff = Backoff::new(client.config().initial_backoff, client.config().max_backoff);
        let mut watch = JobWatch {
            client,
            job_id: job_id.to_owned(),
            task_count: 0,
            delivered: HashSet::new(),
            buffer: VecDeque::new(),
            stream_opt: None,
            scheduler_index: 0,
            summary_opt: None,
            backoff,
            reopens_without_progress: 0,
            failed: false,
        };
        watch.find().await?;
        Ok(watch)
    }

    /// The job's id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// How many tasks the job has (as the scheduler serving it counts them).
    pub fn task_count(&self) -> usize {
        self.task_count
    }

    /// The scheduler the results come from.
    pub fn scheduler(&self) -> &str {
        &self.client.schedulers()[self.scheduler_index]
    }

    /// The job's terminal counts, once its last result has been handed out.
    pub fn summary(&self) -> Option<pb::JobFinished> {
        self.summary_opt
    }

    /// The next result; `None` once the job has finished and every result was
    /// handed out (or after an error, which ends the watch).
    pub async fn next(&mut self) -> Option<Result<TaskOutput, ClientError>> {
        loop {
            if let Some(output) = self.buffer.pop_front() {
                return Some(Ok(output));
            }
            if self.failed || self.summary_opt.is_some() {
                return None;
            }
            let Some(stream) = self.stream_opt.as_mut() else {
                if let Err(error) = self.reopen().await {
                    self.failed = true;
                    return Some(Err(error));
                }
                continue;
            };
            match stream.message().await {
                Ok(Some(event)) => self.on_event(event),
                Ok(None) => {
                    warn!(job_id = %self.job_id, scheduler = %self.scheduler(), "watch stream ended early, reopening");
                    self.stream_opt = None;
                }
                Err(status) => {
                    warn!(job_id = %self.job_id, scheduler = %self.scheduler(), code = ?status.code(), "watch stream broke, reopening");
                    self.stream_opt = None;
                }
            }
        }
    }

    fn on_event(&mut self, event: pb::JobEvent) {
        match event.event {
            Some(Event::Results(batch)) => {
                for finished in batch.tasks {
                    if self.delivered.insert(finished.task_id.clone()) {
                        self.buffer.push_back(TaskOutput::from(finished));
                        self.reopens_without_progress = 0;
                        self.backoff.reset();
                    } else {
                        debug!(job_id = %self.job_id, task_id = %finished.task_id, "duplicate result dropped");
                    }
                }
            }
            Some(Event::JobFinished(summary)) => {
                self.summary_opt = Some(summary);
                self.stream_opt = None;
            }
            Some(Event::Accepted(_)) | Some(Event::Progress(_)) | None => {}
        }
    }

    async fn reopen(&mut self) -> Result<(), ClientError> {
        self.reopens_without_progress += 1;
        if self.reopens_without_progress > MAX_REOPENS_WITHOUT_PROGRESS {
            return Err(ClientError::Unavailable(format!(
                "the watch of job {} kept breaking without new results ({MAX_REOPENS_WITHOUT_PROGRESS} reopenings)",
                self.job_id
            )));
        }
        tokio::time::sleep(self.backoff.next_delay()).await;
        self.find().await
    }

    /// Asks every scheduler, starting with the last one that served, until
    /// one streams the job. Fails naming each scheduler's answer.
    async fn find(&mut self) -> Result<(), ClientError> {
        let count = self.client.scheduler_count();
        let mut answers = Vec::with_capacity(count);
        let mut all_not_found = true;
        for offset in 0..count {
            let index = (self.scheduler_index + offset) % count;
            let address = self.client.schedulers()[index].clone();
            match self.attempt(index).await {
                Ok((stream, accepted)) => {
                    self.scheduler_index = index;
                    self.task_count = accepted.task_count as usize;
                    self.stream_opt = Some(stream);
                    return Ok(());
                }
                Err(status) => {
                    if let Some(problem) = crate::error::certificate_error(&status) {
                        return Err(ClientError::Tls(format!("{address}: {problem}")));
                    }
                    all_not_found &= status.code() == Code::NotFound;
                    answers.push(format!("{address}: {}", status.message()));
                }
            }
        }
        let answers = answers.join("; ");
        if all_not_found {
            Err(ClientError::NotFound(format!(
                "no scheduler runs job {} or keeps its results ({answers})",
                self.job_id
            )))
        } else {
            Err(ClientError::Unavailable(format!("cannot watch job {}: {answers}", self.job_id)))
        }
    }

    async fn attempt(&mut self, index: usize) -> Result<(Streaming<pb::JobEvent>, pb::JobAccepted), tonic::Status> {
        let mut skip: Vec<String> = self.delivered.iter().cloned().collect();
        skip.sort_unstable();
        let request = self.client.request(pb::WatchJobRequest { job_id: self.job_id.clone(), skip_task_ids: skip });
        let mut scheduler = self.client.scheduler(index);
        let call = async {
            let mut stream = scheduler.watch_job(request).await?.into_inner();
            match stream.message().await? {
                Some(pb::JobEvent { event: Some(Event::Accepted(accepted)) }) => Ok((stream, accepted)),
                other => Err(tonic::Status::internal(format!("expected `accepted` first, got {other:?}"))),
            }
        };
        tokio::time::timeout(FIRST_EVENT_TIMEOUT, call)
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded(format!("no answer in {FIRST_EVENT_TIMEOUT:?}"))))
    }
}

impl std::fmt::Debug for JobWatch {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("JobWatch")
            .field("job_id", &self.job_id)
            .field("scheduler", &self.scheduler())
            .field("delivered", &self.delivered.len())
            .field("finished", &self.summary_opt.is_some())
            .finish()
    }
}
