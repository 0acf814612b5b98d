//! The client library: connect to schedulers, submit jobs and stream their
//! results back, with transparent retry when schedulers are overloaded and
//! failover when one goes away.
//!
//! - [`spec`]: what is submitted and what comes back.
//! - `submit`: one submission, retried across schedulers until accepted.
//! - `shared_stream`: the one `SubmitJobs` stream per scheduler that jobs
//!   are submitted on by default; `events`: a job's events from either.
//! - [`results`]: the result stream of an accepted job, with failover.
//! - [`watch`]: the results of a job submitted elsewhere or let go.
//! - `backoff`: capped exponential backoff with full jitter.
//! - `reach`: why an address did not take a submission.

pub mod backoff;
mod events;
mod reach;
pub mod results;
mod shared_stream;
pub mod spec;
mod submit;
pub mod watch;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use passer_proto::pb;
use passer_proto::pb::scheduler_client::SchedulerClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::error::ClientError;
use crate::security::TlsFiles;

pub use results::{JobResults, JobUpdate};
pub use spec::{JobSpec, TaskOutput, TaskSpec};
pub use watch::JobWatch;

/// Largest message the client accepts from a scheduler (result batches carry outputs).
const MAX_DECODING_MESSAGE_BYTES: usize = passer_proto::MAX_MESSAGE_BYTES_DEFAULT;

/// How to reach the schedulers and how patiently to retry.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Scheduler addresses, `host:port` or `http://host:port`; at least one.
    pub schedulers: Vec<String>,
    /// Limit on establishing one connection.
    pub connect_timeout: Duration,
    /// First delay when retrying.
    pub initial_backoff: Duration,
    /// Largest delay between retries.
    pub max_backoff: Duration,
    /// How long one submission keeps retrying while schedulers are
    /// overloaded or unreachable before it gives up.
    pub max_retry_time: Duration,
    /// How long a new job's submission keeps trying while no scheduler
    /// answers at all (connection refused, no answer, not a scheduler)
    /// before it fails naming each address and why; `passer
    /// --connect-timeout`. Once any scheduler answered (even "overloaded"),
    /// and on failover of an accepted job, `max_retry_time` applies instead.
    pub unreachable_timeout: Duration,
    /// The shared cluster token, sent as `authorization: Bearer <token>` on every call.
    pub token: Option<String>,
    /// TLS: a CA to verify schedulers (turns on `https`), and a client
    /// certificate and key for mutual TLS. Off by default.
    pub tls: TlsFiles,
    /// Submit jobs on one long-lived `SubmitJobs` stream per scheduler
    /// (on by default) rather than one `SubmitJob` call each. Either way a
    /// job gets the same results; a scheduler without `SubmitJobs` is sent
    /// `SubmitJob` calls automatically.
    pub submit_stream: bool,
}

impl ClientConfig {
    /// A configuration for `schedulers` with default timeouts: connect 2 s,
    /// backoff 20 ms to 2 s, give up after 10 s when no scheduler answers
    /// and after 10 min of overload, no token.
    pub fn new(schedulers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            schedulers: schedulers.into_iter().map(Into::into).collect(),
            connect_timeout: Duration::from_secs(2),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_secs(2),
            max_retry_time: Duration::from_secs(600),
            unreachable_timeout: Duration::from_secs(10),
            token: None,
            tls: TlsFiles::default(),
            submit_stream: true,
        }
    }
}

impl ClientConfig {
    /// A configuration for the schedulers `discovery` knows now (a snapshot:
    /// the client keeps this list; build a new client to pick up changes).
    pub fn discovered(discovery: &crate::discovery::Discovery) -> Self {
        Self::new(discovery.current())
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ClientConfig")
            .field("schedulers", &self.schedulers)
            .field("connect_timeout", &self.connect_timeout)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("max_retry_time", &self.max_retry_time)
            .field("unreachable_timeout", &self.unreachable_timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .field("submit_stream", &self.submit_stream)
            .finish()
    }
}

/// A handle on a set of schedulers. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    endpoints: Vec<Endpoint>,
    /// One HTTP/2 connection per scheduler, created on first use.
    channels: Vec<OnceLock<Channel>>,
    /// The shared `SubmitJobs` stream to each scheduler, opened on first use.
    submit_streams: Vec<shared_stream::StreamSlot>,
    authorization_opt: Option<MetadataValue<Ascii>>,
    /// The next submission's first scheduler; starts at a random one.
    cursor: AtomicUsize,
}

