//! The executor runtime: an executor process registers a [`Handler`] per
//! executor type with a number of slots, attaches to its node monitor and
//! runs the tasks it is sent.
//!
//! ```no_run
//! use passer::executor::ExecutorBuilder;
//! use passer::{Task, TaskError};
//!
//! async fn shout(task: Task) -> Result<Vec<u8>, TaskError> {
//!     Ok(task.payload.to_ascii_uppercase())
//! }
//!
//! # async fn example() -> Result<(), passer::ClientError> {
//! ExecutorBuilder::from_env()?
//!     .handler("shout", 4, shout)
//!     .run(passer::signal::shutdown_signal())
//!     .await
//! # }
//! ```
//!
//! - `connection`: connecting, reconnecting and the `hello`.
//! - `session`: one attached stream.
//! - `running`: the tasks in flight, with deadlines, cancellation and panics.
//! - `unix`: attaching through a Unix domain socket (`unix:/path`).

mod connection;
mod running;
mod session;
mod supervisor_watch;
mod unix;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

pub use self::running::RunningTasks;

use self::connection::{Registration, Target};
use crate::client::{authorization_value, endpoint};
use crate::error::ClientError;
use crate::handler::{Handler, SharedHandler};
use crate::security::TlsFiles;

/// The environment variable holding the shared cluster token.
pub const TOKEN_ENV: &str = "PASSER_TOKEN";

/// Limit on establishing one connection to the node monitor.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Entry point of the executor runtime.
#[derive(Debug, Clone, Copy)]
pub struct Executor;

impl Executor {
    /// Starts building an executor that attaches to the node monitor at
    /// `attach_addr`, such as `http://127.0.0.1:20501` or `unix:/run/passer/attach.sock`.
    pub fn builder(attach_addr: impl Into<String>) -> ExecutorBuilder {
        ExecutorBuilder::new(attach_addr)
    }
}

/// Configures an executor process: where to attach and what it runs.
pub struct ExecutorBuilder {
    attach_addr: String,
    token_opt: Option<String>,
    supervisor_pid_opt: Option<u32>,
    tls: TlsFiles,
    name: String,
    registrations: Vec<Registration>,
    heartbeat_interval: Duration,
    max_log_bytes: usize,
}

impl ExecutorBuilder {
    /// A builder attaching to `attach_addr` (`host:port`, `http://host:port`
    /// or a Unix socket, `unix:/path`).
    pub fn new(attach_addr: impl Into<String>) -> Self {
        Self {
            attach_addr: attach_addr.into(),
            token_opt: None,
            supervisor_pid_opt: None,
            tls: TlsFiles::default(),
            name: default_name(),
            registrations: Vec::new(),
            heartbeat_interval: session::HEARTBEAT_INTERVAL,
            max_log_bytes: crate::task_logs::DEFAULT_MAX_LOG_BYTES,
        }
    }

