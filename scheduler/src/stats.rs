//! The scheduler's counters, cheap to bump from any task.

use std::sync::atomic::{AtomicU64, Ordering};

use passer_proto::pb;

/// Counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    /// Jobs admitted.
    pub jobs_accepted: AtomicU64,
    /// Jobs refused by admission control.
    pub jobs_rejected: AtomicU64,
    /// Reservations node monitors accepted.
    pub reservations_sent: AtomicU64,
    /// Reservations node monitors refused.
    pub reservations_refused: AtomicU64,
    /// Reservations removed by proactive cancellation.
    pub reservations_cancelled: AtomicU64,
    /// Reservations redeemed with a task.
    pub get_task_hits: AtomicU64,
    /// Reservations redeemed with no task.
    pub get_task_misses: AtomicU64,
    /// Attempts launched.
    pub tasks_launched: AtomicU64,
    /// Tasks ended.
    pub tasks_finished: AtomicU64,
    /// Tasks ended FAILED.
    pub tasks_failed: AtomicU64,
    /// Attempts retried.
    pub tasks_retried: AtomicU64,
    /// Tasks admitted and not finished.
    pub tasks_in_flight: AtomicU64,
    /// Jobs admitted and not finished.
    pub jobs_running: AtomicU64,
    /// Tasks offered with reservations to nodes that looked idle.
    pub tasks_offered: AtomicU64,
    /// Offered tasks the nodes started at once.
    pub offers_taken: AtomicU64,
    /// Reservation calls sent down a node's session stream.
    pub placements_streamed: AtomicU64,
    /// Reservation calls made as unary calls.
    pub placements_unary: AtomicU64,
    /// The admission limit on tasks in flight in force (the adaptive one,
    /// or `--max-inflight-tasks` with `--admission fixed`).
    pub admission_limit: AtomicU64,
}

/// Adds `n` to a counter.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Subtracts `n` from a gauge.
pub fn sub(counter: &AtomicU64, n: u64) {
    counter.fetch_sub(n, Ordering::Relaxed);
}

impl Stats {
    /// The counters as the wire message (without the node list).
    pub fn snapshot(&self) -> pb::SchedulerStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        pb::SchedulerStats {
            jobs_accepted: get(&self.jobs_accepted),
            jobs_rejected: get(&self.jobs_rejected),
            reservations_sent: get(&self.reservations_sent),
            reservations_cancelled: get(&self.reservations_cancelled),
            get_task_hits: get(&self.get_task_hits),
            get_task_misses: get(&self.get_task_misses),
            tasks_launched: get(&self.tasks_launched),
            tasks_finished: get(&self.tasks_finished),
            tasks_failed: get(&self.tasks_failed),
            tasks_retried: get(&self.tasks_retried),
            tasks_in_flight: get(&self.tasks_in_flight),
            jobs_running: get(&self.jobs_running),
            reservations_refused: get(&self.reservations_refused),
            nodes: Vec::new(),
            tasks_offered: get(&self.tasks_offered),
            offers_taken: get(&self.offers_taken),
            placements_streamed: get(&self.placements_streamed),
            placements_unary: get(&self.placements_unary),
            admission_limit: get(&self.admission_limit),
        }
    }
}