impl Client {
    /// Validates `config` and prepares one lazy connection per scheduler;
    /// no I/O happens until the first call.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        validate(&config)?;
        let tls = config.tls.client_config().map_err(ClientError::Config)?;
        let endpoints = config
            .schedulers
            .iter()
            .map(|address| endpoint(address, config.connect_timeout, tls.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let authorization_opt = config.token.as_deref().map(authorization_value).transpose()?;
        let channels = endpoints.iter().map(|_| OnceLock::new()).collect();
        let submit_streams = endpoints.iter().map(|_| shared_stream::StreamSlot::default()).collect();
        let cursor = AtomicUsize::new(rand::random_range(0..endpoints.len()));
        let inner = Inner { config, endpoints, channels, submit_streams, authorization_opt, cursor };
        Ok(Client { inner: Arc::new(inner) })
    }

    /// The configured scheduler addresses, as given.
    pub fn schedulers(&self) -> &[String] {
        &self.inner.config.schedulers
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Submits `job` and returns once a scheduler accepted it; the results
    /// then stream from the returned [`JobResults`].
    ///
    /// Overloaded schedulers are retried with backoff and unreachable ones
    /// skipped for up to `max_retry_time`; a bad job fails at once.
    pub async fn submit(&self, job: JobSpec) -> Result<JobResults, ClientError> {
        job.validate()?;
        JobResults::open(self.clone(), &job).await
    }

    /// Submits `job` and waits for every result; returns them in the job's
    /// task order. Fails on the first error of the result stream.
    pub async fn run(&self, job: JobSpec) -> Result<Vec<TaskOutput>, ClientError> {
        let order: std::collections::HashMap<String, usize> =
            job.tasks.iter().enumerate().map(|(position, task)| (task.task_id.clone(), position)).collect();
        let mut results = self.submit(job).await?;
        let mut outputs = Vec::with_capacity(results.task_count());
        while let Some(output) = results.next().await {
            outputs.push(output?);
        }
        outputs.sort_by_key(|output| order.get(&output.task_id).copied().unwrap_or(usize::MAX));
        Ok(outputs)
    }

    /// Streams the results of `job_id`, a job submitted by any client (this
    /// one after it let the job's [`JobResults`] go, or another process):
    /// the results so far, then the rest as they end. A finished job's
    /// results come back while a scheduler keeps them (`--keep-results-secs`).
    /// `NotFound` when no scheduler runs the job or keeps its results.
    pub async fn watch(&self, job_id: &str) -> Result<JobWatch, ClientError> {
        JobWatch::open(self.clone(), job_id).await
    }

    /// Asks the schedulers in turn to cancel `job_id` until one says it ran
    /// it. Returns `false` if every scheduler that answered did not know the
    /// job, and an error only if none answered.
    pub async fn cancel(&self, job_id: &str) -> Result<bool, ClientError> {
        let count = self.scheduler_count();
        let start = self.next_start();
        let mut answered = false;
        let mut last_error_opt = None;
        for offset in 0..count {
            let index = (start + offset) % count;
            let request = self.request(pb::CancelJobRequest { job_id: job_id.to_owned() });
            match self.scheduler(index).cancel_job(request).await {
                Ok(response) if response.get_ref().found => return Ok(true),
                Ok(_) => answered = true,
                Err(status) => last_error_opt = Some(status),
            }
        }
        match last_error_opt {
            Some(status) if !answered => Err(ClientError::from(status)),
            _ => Ok(false),
        }
    }

    /// The statistics of the scheduler at `scheduler_index` in [`Client::schedulers`].
    pub async fn stats(&self, scheduler_index: usize) -> Result<pb::SchedulerStats, ClientError> {
        if scheduler_index >= self.scheduler_count() {
            return Err(ClientError::InvalidArgument(format!(
                "scheduler index {scheduler_index} is out of range: the client has {} schedulers",
                self.scheduler_count()
            )));
        }
        let request = self.request(pb::GetStatsRequest {});
        let response = self.scheduler(scheduler_index).get_stats(request).await?;
        Ok(response.into_inner())
    }

    // === crate-internal helpers ===

    pub(crate) fn scheduler_count(&self) -> usize {
        self.inner.endpoints.len()
    }

    /// The index of the scheduler the next submission starts at.
    pub(crate) fn next_start(&self) -> usize {
        self.inner.cursor.fetch_add(1, Ordering::Relaxed) % self.scheduler_count()
    }

    /// A gRPC client for the scheduler at `index`, sharing its connection.
    pub(crate) fn scheduler(&self, index: usize) -> SchedulerClient<Channel> {
        SchedulerClient::new(self.channel(index)).max_decoding_message_size(MAX_DECODING_MESSAGE_BYTES)
    }

    /// The shared `SubmitJobs` stream to the scheduler at `index` (opened
    /// or reopened as needed); `None` when that scheduler predates it.
    pub(crate) async fn shared_stream(
        &self,
        index: usize,
    ) -> Result<Option<std::sync::Arc<shared_stream::SharedStream>>, tonic::Status> {
        self.inner.submit_streams[index].get(self, index).await
    }

    /// The connection to the scheduler at `index`, created on first use.
    pub(crate) fn channel(&self, index: usize) -> Channel {
        self.inner.channels[index].get_or_init(|| self.inner.endpoints[index].connect_lazy()).clone()
    }

    /// Wraps `message` in a request carrying the token, if any.
    pub(crate) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(value) = &self.inner.authorization_opt {
            request.metadata_mut().insert(passer_proto::TOKEN_METADATA, value.clone());
        }
        request
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("Client").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

fn validate(config: &ClientConfig) -> Result<(), ClientError> {
    if config.schedulers.is_empty() {
        return Err(ClientError::Config("at least one scheduler address is required".to_owned()));
    }
    if config.initial_backoff.is_zero() {
        return Err(ClientError::Config("initial_backoff must be above zero".to_owned()));
    }
    if config.max_backoff < config.initial_backoff {
        return Err(ClientError::Config(format!(
            "max_backoff {:?} is below initial_backoff {:?}",
            config.max_backoff, config.initial_backoff
        )));
    }
    if config.connect_timeout.is_zero() {
        return Err(ClientError::Config("connect_timeout must be above zero".to_owned()));
    }
    if config.unreachable_timeout.is_zero() {
        return Err(ClientError::Config("unreachable_timeout (--connect-timeout) must be above zero".to_owned()));
    }
    Ok(())
}

/// Turns `host:port` or `http(s)://host:port` into a URI string.
pub(crate) fn normalize_address(address: &str) -> String {
    if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    }
}

/// An endpoint for a long-lived HTTP/2 connection to `address`, with
/// keep-alive pings so a silently vanished peer is noticed.
/// With `tls`, the connection uses it and the scheme becomes `https`.
pub(crate) fn endpoint(
    address: &str,
    connect_timeout: Duration,
    tls: Option<&ClientTlsConfig>,
) -> Result<Endpoint, ClientError> {
    let mut uri = normalize_address(address.trim());
    if tls.is_some() {
        if let Some(rest) = uri.strip_prefix("http://") {
            uri = format!("https://{rest}");
        }
    }
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|error| ClientError::Config(format!("address {address:?} is not a valid uri: {error}")))?;
    match endpoint.uri().scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(ClientError::Config(format!("address {address:?} must use http or https"))),
    }
    if endpoint.uri().port_u16().is_none() {
        return Err(ClientError::Config(format!("address {address:?} has no port")));
    }
    let endpoint = match tls {
        Some(tls) => endpoint
            .tls_config(tls.clone())
            .map_err(|error| ClientError::Config(format!("TLS for {address:?}: {error}")))?,
        None => endpoint,
    };
    Ok(long_lived(endpoint, connect_timeout))
}

