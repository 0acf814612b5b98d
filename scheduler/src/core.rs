//! The scheduler's live state: running jobs and their result streams (the
//! submitter's and any watchers'), finished jobs' kept results, the node
//! registry, node sessions and counters. Decisions are made by the pure
//! [`JobState`]; this module applies them under one lock (never held across
//! an await) and hands the I/O they call for to [`crate::placement`].
//! Jobs enter through [`crate::admit`].

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
use crate::metrics::SchedulerMetrics;
use crate::nodes::NodeRegistry;
use crate::policy::admission::AdmissionLimit;
use crate::policy::digest::JobDigest;
use crate::policy::job::{Finish, JobState, ProbeDemand};
use crate::policy::placements::{PlacementTicket, Placements};
use crate::policy::probe_backoff::ProbeBackoff;
use crate::policy::retention::Retention;
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
    /// Whether a task of the job has launched yet: the first launch's delay
    /// since acceptance is the admission limit's congestion signal.
    pub first_launch_seen: bool,
}

/// Watchers one job may have at once.
pub const MAX_WATCHERS_PER_JOB: usize = 64;

impl JobEntry {
    /// The delay from acceptance to `now` when this is the job's first
    /// launch (once per job), `None` after.
    pub fn first_launch_sojourn(&mut self, now: Duration) -> Option<Duration> {
        if self.first_launch_seen {
            return None;
        }
        self.first_launch_seen = true;
        Some(now.saturating_sub(self.accepted_at))
    }

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
    /// The adaptive limit on tasks in flight (consulted with
    /// `--admission adaptive`; fed by first launches and the tick either
    /// way). Never locked while taking `jobs`.
    pub admission: Mutex<AdmissionLimit>,
    started: Instant,
    /// Each admitted job's placement generation.
    pub(crate) next_generation: std::sync::atomic::AtomicU64,
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
        let admission = Mutex::new(AdmissionLimit::new(config.admission_settings(), Duration::ZERO));
        let stats = Stats::default();
        stats.admission_limit.store(config.max_inflight_tasks, std::sync::atomic::Ordering::Relaxed);
        Arc::new(Self {
            config,
            address,
            stats,
            metrics: SchedulerMetrics::default(),
            recent: RecentJobs::default(),
            nodes,
            jobs: Mutex::new(HashMap::new()),
            retained,
            sessions: Mutex::new(HashMap::new()),
            rng: Mutex::new(rng),
            admission,
            started: Instant::now(),
            next_generation: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Time since start: the clock handed to the policy.
    pub fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Late binding for one node: answers its GetTask requests.
    pub fn assign(self: &Arc<Self>, node_id: &str, requests: Vec<pb::GetTaskRequest>) -> Vec<pb::GetTaskResponse> {
        let now = self.now();
        let granted_us = passer_proto::unix_micros();
        let mut followups = Followups::default();
        let mut responses = Vec::with_capacity(requests.len());
        let labels = self.nodes.labels(node_id);
        let mut started = 0;
        let mut sojourns = Vec::new();
        {
            let mut jobs = self.jobs.lock();
            for request in requests {
                let wanted = request.max_tasks.max(1);
                let mut launches = match jobs.get_mut(&request.job_id) {
                    Some(entry) => {
                        let assignment = entry.state.assign_to(node_id, &labels, &request.executor, wanted, now);
                        if !assignment.launches.is_empty() {
                            sojourns.extend(entry.first_launch_sojourn(now));
                        }
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
                for launch in &mut launches {
                    launch.hops = Some(pb::HopTimes { asked_us: request.asked_us, granted_us, ..Default::default() });
                }
                responses.push(pb::GetTaskResponse {
                    job_id: request.job_id,
                    tasks: launches,
                    request_id: request.request_id,
                });
            }
        }
        self.nodes.update_idle(node_id, |idle| idle.note_tasks(started, 0));
        self.note_first_launches(&sojourns, now);
        self.carry_out(followups);
        responses
    }

    /// Applies finished attempts reported by `node_id`.
    pub fn report(self: &Arc<Self>, node_id: &str, outcomes: Vec<pb::TaskOutcome>) {
        let now = self.now();
        let received_us = passer_proto::unix_micros();
        let reported = outcomes.len() as u64;
        self.nodes.update_idle(node_id, |idle| idle.note_tasks(0, reported));
        let mut followups = Followups::default();
        {
            let mut jobs = self.jobs.lock();
            let mut touched: HashMap<String, Vec<Finish>> = HashMap::new();
            for mut outcome in outcomes {
                if let Some(hops) = outcome.hops.as_mut() {
                    hops.scheduler_received_us = received_us;
                }
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
            let sent_us = passer_proto::unix_micros();
            for hops in results.iter_mut().filter_map(|result| result.hops.as_mut()) {
                hops.result_sent_us = sent_us;
            }
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
        self.roll_admission(now);
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

/// Wraps an event.
pub fn event(event: pb::job_event::Event) -> pb::JobEvent {
    pb::JobEvent { event: Some(event) }
}
