//! The scheduler's configuration: flags with `PASSER_*` environment
//! fallbacks, each with a default that works on one host.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use passer_server::consul::RegistrationArgs;

use crate::discovery::NodeDiscoveryArgs;
use crate::policy::admission::{AdmissionSettings, DEFAULT_ADMISSION_TARGET_MS};
use crate::policy::job::TaskDefaults;
use crate::policy::retention::Retention;
use crate::policy::validate::Limits;

/// How jobs are admitted (`--admission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdmissionMode {
    /// A limit on tasks in flight that adapts to the queueing delay.
    Adaptive,
    /// Only the fixed `--max-inflight-tasks`.
    Fixed,
}

/// Sparrow's probe ratio `d` by default. The paper used 2; passer's
/// simulator of the production code puts d = 2 at 1.078x a fair omniscient
/// scheduler's median at 80% load and d = 3 at 1.019x (docs/simulation.md),
/// and a node never holds more of a job's reservations than the job has
/// tasks, so small jobs on few nodes pay nothing for it.
pub const DEFAULT_PROBE_RATIO: f64 = 3.0;

/// How a scheduler runs.
#[derive(Debug, Clone, Args)]
pub struct SchedulerConfig {
    /// Address to listen on for clients and node monitors.
    #[arg(long, env = "PASSER_LISTEN", default_value = "0.0.0.0:20503")]
    pub listen: SocketAddr,
    /// host:port node monitors reach this scheduler at; defaults to
    /// 127.0.0.1 and the listening port when listening on all interfaces.
    #[arg(long, env = "PASSER_ADVERTISE")]
    pub advertise: Option<String>,
    /// Node monitors to place tasks on (comma-separated host:port).
    #[arg(long, env = "PASSER_NODE_MONITORS", value_delimiter = ',', default_value = "127.0.0.1:20501")]
    pub node_monitors: Vec<String>,
    /// Reservations per task (Sparrow's d).
    #[arg(long, env = "PASSER_PROBE_RATIO", default_value_t = DEFAULT_PROBE_RATIO)]
    pub probe_ratio: f64,
    /// Offer tasks along with their reservations to node monitors that look
    /// idle, which start them at once (saving the GetTask round trip) or
    /// decline them back to late binding. `false` is pure Sparrow.
    #[arg(long, env = "PASSER_OFFER_TO_IDLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub offer_to_idle: bool,
    /// Most tasks admitted and unfinished at once; beyond it, RESOURCE_EXHAUSTED.
    #[arg(long, env = "PASSER_MAX_INFLIGHT_TASKS", default_value_t = 200_000)]
    pub max_inflight_tasks: u64,
    /// How jobs are admitted: `adaptive` refuses new jobs once the tasks in
    /// flight exceed a limit that shrinks when tasks wait to launch
    /// (queueing delay above `--admission-target-ms`) and grows back when
    /// they do not; `fixed` refuses only beyond `--max-inflight-tasks`.
    #[arg(long, env = "PASSER_ADMISSION", value_enum, default_value_t = AdmissionMode::Adaptive)]
    pub admission: AdmissionMode,
    /// The adaptive limit's target: the delay from a job's acceptance to
    /// its first task's launch above which the scheduler is congested, in
    /// milliseconds.
    #[arg(long, env = "PASSER_ADMISSION_TARGET_MS", default_value_t = DEFAULT_ADMISSION_TARGET_MS)]
    pub admission_target_ms: u64,
    /// The lowest the adaptive limit on tasks in flight goes (at most
    /// `--max-inflight-tasks`). Unset, it follows the cluster: 5/4 of the
    /// slots on the node monitors that are up, so at the floor at most one
    /// task waits per four slots.
    #[arg(long, env = "PASSER_ADMISSION_MIN_LIMIT")]
    pub admission_min_limit: Option<u64>,
    /// Most jobs open at once on one `SubmitJobs` stream (accepted and not
    /// yet finished); jobs beyond it are refused RESOURCE_EXHAUSTED one by
    /// one, and the stream stays open.
    #[arg(long, env = "PASSER_MAX_JOBS_PER_STREAM", default_value_t = 10_000)]
    pub max_jobs_per_stream: usize,
    /// Answers `SubmitJobs` with UNIMPLEMENTED, as a scheduler that predates
    /// it would (for testing clients' fallback to `SubmitJob`).
    #[arg(long, env = "PASSER_DISABLE_SUBMIT_STREAM", hide = true)]
    pub disable_submit_stream: bool,
    /// Timeout per attempt for tasks that set none, in milliseconds.
    #[arg(long, env = "PASSER_DEFAULT_TIMEOUT_MS", default_value_t = 3_600_000)]
    pub default_timeout_ms: u64,
    /// Attempts per task for tasks that set none.
    #[arg(long, env = "PASSER_DEFAULT_MAX_ATTEMPTS", default_value_t = 3)]
    pub default_max_attempts: u32,
    /// Milliseconds without progress after which a job's reservations are
    /// presumed lost and re-placed.
    #[arg(long, env = "PASSER_LEASE_MS", default_value_t = 2_000)]
    pub lease_ms: u64,
    /// Milliseconds between node monitor load polls (the heartbeat).
    #[arg(long, env = "PASSER_NODE_POLL_MS", default_value_t = 500)]
    pub node_poll_ms: u64,
    /// Most tasks in one job.
    #[arg(long, env = "PASSER_MAX_TASKS_PER_JOB", default_value_t = 100_000)]
    pub max_tasks_per_job: usize,
    /// Most payload bytes in one task.
    #[arg(long, env = "PASSER_MAX_PAYLOAD_BYTES", default_value_t = 1024 * 1024)]
    pub max_payload_bytes: usize,
    /// Seed for the sampler's RNG (random if unset), for reproducible runs.
    #[arg(long, env = "PASSER_SEED")]
    pub seed: Option<u64>,
    /// How node monitors are found besides `--node-monitors`.
    #[command(flatten)]
    pub discovery: NodeDiscoveryArgs,
    /// Registration with the local Consul agent.
    #[command(flatten)]
    pub consul: RegistrationArgs,