/// Interval of HTTP/2 keep-alive pings to schedulers.
pub(crate) const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a ping may go unanswered before the connection (and every
/// result stream on it) counts as dead and the jobs fail over: a frozen
/// scheduler is left within about 3 s.
pub(crate) const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// `endpoint` set up for a long-lived HTTP/2 connection: connect timeout,
/// no Nagle delay, keep-alive pings even while idle, so a stalled result
/// stream (a scheduler frozen or gone silent) is noticed in seconds.
pub(crate) fn long_lived(endpoint: Endpoint, connect_timeout: Duration) -> Endpoint {
    endpoint
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
}

/// The `authorization` metadata value for `token`.
pub(crate) fn authorization_value(token: &str) -> Result<MetadataValue<Ascii>, ClientError> {
    format!("Bearer {token}").parse().map_err(|_| ClientError::Config("token must be printable ascii".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_validates_without_io() {
        let client = Client::new(ClientConfig::new(["127.0.0.1:1", "http://localhost:2"])).expect("valid");
        assert_eq!(client.schedulers(), ["127.0.0.1:1", "http://localhost:2"]);
        let none: [&str; 0] = [];
        assert!(matches!(Client::new(ClientConfig::new(none)), Err(ClientError::Config(_))));
        assert!(matches!(Client::new(ClientConfig::new(["127.0.0.1"])), Err(ClientError::Config(_))));
        assert!(matches!(Client::new(ClientConfig::new(["ftp://h:1"])), Err(ClientError::Config(_))));
        let mut bad_token = ClientConfig::new(["h:1"]);
        bad_token.token = Some("line\nbreak".to_owned());
        assert!(matches!(Client::new(bad_token), Err(ClientError::Config(_))));
        let mut bad_backoff = ClientConfig::new(["h:1"]);
        bad_backoff.max_backoff = Duration::from_millis(1);
        assert!(matches!(Client::new(bad_backoff), Err(ClientError::Config(_))));
    }

    #[test]
    fn debug_hides_the_token() {
        let mut config = ClientConfig::new(["h:1"]);
        config.token = Some("secret".to_owned());
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn cursor_rotates_over_schedulers() {
        let client = Client::new(ClientConfig::new(["a:1", "b:2", "c:3"])).expect("valid");
        let starts: Vec<usize> = (0..3).map(|_| client.next_start()).collect();
        let mut sorted = starts.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2], "{starts:?}");
    }
}
