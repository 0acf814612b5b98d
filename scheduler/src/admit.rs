//! Admitting jobs: a submission is validated, matched against a running or
//! recently finished job of the same id (re-attach or replay), checked
//! against the nodes it needs and the in-flight limit, and then entered into
//! the live state of [`crate::core`]. Watchers of a job attach here too.
//! The adaptive admission limit ([`crate::policy::admission`]) is consulted
//! and fed here: first launches and the tick call in.

use std::sync::Arc;
use std::time::Duration;

use passer_proto::pb;
use tokio::sync::mpsc;
use tonic::Status;

use crate::config::AdmissionMode;
use crate::core::{collect_probes, event, EventSender, Followups, JobEntry, Scheduler, MAX_WATCHERS_PER_JOB};
use crate::error::SchedulerError;
use crate::policy::admission::Refusal;
use crate::policy::constraint::Constraint;
use crate::policy::digest::{job_digest, JobDigest};
use crate::policy::job::JobState;
use crate::policy::placements::Placements;
use crate::policy::probe_backoff::ProbeBackoff;
use crate::policy::validate::validate_submit;
use crate::stats::add;

impl Scheduler {
    /// Admits a job, or attaches to it if it is already running here.
    /// Returns the receiving half of its event stream.
    pub fn submit(
        self: &Arc<Self>,
        request: pb::SubmitJobRequest,
    ) -> Result<mpsc::Receiver<Result<pb::JobEvent, Status>>, SchedulerError> {
        validate_submit(&request, &self.config.limits()).map_err(|e| SchedulerError::InvalidArgument(e.to_string()))?;
        let digest = job_digest(&request);
        if let Some(receiver) = self.reattach(&request, digest)? {
            return Ok(receiver);
        }
        if let Some(receiver) = self.replay_finished(&request, digest) {
            return Ok(receiver);
        }
        if let Some(receiver) = self.finish_if_all_skipped(&request) {
            return Ok(receiver);
        }
        for executor in unique_executors(&request) {
            if !self.nodes.offers(executor) {
                let message =
                    format!("no node monitor offers executor '{executor}'{}", missing_executor_hint(executor));
                return Err(self.absent(executor, &Constraint::default(), message));
            }
        }
        self.check_constraints(&request)?;
        let now = self.now();
        let state = JobState::new(request, self.config.task_defaults(), now);
        let task_count = state.task_count() as u64;
        let in_flight = self.stats.tasks_in_flight.load(std::sync::atomic::Ordering::Relaxed);
        if in_flight + task_count > self.config.max_inflight_tasks {
            add(&self.stats.jobs_rejected, 1);
            return Err(SchedulerError::ResourceExhausted {
                message: format!(
                    "scheduler is full: {in_flight} tasks in flight, limit {}; retry later",
                    self.config.max_inflight_tasks
                ),
                retry_after: Duration::from_millis(100),
            });
        }
        if let Err(refusal) = self.admit_adaptive(in_flight, task_count, now) {
            add(&self.stats.jobs_rejected, 1);
            return Err(SchedulerError::ResourceExhausted {
                message: format!(
                    "scheduler is congested: {in_flight} tasks in flight, adaptive limit {} \
                     (tasks waited over {} ms to launch); retry later",
                    refusal.limit,
                    self.admission.lock().threshold().as_millis()
                ),
                retry_after: self.spread(refusal.retry_after),
            });
        }
        let (events, receiver) = mpsc::channel(state.task_count() + 2);
        let accepted = pb::JobAccepted {
            job_id: state.job_id().to_owned(),
            task_count: task_count as u32,
            scheduler: self.address.clone(),
        };
        let _ = events.try_send(Ok(event(pb::job_event::Event::Accepted(accepted))));
        let job_id = state.job_id().to_owned();
        let mut followups = Followups::default();
        {
            let mut jobs = self.jobs.lock();
            if jobs.contains_key(&job_id) {
                return Err(SchedulerError::Internal("job submitted twice at once".into()));
            }
            add(&self.stats.jobs_accepted, 1);
            add(&self.stats.jobs_running, 1);
            add(&self.stats.tasks_in_flight, task_count);
            let generation = self.next_generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut entry = JobEntry {
                state,
                events,
                placements: Placements::new(generation),
                digest,
                watchers: Vec::new(),
                last_progress: None,
                backoff: ProbeBackoff::new(now),
                accepted_at: now,
                first_launch_seen: false,
            };
            collect_probes(&job_id, &mut entry, &mut followups);
            jobs.insert(job_id.clone(), entry);
        }
        tracing::debug!(%job_id, tasks = task_count, "job accepted");
        self.carry_out(followups);
        Ok(receiver)
    }

    /// The adaptive limit's verdict on a job of `task_count` tasks (always
    /// yes with `--admission fixed`).
    fn admit_adaptive(&self, in_flight: u64, task_count: u64, now: Duration) -> Result<(), Refusal> {
        if self.config.admission != AdmissionMode::Adaptive {
            return Ok(());
        }
        let mut admission = self.admission.lock();
        let verdict = admission.admit(in_flight, task_count, now);
        self.stats.admission_limit.store(admission.limit(), std::sync::atomic::Ordering::Relaxed);
        verdict
    }