    /// A builder configured from the process environment: the attach
    /// address from `PASSER_ATTACH_ADDR` (set by a supervising node monitor),
    /// the token from `PASSER_TOKEN` if set, and the supervisor's pid from
    /// `PASSER_SUPERVISOR_PID`: the executor exits once that process is gone.
    pub fn from_env() -> Result<ExecutorBuilder, ClientError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Like [`ExecutorBuilder::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ExecutorBuilder, ClientError> {
        let attach_addr = lookup(passer_proto::ATTACH_ADDR_ENV)
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| ClientError::Config(format!("{} is not set", passer_proto::ATTACH_ADDR_ENV)))?;
        let token_opt = lookup(TOKEN_ENV).filter(|value| !value.is_empty());
        let mut builder = Self::new(attach_addr).token(token_opt);
        builder.supervisor_pid_opt = supervisor_watch::supervisor_pid(lookup(supervisor_watch::SUPERVISOR_PID_ENV));
        Ok(builder)
    }

    /// Registers `handler` for `executor_type`, running up to `slots` tasks at once.
    pub fn handler(self, executor_type: impl Into<String>, slots: u32, handler: impl Handler) -> Self {
        self.shared_handler(executor_type, slots, Arc::new(handler))
    }

    /// Registers an already shared handler for `executor_type`.
    pub fn shared_handler(mut self, executor_type: impl Into<String>, slots: u32, handler: SharedHandler) -> Self {
        self.registrations.push(Registration { executor: executor_type.into(), slots, handler });
        self
    }

    /// Exits (like a shutdown) once process `pid`, the supervising node
    /// monitor, is gone; `None` never does. `from_env` sets it from
    /// `PASSER_SUPERVISOR_PID`.
    pub fn supervised_by(mut self, pid: Option<u32>) -> Self {
        self.supervisor_pid_opt = pid.filter(|&pid| pid > 1);
        self
    }

    /// Sets or clears the shared cluster token sent on the attach stream.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token_opt = token;
        self
    }

    /// Sets TLS for attaching to a node monitor's TLS listener (a CA to
    /// verify it; a certificate and key if it requires mutual TLS). The
    /// loopback attach address a node monitor gives its own executors is
    /// plaintext and needs none.
    pub fn tls(mut self, tls: TlsFiles) -> Self {
        self.tls = tls;
        self
    }

    /// Sets how often a heartbeat goes out on each attach stream (default
    /// 5 s; at least 10 ms). A node monitor withdraws an executor that sent
    /// heartbeats and then stays silent past its `--executor-silence-ms`.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Sets the most bytes of each task attempt's logs sent with its result
    /// (default 64 KiB; the tail is kept, after a marker line). What a
    /// handler logs is captured through [`crate::task_logs`]; 0 sends none.
    pub fn max_log_bytes(mut self, max_log_bytes: usize) -> Self {
        self.max_log_bytes = max_log_bytes;
        self
    }

    /// Sets the name shown in the node monitor's logs (default: the program's name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Attaches every registered type and runs tasks until `shutdown`
    /// resolves or the node monitor says shutdown. Either way running tasks
    /// get up to 10 s to finish and report before this returns `Ok(())`.
    ///
    /// Fails at once on a bad configuration, and later only if the node
    /// monitor refuses the executor (for example a bad `hello` or token).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ClientError> {
        let target = Arc::new(self.target()?);
        validate_registrations(&self.registrations)?;
        let (stop_sender, stop_receiver) = watch::channel(false);
        let mut attachments = JoinSet::new();
        for registration in self.registrations {
            attachments.spawn(connection::keep_attached(Arc::clone(&target), registration, stop_receiver.clone()));
        }
        tokio::pin!(shutdown);
        let supervisor_pid_opt = self.supervisor_pid_opt;
        let supervisor_gone = async move {
            match supervisor_pid_opt {
                Some(pid) => supervisor_watch::supervisor_gone(pid).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(supervisor_gone);
        let mut first_error_opt = None;
        loop {
            tokio::select! {
                () = &mut shutdown, if !*stop_sender.borrow() => {
                    tracing::info!("executor shutting down");
                    stop_sender.send_replace(true);
                }
                () = &mut supervisor_gone, if !*stop_sender.borrow() => {
                    tracing::warn!(pid = supervisor_pid_opt, "the supervising node monitor is gone; exiting");
                    stop_sender.send_replace(true);
                }
                joined = attachments.join_next() => match joined {
                    None => return first_error_opt.map_or(Ok(()), Err),
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(error))) => {
                        tracing::error!(%error, "node monitor refused the executor");
                        stop_sender.send_replace(true);
                        first_error_opt.get_or_insert(error);
                    }
                    Some(Err(join_error)) => {
                        stop_sender.send_replace(true);
                        first_error_opt.get_or_insert(ClientError::Transport(format!("attachment task failed: {join_error}")));
                    }
                },
            }
        }
    }

    /// Where to attach. A `unix:` socket is local and plaintext, so TLS
    /// settings do not apply to it; the token is still sent.
    fn target(&self) -> Result<Target, ClientError> {
        let socket_path_opt = unix::socket_path(&self.attach_addr)?;
        let endpoint = match &socket_path_opt {
            Some(_) => unix::socket_endpoint(CONNECT_TIMEOUT),
            None => {
                let tls = self.tls.client_config().map_err(ClientError::Config)?;
                endpoint(&self.attach_addr, CONNECT_TIMEOUT, tls.as_ref())?
            }
        };
        let authorization_opt = self.token_opt.as_deref().map(authorization_value).transpose()?;
        Ok(Target {
            endpoint,
            socket_path_opt,
            address: self.attach_addr.clone(),
            authorization_opt,
            name: self.name.clone(),
            heartbeat_interval: self.heartbeat_interval,
            max_log_bytes: self.max_log_bytes,
        })
    }
}

impl std::fmt::Debug for ExecutorBuilder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let types: Vec<(&str, u32)> = self.registrations.iter().map(|r| (r.executor.as_str(), r.slots)).collect();
        formatter
            .debug_struct("ExecutorBuilder")
            .field("attach_addr", &self.attach_addr)
            .field("name", &self.name)
            .field("types", &types)
            .field("token", &self.token_opt.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

fn validate_registrations(registrations: &[Registration]) -> Result<(), ClientError> {
    if registrations.is_empty() {
        return Err(ClientError::Config("no handler registered: add one with ExecutorBuilder::handler".to_owned()));
    }
    let mut seen = HashSet::new();
    for registration in registrations {
        if registration.executor.is_empty() {
            return Err(ClientError::Config("executor type must not be empty".to_owned()));
        }
        if registration.slots == 0 {
            return Err(ClientError::Config(format!(
                "executor type {:?} needs at least one slot",
                registration.executor
            )));
        }
        if !seen.insert(registration.executor.as_str()) {
            return Err(ClientError::Config(format!("executor type {:?} registered twice", registration.executor)));
        }
    }
    Ok(())
}

/// The program's file name, or `passer-executor`.
fn default_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|program| std::path::Path::new(&program).file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "passer-executor".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::echo;

    #[test]
    fn from_lookup_needs_the_attach_address() {
        let missing = ExecutorBuilder::from_lookup(|_| None).unwrap_err();
        assert_eq!(missing.to_string(), "invalid configuration: PASSER_ATTACH_ADDR is not set");
        let builder = ExecutorBuilder::from_lookup(|key| match key {
            "PASSER_ATTACH_ADDR" => Some("127.0.0.1:20501".to_owned()),
            "PASSER_TOKEN" => Some("secret".to_owned()),
            _ => None,
        })
        .expect("configured");
        assert_eq!(builder.attach_addr, "127.0.0.1:20501");
        assert_eq!(builder.token_opt.as_deref(), Some("secret"));
        assert!(!format!("{builder:?}").contains("secret"));
    }

    #[tokio::test]
    async fn run_rejects_bad_registrations() {
        let none = Executor::builder("127.0.0.1:1").run(std::future::pending()).await;
        assert!(matches!(none, Err(ClientError::Config(_))));
        let zero = Executor::builder("127.0.0.1:1").handler("echo", 0, echo).run(std::future::pending()).await;
        assert!(matches!(zero, Err(ClientError::Config(message)) if message.contains("at least one slot")));
        let twice = Executor::builder("127.0.0.1:1")
            .handler("echo", 1, echo)
            .handler("echo", 1, echo)
            .run(std::future::pending())
            .await;
        assert!(matches!(twice, Err(ClientError::Config(message)) if message.contains("twice")));
        let bad_address = Executor::builder("nowhere").handler("echo", 1, echo).run(std::future::pending()).await;
        assert!(matches!(bad_address, Err(ClientError::Config(_))));
    }
}
