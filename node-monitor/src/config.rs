//! The node monitor's configuration: flags with `PASSER_*` environment
//! fallbacks, each with a default that works on one host.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use passer_server::consul::RegistrationArgs;

use crate::tenants::{parse_pairs, TenantPolicy};

/// Largest `--command-max-output-bytes`: results travel in one message.
const MAX_COMMAND_OUTPUT_BYTES: usize = 16 * 1024 * 1024;
/// Longest unix socket path Linux accepts (`sun_path` less its NUL).
const MAX_SOCKET_PATH_BYTES: usize = 107;

/// Whether and where to serve the attach socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachSocketPlan {
    /// No socket: executors attach over TCP.
    Off,
    /// A socket in a fresh private directory (executors are supervised).
    Private,
    /// The socket named by `--attach-socket`.
    At(PathBuf),
}

/// How a node monitor runs.
#[derive(Debug, Clone, Args)]
pub struct NodeMonitorConfig {
    /// Address to listen on for schedulers and executors.
    #[arg(long, env = "PASSER_LISTEN", default_value = "0.0.0.0:20501")]
    pub listen: SocketAddr,
    /// host:port schedulers and executors reach this node at; defaults to
    /// 127.0.0.1 and the listening port when listening on all interfaces.
    #[arg(long, env = "PASSER_ADVERTISE")]
    pub advertise: Option<String>,
    /// This node's id; defaults to the advertised address.
    #[arg(long, env = "PASSER_NODE_ID")]
    pub node_id: Option<String>,
    /// Built-in executors to offer (comma-separated: echo, sleep).
    #[arg(long, env = "PASSER_BUILTIN", value_delimiter = ',', default_value = "echo,sleep")]
    pub builtin: Vec<String>,
    /// Slots of each built-in executor.
    #[arg(long, env = "PASSER_SLOTS", default_value_t = 4)]
    pub slots: u32,
    /// An executor command to start and supervise (repeatable); it attaches
    /// through the address in PASSER_ATTACH_ADDR.
    #[arg(long = "executor", env = "PASSER_EXECUTORS", value_delimiter = ';')]
    pub executors: Vec<String>,
    /// Most reservations the queue holds.
    #[arg(long, env = "PASSER_QUEUE_CAPACITY", default_value_t = 20_000)]
    pub queue_capacity: u32,
    /// Tasks per executor slot taken ahead of a free slot, so a slot that
    /// finishes starts its next task without waiting for a scheduler round
    /// trip (0 = pure late binding). Executors that queue (the Rust SDK's)
    /// are sent them at once. 1–2 suit uneven tasks, 16 floods of tiny
    /// ones; see README.
    #[arg(long, env = "PASSER_PREFETCH_PER_SLOT", default_value_t = 0)]
    pub prefetch_per_slot: u32,
    /// Take reservations, offers and cancellations only on the unary
    /// `EnqueueReservations` / `CancelReservations` calls, never on the
    /// scheduler links' `Session` streams, as node monitors did before the
    /// streams carried them (compatibility tests; slower).
    #[arg(long, env = "PASSER_UNARY_RESERVATIONS_ONLY")]
    pub unary_reservations_only: bool,
    /// Milliseconds a GetTask may go unanswered: then its slots are
    /// released, and the scheduler's reservations are skipped for a while
    /// (doubling per silence, up to 16 s) so a frozen or unreachable
    /// scheduler never holds slots others could use.
    #[arg(long, env = "PASSER_GET_TASK_TIMEOUT_MS", default_value_t = 1_000)]
    pub get_task_timeout_ms: u64,
    /// Milliseconds an executor that sends heartbeats may stay silent before
    /// its slots are withdrawn and its tasks placed again.
    #[arg(long, env = "PASSER_EXECUTOR_SILENCE_MS", default_value_t = 15_000)]
    pub executor_silence_ms: u64,
    /// `key=value` labels of this node (repeatable).
    #[arg(long = "label", env = "PASSER_LABELS", value_delimiter = ',')]
    pub labels: Vec<String>,
    /// Offer the `command` executor: run each task's payload as a command.
    /// This runs code sent by clients; enable it only on trusted clusters.
    #[arg(long, env = "PASSER_ALLOW_COMMAND")]
    pub allow_command: bool,
    /// Most bytes of stdout, and of stderr, a command task returns.
    #[arg(long, env = "PASSER_COMMAND_MAX_OUTPUT_BYTES", default_value_t = 65_536)]
    pub command_max_output_bytes: usize,
    /// Most bytes of one task attempt's logs passed on to the scheduler: the
    /// tail is kept, after a `[... N bytes earlier dropped]` line.
    #[arg(long, env = "PASSER_MAX_TASK_LOG_BYTES", default_value_t = 65_536)]
    pub max_task_log_bytes: usize,
    /// Seconds to wait for running tasks on shutdown.
    #[arg(long, env = "PASSER_DRAIN_TIMEOUT_SECS", default_value_t = 30)]
    pub drain_timeout_secs: u64,
    /// `tenant=weight`: the tenant's weighted fair share of this node's
    /// reservation queue (repeatable; weight 0 = only idle slots).
    #[arg(long = "tenant-weight", env = "PASSER_TENANT_WEIGHTS", value_delimiter = ',')]
    pub tenant_weights: Vec<String>,
    /// Weight of tenants not named by --tenant-weight.
    #[arg(long, env = "PASSER_DEFAULT_TENANT_WEIGHT", default_value_t = 1)]
    pub default_tenant_weight: u32,
    /// `tenant=priority`: the highest priority the tenant's jobs get here
    /// (repeatable); higher requests are lowered to it.
    #[arg(long = "max-priority", env = "PASSER_MAX_PRIORITIES", value_delimiter = ',')]
    pub max_priorities: Vec<String>,
    /// Highest priority of tenants not named by --max-priority.
    #[arg(long, env = "PASSER_DEFAULT_MAX_PRIORITY", default_value_t = 0, allow_negative_numbers = true)]
    pub default_max_priority: i32,
    /// Registration with the local Consul agent.
    #[command(flatten)]
    pub consul: RegistrationArgs,

