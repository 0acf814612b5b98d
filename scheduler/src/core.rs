//! The scheduler's live state: running jobs and their result streams (the
//! submitter's and any watchers'), finished jobs' kept results, the node
//! registry, node sessions and counters. Decisions are made by the pure
//! [`JobState`]; this module applies them under one lock (never held across
//! an await) and hands the I/O they call for to [`crate::placement`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use passer_proto::pb;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tonic::Status;

use passer::security::PeerConnector;

use crate::config::SchedulerConfig;
use crate::error::SchedulerError;
use crate::metrics::SchedulerMetrics;
use crate::nodes::NodeRegistry;
use crate::policy::constraint::Constraint;
use crate::policy::digest::{job_digest, JobDigest};
use crate::policy::job::{Finish, JobState, ProbeDemand};
use crate::policy::placements::{PlacementTicket, Placements};
use crate::policy::probe_backoff::ProbeBackoff;
use crate::policy::retention::Retention;
use crate::policy::validate::validate_submit;
use crate::recent::{JobRecord, RecentJobs};
use crate::stats::{add, sub, Stats};

/// The sending half of a job's result stream.
pub type EventSender = mpsc::Sender<Result<pb::JobEvent, Status>>;

/// A job being run, with where its events go.
pub struct JobEntry {
    /// The policy state.
    pub state: JobState,
    /// The client's stream.
    pub events: EventSender,
    /// Other clients' streams (`WatchJob`); closed ones are dropped.
    pub watchers: Vec<EventSender>,
    /// The latest progress a running task reported (for the status page).
    pub last_progress: Option<pb::TaskProgress>,
    /// Placement calls in flight, of this entry's generation (no
    /// re-probing while any is).
    pub placements: Placements,
    /// What the job runs: a resubmission re-attaches only if it matches.
    pub digest: JobDigest,
    /// When the job may re-probe (nodes that refuse make it wait longer).
    pub backoff: ProbeBackoff,
    /// When the job was accepted (scheduler clock).
    pub accepted_at: Duration,
}

/// Watchers one job may have at once.
pub const MAX_WATCHERS_PER_JOB: usize = 64;

impl JobEntry {
    /// Sends a progress event to each stream with room for it beyond the
    /// results and summary still due (progress never crowds a result out).
    pub fn send_progress(&mut self, progress: pb::TaskProgress) {
        let due = self.state.unfinished_count() + 1;
        self.last_progress = Some(progress.clone());
        let event = event(pb::job_event::Event::Progress(progress));
        for sender in std::iter::once(&self.events).chain(self.watchers.iter()) {
            if sender.capacity() > due {
                let _ = sender.try_send(Ok(event.clone()));
            }
        }
    }

    /// Sends `event` to the submitter's stream and every watcher's. Each
    /// stream holds one slot per task plus two, and a job sends at most that
    /// many events, so a send fails only when the stream is gone.
    pub fn send(&mut self, event: pb::JobEvent) {
        self.watchers.retain(|watcher| watcher.try_send(Ok(event.clone())).is_ok());
        let _ = self.events.try_send(Ok(event));
    }
}

/// A connected node's session.
pub struct Session {
    /// Distinguishes a reconnected session from the old one.
    pub generation: u64,
    /// Placement on the session, when the node takes reservations on it.
    pub stream: Option<crate::node_stream::NodeStream>,
}

/// Work the lock holder found for the I/O side.
#[derive(Default)]
pub struct Followups {
    /// Reservations to place: (job, demand, the placement's ticket).
    pub probes: Vec<(String, ProbeDemand, PlacementTicket)>,
    /// Reservations to cancel: (job, executor, node).
    pub cancels: Vec<(String, String, String)>,
}