    /// Feeds the delays of jobs' first launches to the admission limit.
    pub(crate) fn note_first_launches(&self, sojourns: &[Duration], now: Duration) {
        if sojourns.is_empty() {
            return;
        }
        let mut admission = self.admission.lock();
        for sojourn in sojourns {
            admission.first_launch(*sojourn, now);
        }
    }

    /// Closes the admission limit's interval if it has passed (the tick).
    pub(crate) fn roll_admission(&self, now: Duration) {
        if self.config.admission != AdmissionMode::Adaptive {
            return;
        }
        let slots = self.nodes.slots_up();
        let mut admission = self.admission.lock();
        admission.set_slots(slots);
        admission.roll(now);
        self.stats.admission_limit.store(admission.limit(), std::sync::atomic::Ordering::Relaxed);
    }

    /// `retry_after` stretched by a random share of itself, so refused
    /// clients do not all come back at once.
    fn spread(&self, retry_after: Duration) -> Duration {
        use rand::Rng;
        let extra_millis = self.rng.lock().random_range(0..=retry_after.as_millis() as u64);
        retry_after + Duration::from_millis(extra_millis)
    }

    /// Fails fast when a task's constraint admits no known node that is up
    /// and offers its executor, naming the first such task and constraint.
    fn check_constraints(&self, request: &pb::SubmitJobRequest) -> Result<(), SchedulerError> {
        if request.constraints.is_empty() && request.tasks.iter().all(|t| t.constraints.is_empty()) {
            return Ok(());
        }
        let job_constraint = Constraint::parse(&request.constraints);
        let mut checked = std::collections::HashSet::new();
        for (index, task) in request.tasks.iter().enumerate() {
            let constraint = job_constraint.and(&Constraint::parse(&task.constraints));
            if !checked.insert((task.executor.as_str(), constraint.clone())) {
                continue;
            }
            if !self.nodes.satisfies(&task.executor, &constraint) {
                let field = if task.constraints.is_empty() {
                    "constraints".to_owned()
                } else {
                    format!("tasks[{index}].constraints")
                };
                let message =
                    format!("{field}: no node monitor offering executor '{}' satisfies [{constraint}]", task.executor);
                return Err(self.absent(&task.executor, &constraint, message));
            }
        }
        Ok(())
    }

    /// The refusal when no node can run `executor` under `constraint`:
    /// `UNAVAILABLE` (retried, failed over) while the absence may be
    /// transient, `FAILED_PRECONDITION` when every known node is up and none
    /// ever offered it.
    fn absent(&self, executor: &str, constraint: &Constraint, message: String) -> SchedulerError {
        match self.nodes.transient_absence(executor, constraint) {
            Some(why) => SchedulerError::Unavailable(format!("{message} right now: {why}; retry")),
            None => SchedulerError::FailedPrecondition(message),
        }
    }

    /// A resubmission of a running job: the new stream replaces the old and
    /// gets the results it has not seen. `None` when no job of this id runs
    /// here; `ALREADY_EXISTS` when one does but with other content (another
    /// job reusing the id must not get this one's results).
    fn reattach(
        &self,
        request: &pb::SubmitJobRequest,
        digest: JobDigest,
    ) -> Result<Option<mpsc::Receiver<Result<pb::JobEvent, Status>>>, SchedulerError> {
        let mut jobs = self.jobs.lock();
        let Some(entry) = jobs.get_mut(&request.job_id) else { return Ok(None) };
        if entry.digest != digest {
            add(&self.stats.jobs_rejected, 1);
            return Err(SchedulerError::AlreadyExists(format!(
                "job id '{}' is already running here with other tasks or settings; \
                 resubmit the same job to attach to it, or pick another id",
                request.job_id
            )));
        }
        let (events, receiver) = replay_channel(
            &request.job_id,
            &self.address,
            entry.state.task_count(),
            entry.state.results(),
            &request.skip_task_ids,
            None,
        );
        entry.events = events;
        tracing::info!(job_id = %request.job_id, "client re-attached to running job");
        Ok(Some(receiver))
    }

    /// A resubmission of a job that finished here and whose results are
    /// still kept: replays them (less `skip_task_ids`) and the summary. A
    /// different job reusing the id replaces the kept results (`None`).
    fn replay_finished(
        &self,
        request: &pb::SubmitJobRequest,
        digest: JobDigest,
    ) -> Option<mpsc::Receiver<Result<pb::JobEvent, Status>>> {
        let mut retained = self.retained.lock();
        let now = self.now();
        match retained.get(&request.job_id, now) {
            Some(job) if job.digest == digest => {
                tracing::info!(job_id = %request.job_id, "resubmission of a finished job; replaying its kept results");
                Some(replay(&request.job_id, &self.address, &job.results, &request.skip_task_ids, Some(job.summary)))
            }
            Some(_) => {
                retained.remove(&request.job_id);
                None
            }
            None => None,
        }
    }

