//! Counters of the accept side (process-wide: one set however many
//! listeners a process serves), their Prometheus series, and the
//! rate-limited warnings when a limit is hit.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::metrics::{encode_counter, encode_gauge};

/// Longest silence between two warnings about the same limit.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Connections served now.
pub(crate) static OPEN: AtomicI64 = AtomicI64::new(0);
/// Connections accepted since start.
pub(crate) static ACCEPTED: AtomicU64 = AtomicU64::new(0);
/// Times accepting was held off because the connection cap was reached.
pub(crate) static CAP_REACHED: AtomicU64 = AtomicU64::new(0);
/// Accepts that failed for want of file handles (`EMFILE`, `ENFILE`, ...).
pub(crate) static OUT_OF_HANDLES: AtomicU64 = AtomicU64::new(0);
/// Connections closed because their first bytes did not come in time.
pub(crate) static HANDSHAKE_TIMEOUTS: AtomicU64 = AtomicU64::new(0);

/// Logs a warning at most once per [`LOG_EVERY`], saying how many times
/// the event happened since the last one.
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    pub(crate) const fn new() -> Self {
        Self { last: Mutex::new(None), suppressed: AtomicU64::new(0) }
    }

    /// Calls `log(times)` if the last call was long enough ago, where
    /// `times` counts the events since then (this one included).
    pub(crate) fn hit(&self, log: impl FnOnce(u64)) {
        let times = self.suppressed.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last.lock();
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
            return;
        }
        *last = Some(now);
        self.suppressed.fetch_sub(times, Ordering::Relaxed);
        log(times);
    }
}

/// The accept-side series, read from the counters at scrape time.
#[derive(Debug)]
pub(crate) struct ConnectionCollector;

impl Collector for ConnectionCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        encode_gauge(
            &mut encoder,
            "passer_connections_open",
            "Client connections served now",
            OPEN.load(Ordering::Relaxed),
        )?;
        encode_counter(
            &mut encoder,
            "passer_connections_accepted",
            "Client connections accepted",
            ACCEPTED.load(Ordering::Relaxed),
        )?;
        encode_counter(
            &mut encoder,
            "passer_connections_cap_reached",
            "Times accepting waited because --max-connections were open",
            CAP_REACHED.load(Ordering::Relaxed),
        )?;
        encode_counter(
            &mut encoder,
            "passer_connections_out_of_handles",
            "Accepts that failed for want of file handles (EMFILE, ENFILE)",
            OUT_OF_HANDLES.load(Ordering::Relaxed),
        )?;
        encode_counter(
            &mut encoder,
            "passer_connections_handshake_timeouts",
            "Connections closed because their first bytes did not arrive within --handshake-timeout-ms",
            HANDSHAKE_TIMEOUTS.load(Ordering::Relaxed),
        )
    }
}
