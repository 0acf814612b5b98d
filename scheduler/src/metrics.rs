//! The scheduler's Prometheus metrics. Counters and gauges are read at
//! scrape time from [`crate::stats::Stats`], the node registry and the job
//! table, so the hot path pays nothing extra; the latency histograms are
//! fed with each terminal result by the core's shell
//! ([`SchedulerMetrics::observe_result`]), never by the policy.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use passer_proto::pb;
use passer_server::metrics::{encode_counter, encode_gauge, encode_gauge_family, latency_histogram};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::core::Scheduler;

/// Latency histograms and the sums the status page's charts read.
#[derive(Debug)]
pub struct SchedulerMetrics {
    /// Job acceptance to the launch of the attempt that produced the result.
    pub scheduling_delay: Histogram,
    /// Job acceptance to result, minus the time the executor ran the task:
    /// waiting in queues plus transport.
    pub queueing_time: Histogram,
    /// Time the executor ran the task.
    pub service_time: Histogram,
    /// Sum of acceptance-to-result times of terminal results, microseconds.
    pub total_micros_sum: AtomicU64,
    /// Terminal results observed.
    pub results_observed: AtomicU64,
}

impl Default for SchedulerMetrics {
    fn default() -> Self {
        Self {
            scheduling_delay: latency_histogram(),
            queueing_time: latency_histogram(),
            service_time: latency_histogram(),
            total_micros_sum: AtomicU64::new(0),
            results_observed: AtomicU64::new(0),
        }
    }
}

fn seconds(micros: u64) -> f64 {
    micros as f64 / 1e6
}

impl SchedulerMetrics {
    /// Records one terminal result's timings (tasks that never ran, such as
    /// cancelled ones, have no launch and are not observed).
    pub fn observe_result(&self, result: &pb::TaskFinished) {
        if result.node_id.is_empty() {
            return;
        }
        self.scheduling_delay.observe(seconds(result.queued_micros));
        self.service_time.observe(seconds(result.run_micros));
        self.queueing_time.observe(seconds(result.total_micros.saturating_sub(result.run_micros)));
        self.total_micros_sum.fetch_add(result.total_micros, Ordering::Relaxed);
        self.results_observed.fetch_add(1, Ordering::Relaxed);
    }
}

/// A registry with every scheduler metric, prefixed `passer_scheduler_`.
pub fn registry(scheduler: Arc<Scheduler>) -> Registry {
    let mut registry = Registry::default();
    passer_server::metrics::register_process_metrics(&mut registry, "scheduler");
    let metrics = &scheduler.metrics;
    registry.register_with_unit(
        "passer_scheduler_scheduling_delay",
        "Job acceptance to the launch of the attempt that produced each result",
        Unit::Seconds,
        metrics.scheduling_delay.clone(),
    );
    registry.register_with_unit(
        "passer_scheduler_queueing_time",
        "Job acceptance to result minus execution: time waiting in queues and in transit",
        Unit::Seconds,
        metrics.queueing_time.clone(),
    );
    registry.register_with_unit(
        "passer_scheduler_service_time",
        "Time executors spent running tasks",
        Unit::Seconds,
        metrics.service_time.clone(),
    );
    registry.register_collector(Box::new(SchedulerCollector(scheduler)));
    registry
}

struct SchedulerCollector(Arc<Scheduler>);

impl std::fmt::Debug for SchedulerCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SchedulerCollector")
    }
}

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Collector for SchedulerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let scheduler = &self.0;
        let s = scheduler.stats.snapshot();
        let e = &mut encoder;
        encode_counter(e, "passer_scheduler_jobs_accepted", "Jobs admitted", s.jobs_accepted)?;
        encode_counter(e, "passer_scheduler_jobs_rejected", "Jobs refused by admission control", s.jobs_rejected)?;
        encode_counter(
            e,
            "passer_scheduler_reservations_queued",
            "Reservations node monitors queued",
            s.reservations_sent,
        )?;
        encode_counter(
            e,
            "passer_scheduler_reservations_refused",
            "Reservations node monitors refused (queue full, draining, unreachable)",
            s.reservations_refused,
        )?;
        encode_counter(
            e,
            "passer_scheduler_reservations_cancelled",
            "Reservations removed by proactive cancellation",
            s.reservations_cancelled,
        )?;
        encode_counter(e, "passer_scheduler_get_task_hits", "GetTask slots answered with a task", s.get_task_hits)?;
        encode_counter(
            e,
            "passer_scheduler_tasks_offered",
            "Tasks offered to node monitors that looked idle",
            s.tasks_offered,
        )?;
        encode_counter(
            e,
            "passer_scheduler_offers_taken",
            "Offered tasks node monitors started at once",
            s.offers_taken,
        )?;
        encode_counter(
            e,
            "passer_scheduler_get_task_misses",
            "GetTask slots answered with no task",
            s.get_task_misses,
        )?;
        encode_counter(
            e,
            "passer_scheduler_tasks_launched",
            "Task attempts handed to node monitors",
            s.tasks_launched,
        )?;
        encode_counter(e, "passer_scheduler_tasks_finished", "Tasks that reached a terminal status", s.tasks_finished)?;
        encode_counter(e, "passer_scheduler_tasks_failed", "Tasks that ended FAILED", s.tasks_failed)?;
        encode_counter(e, "passer_scheduler_tasks_retried", "Attempts that were retried", s.tasks_retried)?;
        encode_gauge(
            e,
            "passer_scheduler_tasks_in_flight",
            "Tasks admitted and not finished",
            gauge(s.tasks_in_flight),
        )?;
        encode_gauge(e, "passer_scheduler_jobs_running", "Jobs admitted and not finished", gauge(s.jobs_running))?;
        encode_gauge(
            e,
            "passer_scheduler_admission_limit",
            "Tasks in flight beyond which new jobs are refused (adaptive, or --max-inflight-tasks)",
            gauge(s.admission_limit),
        )?;

        let mut per_tenant: BTreeMap<String, u64> = BTreeMap::new();
        for entry in scheduler.jobs.lock().values() {
            *per_tenant.entry(entry.state.tenant().to_owned()).or_default() += entry.state.unfinished_count() as u64;
        }
        let per_tenant: Vec<(Vec<(String, String)>, i64)> =
            per_tenant.into_iter().map(|(tenant, n)| (vec![("tenant".to_owned(), tenant)], gauge(n))).collect();
        encode_gauge_family(
            e,
            "passer_scheduler_tenant_tasks_in_flight",
            "Unfinished tasks per tenant (queued or running)",
            &per_tenant,
        )?;

        let nodes = scheduler.nodes.describe(&Default::default());
        let up = scheduler.nodes.up_count();
        let sum = |f: fn(&pb::NodeInfo) -> u32| nodes.iter().map(|n| i64::from(f(n))).sum::<i64>();
        encode_gauge(e, "passer_scheduler_nodes", "Node monitors known", nodes.len() as i64)?;
        encode_gauge(e, "passer_scheduler_nodes_up", "Node monitors answering polls", up as i64)?;
        encode_gauge(e, "passer_scheduler_cluster_slots", "Slots over all known nodes", sum(|n| n.slots_total))?;
        encode_gauge(
            e,
            "passer_scheduler_cluster_slots_busy",
            "Busy slots over all known nodes",
            sum(|n| n.slots_busy),
        )?;
        encode_gauge(
            e,
            "passer_scheduler_cluster_queue_length",
            "Reservations queued over all known nodes",
            sum(|n| n.queue_length),
        )?;
        Ok(())
    }
}