    /// A stream of `job_id`'s events for another client: a running job's
    /// results so far and then the rest as they end; a finished job's kept
    /// results. `NotFound` when neither.
    pub fn watch(
        &self,
        job_id: &str,
        skip_task_ids: &[String],
    ) -> Result<mpsc::Receiver<Result<pb::JobEvent, Status>>, SchedulerError> {
        let mut jobs = self.jobs.lock();
        if let Some(entry) = jobs.get_mut(job_id) {
            if entry.watchers.len() >= MAX_WATCHERS_PER_JOB {
                entry.watchers.retain(|watcher| !watcher.is_closed());
            }
            if entry.watchers.len() >= MAX_WATCHERS_PER_JOB {
                return Err(SchedulerError::ResourceExhausted {
                    message: format!("job '{job_id}' already has {MAX_WATCHERS_PER_JOB} watchers"),
                    retry_after: Duration::from_secs(1),
                });
            }
            let (sender, receiver) = replay_channel(
                job_id,
                &self.address,
                entry.state.task_count(),
                entry.state.results(),
                skip_task_ids,
                None,
            );
            entry.watchers.push(sender);
            return Ok(receiver);
        }
        drop(jobs);
        let retained = self.retained.lock();
        match retained.get(job_id, self.now()) {
            Some(job) => Ok(replay(job_id, &self.address, &job.results, skip_task_ids, Some(job.summary))),
            None => Err(SchedulerError::NotFound(format!(
                "job '{job_id}' is not running on scheduler {} and no results are kept for it \
                 (finished jobs' results are kept for --keep-results-secs, {} s here)",
                self.address, self.config.keep_results_secs
            ))),
        }
    }

    /// A submission whose `skip_task_ids` names every task (its client has
    /// every result already) finishes at once: `Accepted` with no tasks, then
    /// `JobFinished` with zero counts. Nothing is admitted or kept.
    fn finish_if_all_skipped(
        &self,
        request: &pb::SubmitJobRequest,
    ) -> Option<mpsc::Receiver<Result<pb::JobEvent, Status>>> {
        if request.skip_task_ids.is_empty() {
            return None;
        }
        let skip: std::collections::HashSet<&str> = request.skip_task_ids.iter().map(String::as_str).collect();
        if !request.tasks.iter().all(|task| skip.contains(task.task_id.as_str())) {
            return None;
        }
        let (events, receiver) = mpsc::channel(2);
        let accepted =
            pb::JobAccepted { job_id: request.job_id.clone(), task_count: 0, scheduler: self.address.clone() };
        let _ = events.try_send(Ok(event(pb::job_event::Event::Accepted(accepted))));
        let _ = events.try_send(Ok(event(pb::job_event::Event::JobFinished(pb::JobFinished::default()))));
        tracing::debug!(job_id = %request.job_id, "every task skipped; job finished at once");
        Some(receiver)
    }
}

/// A finished stream of `job_id`'s kept results (less `skip`) and `summary`.
fn replay(
    job_id: &str,
    scheduler: &str,
    results: &[pb::TaskFinished],
    skip: &[String],
    summary: Option<pb::JobFinished>,
) -> mpsc::Receiver<Result<pb::JobEvent, Status>> {
    replay_channel(job_id, scheduler, results.len(), results, skip, summary).1
}

/// A job stream of `task_count` tasks opened with `accepted`, the `results`
/// not in `skip`, and `summary` when the job has finished; room for one
/// event per task more.
fn replay_channel(
    job_id: &str,
    scheduler: &str,
    task_count: usize,
    results: &[pb::TaskFinished],
    skip: &[String],
    summary: Option<pb::JobFinished>,
) -> (EventSender, mpsc::Receiver<Result<pb::JobEvent, Status>>) {
    let task_count = u32::try_from(task_count).unwrap_or(u32::MAX);
    let (sender, receiver) = mpsc::channel(results.len().max(task_count as usize) + 4);
    let skip: std::collections::HashSet<&str> = skip.iter().map(String::as_str).collect();
    let accepted = pb::JobAccepted { job_id: job_id.to_owned(), task_count, scheduler: scheduler.to_owned() };
    let _ = sender.try_send(Ok(event(pb::job_event::Event::Accepted(accepted))));
    let seen: Vec<pb::TaskFinished> = results.iter().filter(|r| !skip.contains(r.task_id.as_str())).cloned().collect();
    if !seen.is_empty() {
        let _ = sender.try_send(Ok(event(pb::job_event::Event::Results(pb::TaskResults { tasks: seen }))));
    }
    if let Some(summary) = summary {
        let _ = sender.try_send(Ok(event(pb::job_event::Event::JobFinished(summary))));
    }
    (sender, receiver)
}

/// Why a well-known executor type may be missing.
fn missing_executor_hint(executor: &str) -> &'static str {
    match executor {
        "command" => ": command execution is disabled (node monitors offer it only with --allow-command)",
        _ => "",
    }
}

fn unique_executors(request: &pb::SubmitJobRequest) -> Vec<&str> {
    let mut executors: Vec<&str> = request.tasks.iter().map(|t| t.executor.as_str()).collect();
    executors.sort_unstable();
    executors.dedup();
    executors
}
