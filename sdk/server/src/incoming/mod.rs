//! The accept side of every passer gRPC listener (scheduler, node monitor,
//! `--attach-listen`): a stream of accepted TCP connections to hand to
//! tonic's `serve_with_incoming`, which
//!
//! - caps concurrent connections ([`ConnectionArgs::max_connections`], by
//!   default derived from the soft `RLIMIT_NOFILE`), holding off accepting
//!   at the cap instead of running out of file handles;
//! - closes a connection whose first bytes (the HTTP/2 preface, or a TLS
//!   ClientHello) do not arrive within a deadline ([`ConnectionArgs::handshake_timeout_ms`]);
//! - sleeps briefly on `EMFILE`/`ENFILE` instead of spinning;
//! - logs (at most once per [`stats::LOG_EVERY`]) and counts in metrics
//!   when the cap or the handle limit is hit.
//!
//! Layout: [`accept`] (the stream), [`handshake`] (the per-connection IO
//! wrapper with its deadline and slot), [`stats`] (counters, their
//! Prometheus series and the rate-limited log).

pub mod accept;
pub mod handshake;
pub mod stats;

use std::time::Duration;

use clap::Args;

pub use accept::incoming;
pub use handshake::GuardedConnection;

/// Connections a server keeps back from its file-handle limit for outgoing
/// connections, files and executors: a quarter of the limit, at least this.
const RESERVED_HANDLES_MIN: u64 = 64;
/// The cap is never below this, whatever the file-handle limit says.
const MIN_CONNECTIONS: usize = 16;

/// Flags bounding the connections a gRPC server holds.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectionArgs {
    /// Most client connections served at once; at the cap the server stops
    /// accepting until one closes. 0 (the default) derives it from the soft
    /// file-handle limit (`ulimit -n`): three quarters of it, keeping at
    /// least 64 handles for outgoing connections and files.
    #[arg(long, env = "PASSER_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,
    /// A connection whose first bytes (the HTTP/2 preface or a TLS hello)
    /// do not arrive within this many milliseconds is closed. 0 means the
    /// default, 5000.
    #[arg(long, env = "PASSER_HANDSHAKE_TIMEOUT_MS", default_value_t = 0)]
    pub handshake_timeout_ms: u64,
}

/// What the accept stream enforces, resolved from [`ConnectionArgs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections served at once.
    pub max_connections: usize,
    /// Longest wait for a connection's first bytes.
    pub handshake_timeout: Duration,
}

/// The default of `--handshake-timeout-ms`.
pub const HANDSHAKE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);

impl ConnectionArgs {
    /// The limits these flags ask for, deriving the cap from the process'
    /// file-handle limit when it is not given.
    pub fn limits(&self) -> ConnectionLimits {
        let max_connections = match self.max_connections {
            0 => derived_max_connections(soft_nofile_limit()),
            given => given,
        };
        let handshake_timeout = match self.handshake_timeout_ms {
            0 => HANDSHAKE_TIMEOUT_DEFAULT,
            millis => Duration::from_millis(millis),
        };
        ConnectionLimits { max_connections, handshake_timeout }
    }
}

/// The connection cap for a soft file-handle limit (`None`: unlimited or
/// unreadable, taken as 65,536).
pub fn derived_max_connections(soft_limit_opt: Option<u64>) -> usize {
    let limit = soft_limit_opt.unwrap_or(65_536);
    let reserve = (limit / 4).max(RESERVED_HANDLES_MIN);
    usize::try_from(limit.saturating_sub(reserve)).unwrap_or(usize::MAX).max(MIN_CONNECTIONS)
}

/// The process' soft `RLIMIT_NOFILE`, read from `/proc/self/limits`.
fn soft_nofile_limit() -> Option<u64> {
    let limits = procfs::process::Process::myself().ok()?.limits().ok()?;
    match limits.max_open_files.soft_limit {
        procfs::process::LimitValue::Value(value) => Some(value),
        procfs::process::LimitValue::Unlimited => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_reserve_below_the_handle_limit() {
        assert_eq!(derived_max_connections(Some(256)), 192);
        assert_eq!(derived_max_connections(Some(1024)), 768);
        assert_eq!(derived_max_connections(Some(100)), 36);
        assert_eq!(derived_max_connections(Some(20)), MIN_CONNECTIONS);
        assert_eq!(derived_max_connections(None), 49_152);
    }

    #[test]
    fn zero_flags_mean_the_defaults() {
        let limits = ConnectionArgs { max_connections: 7, handshake_timeout_ms: 0 }.limits();
        assert_eq!(limits, ConnectionLimits { max_connections: 7, handshake_timeout: HANDSHAKE_TIMEOUT_DEFAULT });
    }
}
