//! [`JobResults`]: the result stream of an accepted job. It hands out one
//! result per task, and when a scheduler's stream breaks before every task
//! has its result it resubmits the job to the next scheduler, skipping the
//! tasks already delivered, so each task id is delivered exactly once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::Duration;

use futures::Stream;
use passer_proto::pb;
use passer_proto::pb::job_event::Event;
use tracing::{debug, warn};

use super::backoff::Backoff;
use super::events::JobEventStream;
use super::spec::{JobSpec, TaskOutput};
use super::submit::{self, RetryStats};
use super::Client;
use crate::error::ClientError;

/// The results of one job, in the order tasks finish.
pub struct JobResults {
    client: Client,
    /// The full submission; failovers resend it with `skip_task_ids`.
    request: pb::SubmitJobRequest,
    task_ids: HashSet<String>,
    delivered: HashSet<String>,
    /// Results received but not yet handed out.
    buffer: VecDeque<TaskOutput>,
    /// The live event stream; `None` after it ended or broke.
    stream_opt: Option<JobEventStream>,
    scheduler_index: usize,
    retry: RetryStats,
    failovers: u32,
    /// Delays between failovers (reset by each new result), so a stream
    /// that keeps breaking is not resubmitted in a tight loop.
    failover_backoff: Backoff,
    /// Set once a terminal error was handed out.
    failed: bool,
    /// The latest progress each task reported (known tasks only).
    progress: HashMap<String, pb::TaskProgress>,
    /// The task id of the latest progress report.
    last_progress_opt: Option<String>,
    /// Progress reports not yet handed out by `next_update` (the newest
    /// [`MAX_QUEUED_PROGRESS`]).
    progress_updates: VecDeque<pb::TaskProgress>,
}

/// Progress reports queued for [`JobResults::next_update`]; older ones are
/// dropped (progress is informational).
const MAX_QUEUED_PROGRESS: usize = 64;

/// One thing that happened to a job: a task's terminal result, or a running
/// task's progress.
#[derive(Debug, Clone, PartialEq)]
pub enum JobUpdate {
    /// A task ended.
    Result(TaskOutput),
    /// A running task reported progress (`fraction` 0.0 to 1.0, `message`).
    Progress(pb::TaskProgress),
}

impl JobResults {
    /// Submits `job` (already validated) and waits until a scheduler accepts it.
    pub(crate) async fn open(client: Client, job: &JobSpec) -> Result<JobResults, ClientError> {
        let request = job.to_wire();
        let mut retry = RetryStats::default();
        let start = client.next_start();
        let opened = submit::open(&client, &request, start, &mut retry, true).await?;
        debug!(job_id = %request.job_id, scheduler = %client.schedulers()[opened.index], tasks = opened.accepted.task_count, "job accepted");
        let task_ids = request.tasks.iter().map(|task| task.task_id.clone()).collect();
        let failover_backoff = Backoff::new(client.config().initial_backoff, client.config().max_backoff);
        Ok(JobResults {
            client,
            request,
            task_ids,
            delivered: HashSet::new(),
            buffer: VecDeque::new(),
            stream_opt: Some(opened.stream),
            scheduler_index: opened.index,
            retry,
            failovers: 0,
            failover_backoff,
            failed: false,
            progress: HashMap::new(),
            last_progress_opt: None,
            progress_updates: VecDeque::new(),
        })
    }

    /// The job's id.
    pub fn job_id(&self) -> &str {
        &self.request.job_id
    }

    /// How many tasks the job has, so how many results [`JobResults::next`] yields.
    pub fn task_count(&self) -> usize {
        self.task_ids.len()
    }

    /// The address of the scheduler currently running the job.
    pub fn scheduler(&self) -> &str {
        &self.client.schedulers()[self.scheduler_index]
    }

    /// Total time spent backing off because schedulers were overloaded.
    pub fn waited(&self) -> Duration {
        self.retry.waited
    }

    /// How many `RESOURCE_EXHAUSTED` answers were retried.
    pub fn rejections(&self) -> u32 {
        self.retry.rejections
    }

    /// How many times the job was resubmitted after a scheduler's stream broke.
    pub fn failovers(&self) -> u32 {
        self.failovers
    }

    /// The latest progress `task_id` reported (`RunningTask.progress()` in
    /// its executor), as far as this stream has read.
    pub fn progress(&self, task_id: &str) -> Option<&pb::TaskProgress> {
        self.progress.get(task_id)
    }

    /// The latest progress report of any task, as far as this stream has read.
    pub fn last_progress(&self) -> Option<&pb::TaskProgress> {
        self.last_progress_opt.as_deref().and_then(|task_id| self.progress.get(task_id))
    }