    /// Address to serve Prometheus metrics on (HTTP `GET /metrics`); off when unset.
    #[arg(long, env = "PASSER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Plaintext loopback address for local executors to attach at when TLS
    /// is on (the token is still checked); port 0 picks a free one. Without
    /// TLS, executors attach at --listen.
    #[arg(long, env = "PASSER_ATTACH_LISTEN", default_value = "127.0.0.1:0")]
    pub attach_listen: SocketAddr,
    /// Unix socket path local executors attach at (mode 0600; the token is
    /// still checked). Supervised executors are given it. Default with
    /// --executor: attach.sock in a private directory under
    /// $XDG_RUNTIME_DIR or the temp dir; `off` (or empty) turns it off.
    #[arg(long, env = "PASSER_ATTACH_SOCKET")]
    pub attach_socket: Option<String>,
    /// TLS and token.
    #[command(flatten)]
    pub security: passer_server::security::SecurityArgs,
    /// Connection cap and handshake deadline of the gRPC listeners.
    #[command(flatten)]
    pub connections: passer_server::incoming::ConnectionArgs,
    /// Where to write the bound addresses once serving (`--ready-file`).
    #[command(flatten)]
    pub ready: passer_server::ready::ReadyArgs,
}

impl NodeMonitorConfig {
    /// A configuration for tests and `passer dev`: loopback, the given
    /// builtins and slots, everything else default.
    pub fn local(listen: SocketAddr, builtin: &[&str], slots: u32) -> Self {
        Self {
            listen,
            advertise: None,
            node_id: None,
            builtin: builtin.iter().map(|b| (*b).to_owned()).collect(),
            slots,
            executors: Vec::new(),
            queue_capacity: 20_000,
            prefetch_per_slot: 0,
            unary_reservations_only: false,
            get_task_timeout_ms: 1_000,
            executor_silence_ms: 15_000,
            labels: Vec::new(),
            drain_timeout_secs: 30,
            tenant_weights: Vec::new(),
            default_tenant_weight: 1,
            max_priorities: Vec::new(),
            default_max_priority: 0,
            consul: RegistrationArgs::default(),

            metrics_listen: None,
            attach_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            attach_socket: None,
            security: Default::default(),
            connections: Default::default(),
            ready: Default::default(),
            allow_command: false,
            command_max_output_bytes: 65_536,
            max_task_log_bytes: 65_536,
        }
    }