/// The scheduler.
pub struct Scheduler {
    /// Configuration.
    pub config: SchedulerConfig,
    /// host:port node monitors reach this scheduler at.
    pub address: String,
    /// Counters.
    pub stats: Stats,
    /// Latency histograms (the rest of the metrics are read from `stats`).
    pub metrics: SchedulerMetrics,
    /// Jobs that finished lately, for the status page.
    pub recent: RecentJobs,
    /// Known node monitors.
    pub nodes: NodeRegistry,
    /// Running jobs by id.
    pub jobs: Mutex<HashMap<String, JobEntry>>,
    /// Finished jobs' results, kept for a while. Locked after `jobs` when
    /// both are needed.
    pub retained: Mutex<Retention>,
    /// Live node sessions by node id.
    pub sessions: Mutex<HashMap<String, Session>>,
    /// The sampler's RNG.
    pub rng: Mutex<SmallRng>,
    started: Instant,
    next_generation: std::sync::atomic::AtomicU64,
}

impl Scheduler {
    /// A scheduler reachable at `address`.
    /// `peers` is how it reaches node monitors: the TLS and token `run`
    /// loaded once at start-up (never reloaded, so never silently dropped).
    pub fn new(config: SchedulerConfig, address: String, peers: PeerConnector) -> Arc<Self> {
        let rng = match config.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        let nodes = NodeRegistry::new(peers);
        nodes.set_addresses(&config.node_monitors);
        let retained = Mutex::new(config.retention());
        Arc::new(Self {
            config,
            address,
            stats: Stats::default(),
            metrics: SchedulerMetrics::default(),
            recent: RecentJobs::default(),
            nodes,
            jobs: Mutex::new(HashMap::new()),
            retained,
            sessions: Mutex::new(HashMap::new()),
            rng: Mutex::new(rng),
            started: Instant::now(),
            next_generation: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Time since start: the clock handed to the policy.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

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
            };
            collect_probes(&job_id, &mut entry, &mut followups);
            jobs.insert(job_id.clone(), entry);
        }
        tracing::debug!(%job_id, tasks = task_count, "job accepted");
        self.carry_out(followups);
        Ok(receiver)
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

    /// Late binding for one node: answers its GetTask requests.
    pub fn assign(self: &Arc<Self>, node_id: &str, requests: Vec<pb::GetTaskRequest>) -> Vec<pb::GetTaskResponse> {
        let now = self.now();
        let mut followups = Followups::default();
        let mut responses = Vec::with_capacity(requests.len());
        let labels = self.nodes.labels(node_id);
        let mut started = 0;
        {
            let mut jobs = self.jobs.lock();
            for request in requests {
                let wanted = request.max_tasks.max(1);
                let launches = match jobs.get_mut(&request.job_id) {
                    Some(entry) => {
                        let assignment = entry.state.assign_to(node_id, &labels, &request.executor, wanted, now);
                        for node in assignment.cancel_nodes {
                            followups.cancels.push((request.job_id.clone(), request.executor.clone(), node));
                        }
                        assignment.launches
                    }
                    None => Vec::new(),
                };
                add(&self.stats.get_task_hits, launches.len() as u64);
                add(&self.stats.get_task_misses, u64::from(wanted) - launches.len() as u64);
                add(&self.stats.tasks_launched, launches.len() as u64);
                started += launches.len() as u64;
                responses.push(pb::GetTaskResponse {
                    job_id: request.job_id,
                    tasks: launches,
                    request_id: request.request_id,
                });
            }
        }
        self.nodes.update_idle(node_id, |idle| idle.note_tasks(started, 0));
        self.carry_out(followups);
        responses
    }

    /// Applies finished attempts reported by `node_id`.
    pub fn report(self: &Arc<Self>, node_id: &str, outcomes: Vec<pb::TaskOutcome>) {
        let now = self.now();
        let reported = outcomes.len() as u64;
        self.nodes.update_idle(node_id, |idle| idle.note_tasks(0, reported));
        let mut followups = Followups::default();
        {
            let mut jobs = self.jobs.lock();
            let mut touched: HashMap<String, Vec<Finish>> = HashMap::new();
            for outcome in outcomes {
                let Some(entry) = jobs.get_mut(&outcome.job_id) else { continue };
                let job_id = outcome.job_id.clone();
                let finish = entry.state.finish(node_id, outcome, now);
                touched.entry(job_id).or_default().push(finish);
            }
            for (job_id, finishes) in touched {
                self.apply_finishes(&mut jobs, &job_id, finishes, &mut followups);
            }
        }
        self.carry_out(followups);
    }

    /// Sends terminal results to the client, notes retries, and retires the
    /// job once every task has its result.
    pub fn apply_finishes(
        &self,
        jobs: &mut HashMap<String, JobEntry>,
        job_id: &str,
        finishes: Vec<Finish>,
        followups: &mut Followups,
    ) {
        let Some(entry) = jobs.get_mut(job_id) else { return };
        let mut results = Vec::new();
        let mut retried = false;
        for finish in finishes {
            match finish {
                Finish::Terminal(result) => {
                    if result.status == pb::TaskStatus::Failed as i32 {
                        add(&self.stats.tasks_failed, 1);
                    }
                    self.metrics.observe_result(&result);
                    tracing::debug!(job_id, task_id = %result.task_id, attempt = result.attempt, node_id = %result.node_id, status = result.status, "task finished");
                    results.push(result);
                }
                Finish::Retried { .. } => {
                    add(&self.stats.tasks_retried, 1);
                    retried = true;
                }
                Finish::Ignored => {}
            }
        }
        if !results.is_empty() {
            add(&self.stats.tasks_finished, results.len() as u64);
            sub(&self.stats.tasks_in_flight, results.len() as u64);
            entry.send(event(pb::job_event::Event::Results(pb::TaskResults { tasks: results })));
        }
        if entry.state.is_finished() {
            let summary = entry.state.summary();
            entry.send(event(pb::job_event::Event::JobFinished(summary)));
            sub(&self.stats.jobs_running, 1);
            let finished = entry.state.task_count();
            self.recent.push(JobRecord::new(
                job_id,
                entry.state.tenant(),
                finished,
                finished,
                summary.failed,
                entry.accepted_at,
                self.now(),
            ));
            tracing::debug!(job_id, succeeded = summary.succeeded, failed = summary.failed, "job finished");
            if let Some(entry) = jobs.remove(job_id) {
                let now = self.now();
                self.retained.lock().keep(job_id.to_owned(), entry.digest, entry.state.into_results(), summary, now);
            }
            return;
        }
        if retried {
            collect_probes(job_id, entry, followups);
        }
    }

    /// Progress of running attempts reported by `node_id`: passed on to
    /// each job's streams when the attempt is current, dropped otherwise.
    pub fn progress(&self, node_id: &str, reports: Vec<pb::TaskProgress>) {
        let mut jobs = self.jobs.lock();
        for report in reports {
            let Some(entry) = jobs.get_mut(&report.job_id) else { continue };
            if entry.state.is_running(&report.task_id, node_id, report.attempt) {
                entry.send_progress(report);
            }
        }
    }

    /// Cancels a job; false if it is not running here.
    pub fn cancel(self: &Arc<Self>, job_id: &str) -> bool {
        let now = self.now();
        let mut followups = Followups::default();
        let found = {
            let mut jobs = self.jobs.lock();
            match jobs.get_mut(job_id) {
                Some(entry) => {
                    let (finished, nodes) = entry.state.cancel(now);
                    for node in nodes {
                        followups.cancels.push((job_id.to_owned(), String::new(), node));
                    }
                    let finishes = finished.into_iter().map(Finish::Terminal).collect();
                    self.apply_finishes(&mut jobs, job_id, finishes, &mut followups);
                    true
                }
                None => false,
            }
        };
        self.carry_out(followups);
        found
    }

    /// Registers a node session (with `stream` when the node takes
    /// reservations on it); returns its generation.
    pub fn session_started(&self, node_id: &str, stream: Option<crate::node_stream::NodeStream>) -> u64 {
        let generation = self.next_generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.sessions.lock().insert(node_id.to_owned(), Session { generation, stream });
        tracing::debug!(node_id, generation, "node session started");
        generation
    }

    /// A node's session ended: if it was the current one, the node is
    /// presumed gone and its running tasks are retried elsewhere.
    pub fn session_ended(self: &Arc<Self>, node_id: &str, generation: u64) {
        {
            let mut sessions = self.sessions.lock();
            if sessions.get(node_id).is_none_or(|s| s.generation != generation) {
                return;
            }
            sessions.remove(node_id);
        }
        // The session alone says little: a scheduler waking from a freeze
        // finds every session broken while the nodes are fine. Whether the
        // node is up is the poll's call (two failed polls mark it down).
        tracing::warn!(node_id, "node session lost; re-queueing its tasks");
        self.node_lost(node_id);
    }

    /// The placement stream of `node_id`'s current session, if it takes
    /// reservations.
    pub fn node_stream(&self, node_id: &str) -> Option<crate::node_stream::NodeStream> {
        self.sessions.lock().get(node_id).and_then(|session| session.stream.clone())
    }

    /// Re-queues every task running on `node_id`.
    pub fn node_lost(self: &Arc<Self>, node_id: &str) {
        let now = self.now();
        let mut followups = Followups::default();
        {
            let mut jobs = self.jobs.lock();
            let ids: Vec<String> = jobs.keys().cloned().collect();
            for job_id in ids {
                let finishes = jobs.get_mut(&job_id).map(|e| e.state.node_lost(node_id, now)).unwrap_or_default();
                self.apply_finishes(&mut jobs, &job_id, finishes, &mut followups);
                if let Some(entry) = jobs.get_mut(&job_id) {
                    collect_probes(&job_id, entry, &mut followups);
                }
            }
        }
        self.carry_out(followups);
    }

    /// Periodic upkeep: overdue attempts, retries whose backoff passed,
    /// expired leases, deficits.
    pub fn tick(self: &Arc<Self>) {
        let now = self.now();
        let grace = Duration::from_secs(5);
        let lease = self.config.lease();
        let mut followups = Followups::default();
        self.retained.lock().expire(now);
        {
            let mut jobs = self.jobs.lock();
            let ids: Vec<String> = jobs.keys().cloned().collect();
            for job_id in ids {
                let Some(entry) = jobs.get_mut(&job_id) else { continue };
                let overdue = entry.state.expire_overdue(grace, now);
                if !overdue.is_empty() {
                    self.apply_finishes(&mut jobs, &job_id, overdue, &mut followups);
                }
                let Some(entry) = jobs.get_mut(&job_id) else { continue };
                entry.state.release_backoffs(now);
                if !entry.backoff.may_reprobe(&entry.placements, now) {
                    continue;
                }
                let stale = entry.state.expire_lease(lease, now);
                if !stale.is_empty() {
                    tracing::info!(%job_id, "lease expired; re-placing reservations");
                }
                collect_probes(&job_id, entry, &mut followups);
            }
        }
        self.carry_out(followups);
    }

    /// Starts the I/O the followups call for.
    pub fn carry_out(self: &Arc<Self>, followups: Followups) {
        for (job_id, demand, ticket) in followups.probes {
            crate::placement::place(Arc::clone(self), job_id, demand, ticket);
        }
        for (job_id, executor, node) in followups.cancels {
            crate::placement::cancel_reservations(Arc::clone(self), job_id, executor, node);
        }
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

/// Queues the job's unmet reservation demands for placement.
pub fn collect_probes(job_id: &str, entry: &mut JobEntry, followups: &mut Followups) {
    if entry.placements.in_flight() > 0 {
        return;
    }
    for demand in entry.state.probe_demands() {
        let ticket = entry.placements.start();
        followups.probes.push((job_id.to_owned(), demand, ticket));
    }
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

/// Wraps an event.
pub fn event(event: pb::job_event::Event) -> pb::JobEvent {
    pb::JobEvent { event: Some(event) }
}