    /// The next task result; `None` once every task has had its result (or
    /// after an error, which ends the stream). Progress reports are read on
    /// the way (see [`Self::progress`]); [`Self::next_update`] hands them out.
    pub async fn next(&mut self) -> Option<Result<TaskOutput, ClientError>> {
        loop {
            match self.next_update().await? {
                Ok(JobUpdate::Result(output)) => return Some(Ok(output)),
                Ok(JobUpdate::Progress(_)) => {}
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// Like [`Self::next`], but also hands out progress reports as they
    /// arrive (for a progress display); results come first when both wait.
    pub async fn next_update(&mut self) -> Option<Result<JobUpdate, ClientError>> {
        loop {
            if let Some(output) = self.buffer.pop_front() {
                return Some(Ok(JobUpdate::Result(output)));
            }
            if let Some(progress) = self.progress_updates.pop_front() {
                return Some(Ok(JobUpdate::Progress(progress)));
            }
            if self.failed || self.delivered.len() == self.task_ids.len() {
                return None;
            }
            let Some(stream) = self.stream_opt.as_mut() else {
                if let Err(error) = self.fail_over().await {
                    self.failed = true;
                    return Some(Err(error));
                }
                continue;
            };
            match stream.message().await {
                Ok(Some(event)) => {
                    if let Err(error) = self.on_event(event) {
                        self.failed = true;
                        self.stream_opt = None;
                        return Some(Err(error));
                    }
                }
                Ok(None) => {
                    warn!(job_id = %self.request.job_id, scheduler = %self.scheduler(), "result stream ended early, failing over");
                    self.stream_opt = None;
                }
                Err(status) => {
                    warn!(job_id = %self.request.job_id, scheduler = %self.scheduler(), code = ?status.code(), message = status.message(), "result stream broke, failing over");
                    self.stream_opt = None;
                }
            }
        }
    }

    /// Turns the results into a [`Stream`].
    pub fn into_stream(self) -> impl Stream<Item = Result<TaskOutput, ClientError>> + Send + 'static {
        futures::stream::unfold(self, |mut results| async move {
            let item = results.next().await?;
            Some((item, results))
        })
    }

    /// Buffers new results; a `job_finished` ends the stream.
    fn on_event(&mut self, event: pb::JobEvent) -> Result<(), ClientError> {
        match event.event {
            Some(Event::Results(batch)) => {
                for finished in batch.tasks {
                    if !self.task_ids.contains(&finished.task_id) {
                        warn!(job_id = %self.request.job_id, task_id = %finished.task_id, "result for an unknown task, dropped");
                        continue;
                    }
                    if !self.delivered.insert(finished.task_id.clone()) {
                        debug!(job_id = %self.request.job_id, task_id = %finished.task_id, "duplicate result dropped");
                        continue;
                    }
                    self.buffer.push_back(TaskOutput::from(finished));
                    self.failover_backoff.reset();
                }
                Ok(())
            }
            Some(Event::JobFinished(_)) => {
                self.stream_opt = None;
                let missing = self.task_ids.len() - self.delivered.len();
                if missing > 0 {
                    return Err(ClientError::Protocol(format!(
                        "scheduler {} finished job {} without results for {missing} tasks",
                        self.scheduler(),
                        self.request.job_id
                    )));
                }
                Ok(())
            }
            Some(Event::Progress(progress)) => {
                if self.task_ids.contains(&progress.task_id) && !self.delivered.contains(&progress.task_id) {
                    self.last_progress_opt = Some(progress.task_id.clone());
                    if self.progress_updates.len() == MAX_QUEUED_PROGRESS {
                        self.progress_updates.pop_front();
                    }
                    self.progress_updates.push_back(progress.clone());
                    self.progress.insert(progress.task_id.clone(), progress);
                }
                Ok(())
            }
            Some(Event::Accepted(_)) | None => Ok(()),
        }
    }

    /// Resubmits the tasks without a result to the next scheduler, after a
    /// jittered delay that grows while failovers bring no new result.
    async fn fail_over(&mut self) -> Result<(), ClientError> {
        let delay = self.failover_backoff.next_delay();
        tokio::time::sleep(delay).await;
        let mut request = self.request.clone();
        let mut skip: Vec<String> = self.delivered.iter().cloned().collect();
        skip.sort_unstable();
        request.skip_task_ids = skip;
        let start = self.scheduler_index + 1;
        let opened = submit::open(&self.client, &request, start, &mut self.retry, false).await?;
        self.failovers += 1;
        self.scheduler_index = opened.index;
        self.stream_opt = Some(opened.stream);
        debug!(job_id = %self.request.job_id, scheduler = %self.scheduler(), remaining = opened.accepted.task_count, "job resubmitted");
        Ok(())
    }
}

impl fmt::Debug for JobResults {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("JobResults")
            .field("job_id", &self.request.job_id)
            .field("scheduler", &self.scheduler())
            .field("task_count", &self.task_count())
            .field("delivered", &self.delivered.len())
            .field("failovers", &self.failovers)
            .finish_non_exhaustive()
    }
}