    /// Address to serve Prometheus metrics on (HTTP `GET /metrics`); off when unset.
    #[arg(long, env = "PASSER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Address to serve the web status page on (also serves `/metrics` and
    /// `/api/status`); off when unset.
    #[arg(long, env = "PASSER_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// Most payload bytes over all tasks of one job.
    #[arg(long, env = "PASSER_MAX_JOB_BYTES", default_value_t = passer_proto::MAX_JOB_BYTES_DEFAULT)]
    pub max_job_bytes: usize,
    /// Longest job, task and node id and tenant, in bytes.
    #[arg(long, env = "PASSER_MAX_ID_BYTES", default_value_t = 128)]
    pub max_id_bytes: usize,
    /// Seconds a finished job's results stay fetchable (`passer results
    /// JOB`, `WatchJob`, a resubmission of the same job); 0 keeps none.
    #[arg(long, env = "PASSER_KEEP_RESULTS_SECS", default_value_t = 300)]
    pub keep_results_secs: u64,
    /// Bytes of finished jobs' results kept in all (outputs, errors, ids);
    /// the oldest go first when it is reached.
    #[arg(long, env = "PASSER_KEEP_RESULTS_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub keep_results_bytes: usize,
    /// Largest gRPC message accepted or sent, in bytes; the default is the
    /// default --max-job-bytes plus 32 MiB for ids, specs and framing, the
    /// limit every node monitor, executor and SDK applies too.
    #[arg(long, env = "PASSER_MAX_MESSAGE_BYTES", default_value_t = passer_proto::MAX_MESSAGE_BYTES_DEFAULT)]
    pub max_message_bytes: usize,
    /// TLS and token.
    #[command(flatten)]
    pub security: passer_server::security::SecurityArgs,
    /// Connection cap and handshake deadline of the gRPC listener.
    #[command(flatten)]
    pub connections: passer_server::incoming::ConnectionArgs,
    /// Where to write the bound addresses once serving (`--ready-file`).
    #[command(flatten)]
    pub ready: passer_server::ready::ReadyArgs,
}