    /// Checks values that clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.slots == 0 || self.slots > 4096 {
            return Err("--slots must be 1 to 4096".into());
        }
        if self.prefetch_per_slot > 64 {
            return Err("--prefetch-per-slot must be at most 64".into());
        }
        if self.get_task_timeout_ms == 0 || self.executor_silence_ms == 0 {
            return Err("--get-task-timeout-ms and --executor-silence-ms must be at least 1".into());
        }
        if self.queue_capacity == 0 {
            return Err("--queue-capacity must be at least 1".into());
        }
        if self.max_task_log_bytes > MAX_COMMAND_OUTPUT_BYTES {
            return Err(format!("--max-task-log-bytes must be at most {MAX_COMMAND_OUTPUT_BYTES}"));
        }
        if self.command_max_output_bytes > MAX_COMMAND_OUTPUT_BYTES {
            return Err(format!("--command-max-output-bytes must be at most {MAX_COMMAND_OUTPUT_BYTES}"));
        }
        for name in &self.builtin {
            if name == crate::executors::command::COMMAND_EXECUTOR {
                return Err("--builtin command is not accepted: start with --allow-command to offer it".into());
            }
            if !name.is_empty() && passer::builtin::builtin_handler(name).is_none() {
                return Err(format!(
                    "--builtin {name:?} is not a built-in executor (known: {})",
                    passer::builtin::BUILTIN_NAMES.join(", ")
                ));
            }
        }
        for label in &self.labels {
            if label.split_once('=').is_none_or(|(key, _)| key.is_empty()) {
                return Err(format!("--label {label:?} must be key=value"));
            }
        }
        self.tenant_policy()?;
        self.consul.validate()?;
        if !self.attach_listen.ip().is_loopback() {
            return Err(format!(
                "--attach-listen {} must be a loopback address (it serves plaintext)",
                self.attach_listen
            ));
        }
        if let AttachSocketPlan::At(path) = self.attach_socket_plan() {
            validate_socket_path(&path)?;
        }
        self.security.load()?;
        Ok(())
    }

    /// Where the attach socket goes: as `--attach-socket` says (`off` or
    /// empty: none), else a private one when executors are supervised.
    pub fn attach_socket_plan(&self) -> AttachSocketPlan {
        match self.attach_socket.as_deref().map(str::trim) {
            Some("" | "off") => AttachSocketPlan::Off,
            Some(path) => AttachSocketPlan::At(PathBuf::from(path)),
            None if self.executors.iter().any(|command| !command.trim().is_empty()) => AttachSocketPlan::Private,
            None => AttachSocketPlan::Off,
        }
    }

    /// The reservation queue's tenant policy from the tenant flags.
    pub fn tenant_policy(&self) -> Result<TenantPolicy, String> {
        Ok(TenantPolicy {
            weights: parse_pairs("--tenant-weight", &self.tenant_weights)?,
            default_weight: self.default_tenant_weight,
            max_priority: parse_pairs("--max-priority", &self.max_priorities)?,
            default_max_priority: self.default_max_priority,
        })
    }

    /// The drain timeout.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }
}

/// Checks an `--attach-socket` path before anything is bound: short enough
/// for a socket address, and in a directory that exists.
fn validate_socket_path(path: &std::path::Path) -> Result<(), String> {
    let shown = path.display();
    if path.as_os_str().len() > MAX_SOCKET_PATH_BYTES {
        return Err(format!("--attach-socket {shown} is longer than {MAX_SOCKET_PATH_BYTES} bytes"));
    }
    if path.file_name().is_none() {
        return Err(format!("--attach-socket {shown} must name a file"));
    }
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        return Err(format!("--attach-socket {shown}: directory {} does not exist", parent.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(attach_socket: Option<&str>, executors: &[&str]) -> NodeMonitorConfig {
        let mut config = NodeMonitorConfig::local(SocketAddr::from(([127, 0, 0, 1], 0)), &["echo"], 1);
        config.attach_socket = attach_socket.map(str::to_owned);
        config.executors = executors.iter().map(|command| (*command).to_owned()).collect();
        config
    }

    #[test]
    fn socket_plan_defaults_to_private_only_with_supervised_executors() {
        assert_eq!(config(None, &[]).attach_socket_plan(), AttachSocketPlan::Off);
        assert_eq!(config(None, &[" "]).attach_socket_plan(), AttachSocketPlan::Off);
        assert_eq!(config(None, &["passer executor"]).attach_socket_plan(), AttachSocketPlan::Private);
        assert_eq!(config(Some(""), &["passer executor"]).attach_socket_plan(), AttachSocketPlan::Off);
        assert_eq!(config(Some("off"), &["passer executor"]).attach_socket_plan(), AttachSocketPlan::Off);
        assert_eq!(config(Some("/run/a.sock"), &[]).attach_socket_plan(), AttachSocketPlan::At("/run/a.sock".into()));
    }

    #[test]
    fn socket_path_must_fit_and_have_a_directory() {
        let missing = config(Some("/no/such/dir/attach.sock"), &[]).validate().unwrap_err();
        assert_eq!(missing, "--attach-socket /no/such/dir/attach.sock: directory /no/such/dir does not exist");
        let long = format!("/tmp/{}.sock", "x".repeat(120));
        assert!(config(Some(&long), &[]).validate().unwrap_err().contains("longer than 107 bytes"));
        assert!(config(Some("/tmp/attach.sock"), &[]).validate().is_ok());
        assert!(config(Some("relative.sock"), &[]).validate().is_ok());
    }
}