impl SchedulerConfig {
    /// A configuration for tests and `passer dev`.
    pub fn local(listen: SocketAddr, node_monitors: Vec<String>) -> Self {
        Self {
            listen,
            advertise: None,
            node_monitors,
            probe_ratio: DEFAULT_PROBE_RATIO,
            offer_to_idle: true,
            max_inflight_tasks: 200_000,
            admission: AdmissionMode::Adaptive,
            admission_target_ms: DEFAULT_ADMISSION_TARGET_MS,
            admission_min_limit: None,
            max_jobs_per_stream: 10_000,
            disable_submit_stream: false,
            default_timeout_ms: 3_600_000,
            default_max_attempts: 3,
            lease_ms: 2_000,
            node_poll_ms: 500,
            max_tasks_per_job: 100_000,
            max_payload_bytes: 1024 * 1024,
            seed: None,
            discovery: NodeDiscoveryArgs::default(),
            consul: RegistrationArgs::default(),

            metrics_listen: None,
            http_listen: None,
            max_job_bytes: passer_proto::MAX_JOB_BYTES_DEFAULT,
            max_id_bytes: 128,
            max_message_bytes: passer_proto::MAX_MESSAGE_BYTES_DEFAULT,
            keep_results_secs: 300,
            keep_results_bytes: 16 * 1024 * 1024,
            security: Default::default(),
            connections: Default::default(),
            ready: Default::default(),
        }
    }

    /// Checks values that clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.probe_ratio.is_finite() && self.probe_ratio >= 1.0 && self.probe_ratio <= 100.0) {
            return Err(format!("--probe-ratio must be between 1 and 100, not {}", self.probe_ratio));
        }
        if self.max_jobs_per_stream == 0 {
            return Err("--max-jobs-per-stream must be at least 1".to_owned());
        }
        if self.max_inflight_tasks == 0 {
            return Err("--max-inflight-tasks must be at least 1".into());
        }
        if self.admission_min_limit == Some(0) || self.admission_target_ms == 0 {
            return Err("--admission-min-limit and --admission-target-ms must be at least 1".into());
        }
        if self.default_max_attempts == 0 {
            return Err("--default-max-attempts must be at least 1".into());
        }
        if self.default_timeout_ms == 0 {
            return Err("--default-timeout-ms must be at least 1".into());
        }
        if self.node_poll_ms == 0 || self.lease_ms == 0 {
            return Err("--node-poll-ms and --lease-ms must be at least 1".into());
        }
        self.discovery.validate()?;
        self.consul.validate()?;
        if self.max_id_bytes == 0 || self.max_message_bytes < 1024 {
            return Err("--max-id-bytes must be at least 1 and --max-message-bytes at least 1024".into());
        }
        Ok(())
    }

    /// Defaults applied to tasks.
    pub fn task_defaults(&self) -> TaskDefaults {
        TaskDefaults { timeout_ms: self.default_timeout_ms, max_attempts: self.default_max_attempts }
    }

    /// Limits on submissions.
    pub fn limits(&self) -> Limits {
        Limits {
            max_tasks_per_job: self.max_tasks_per_job,
            max_payload_bytes: self.max_payload_bytes,
            max_job_bytes: self.max_job_bytes,
            max_id_bytes: self.max_id_bytes,
            ..Limits::default()
        }
    }

    /// What a submission is checked against before it is decoded.
    pub fn scan_limits(&self) -> crate::intake::scan::ScanLimits {
        crate::intake::scan::ScanLimits {
            max_message_bytes: self.max_message_bytes,
            max_tasks_per_job: self.max_tasks_per_job,
            max_constraints: crate::policy::validate::MAX_CONSTRAINTS,
        }
    }

    /// How finished jobs' results are kept.
    pub fn retention(&self) -> Retention {
        Retention::new(Duration::from_secs(self.keep_results_secs), self.keep_results_bytes)
    }

    /// The adaptive admission limit's settings.
    pub fn admission_settings(&self) -> AdmissionSettings {
        let target = Duration::from_millis(self.admission_target_ms);
        match self.admission_min_limit {
            Some(min_limit) => AdmissionSettings::new(target, min_limit, self.max_inflight_tasks),
            None => AdmissionSettings::following_slots(target, self.max_inflight_tasks),
        }
    }

    /// The lease.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
}
