//! The node monitor's Prometheus metrics. Counters are bumped by the I/O
//! shell as it carries out the policy's effects ([`crate::monitor`]) and
//! answers RPCs ([`crate::service`]); gauges (queue, slots) are read from
//! the state's load at scrape time. The policy itself records nothing.

use std::sync::Arc;

use passer_proto::pb;
use passer_server::metrics::{encode_gauge, encode_gauge_family, latency_histogram};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::monitor::Monitor;

/// Counters and histograms of one node monitor.
#[derive(Debug)]
pub struct NodeMetrics {
    /// Reservations accepted into the queue.
    pub reservations_queued: Counter,
    /// Reservations refused (queue full or draining).
    pub reservations_refused: Counter,
    /// Reservations removed by cancellation.
    pub reservations_cancelled: Counter,
    /// Tasks asked of schedulers by GetTask (one per reservation redeemed).
    pub get_task_requested: Counter,
    /// Tasks schedulers granted (GetTask hits).
    pub get_task_granted: Counter,
    /// GetTask answers that carried no task (misses).
    pub get_task_empty: Counter,
    /// Tasks offered with reservations and started at once.
    pub offers_taken: Counter,
    /// Tasks started on executors.
    pub tasks_launched: Counter,
    /// Attempts reported back to schedulers.
    pub tasks_finished: Counter,
    /// Attempts reported FAILED.
    pub tasks_failed: Counter,
    /// Cancellations sent to executors (deadline or job cancelled).
    pub tasks_cancelled: Counter,
    /// Time executors ran each attempt.
    pub service_time: Histogram,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self {
            reservations_queued: Counter::default(),
            reservations_refused: Counter::default(),
            reservations_cancelled: Counter::default(),
            get_task_requested: Counter::default(),
            get_task_granted: Counter::default(),
            get_task_empty: Counter::default(),
            offers_taken: Counter::default(),
            tasks_launched: Counter::default(),
            tasks_finished: Counter::default(),
            tasks_failed: Counter::default(),
            tasks_cancelled: Counter::default(),
            service_time: latency_histogram(),
        }
    }
}

impl NodeMetrics {
    /// Records a finished attempt on its way to the scheduler.
    pub fn observe_outcome(&self, outcome: &pb::TaskOutcome) {
        self.tasks_finished.inc();
        if outcome.status == pb::TaskStatus::Failed as i32 {
            self.tasks_failed.inc();
        }
        if outcome.run_micros > 0 {
            self.service_time.observe(outcome.run_micros as f64 / 1e6);
        }
    }
}

/// A registry with every node monitor metric, named `passer_node_*`.
pub fn registry(monitor: Arc<Monitor>) -> Registry {
    let mut registry = Registry::default();
    passer_server::metrics::register_process_metrics(&mut registry, "node-monitor");
    let m = &monitor.metrics;
    let counters: [(&str, &str, &Counter); 11] = [
        ("passer_node_reservations_queued", "Reservations accepted into the queue", &m.reservations_queued),
        ("passer_node_reservations_refused", "Reservations refused (queue full or draining)", &m.reservations_refused),
        ("passer_node_reservations_cancelled", "Reservations removed by cancellation", &m.reservations_cancelled),
        ("passer_node_get_task_requested", "Tasks asked of schedulers by GetTask", &m.get_task_requested),
        ("passer_node_get_task_hits", "Tasks schedulers granted to GetTask", &m.get_task_granted),
        ("passer_node_get_task_misses", "GetTask answers that carried no task", &m.get_task_empty),
        ("passer_node_offers_taken", "Tasks offered with reservations and started at once", &m.offers_taken),
        ("passer_node_tasks_launched", "Tasks started on executors", &m.tasks_launched),
        ("passer_node_tasks_finished", "Attempts reported to schedulers", &m.tasks_finished),
        ("passer_node_tasks_failed", "Attempts reported FAILED", &m.tasks_failed),
        ("passer_node_tasks_cancelled", "Cancellations sent to executors", &m.tasks_cancelled),
    ];
    for (name, help, counter) in counters {
        registry.register(name, help, counter.clone());
    }
    registry.register_with_unit(
        "passer_node_service_time",
        "Time executors spent running each attempt",
        Unit::Seconds,
        m.service_time.clone(),
    );
    registry.register_collector(Box::new(LoadCollector(monitor)));
    registry
}

struct LoadCollector(Arc<Monitor>);

impl std::fmt::Debug for LoadCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoadCollector")
    }
}

impl Collector for LoadCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let (load, running, by_tenant) =
            self.0.read(|state| (state.load(), state.running_count(), state.queue_by_tenant()));
        let e = &mut encoder;
        encode_gauge(e, "passer_node_queue_length", "Reservations waiting", i64::from(load.queue_length))?;
        encode_gauge(e, "passer_node_queue_capacity", "The reservation queue's bound", i64::from(load.queue_capacity))?;
        encode_gauge(e, "passer_node_tasks_running", "Tasks running now", running as i64)?;
        let tenant_lengths: Vec<(Vec<(String, String)>, i64)> = by_tenant
            .into_iter()
            .map(|(tenant, queued)| {
                let name = if tenant.is_empty() { "default".to_owned() } else { tenant };
                (vec![("tenant".to_owned(), name)], i64::from(queued))
            })
            .collect();
        encode_gauge_family(
            e,
            "passer_node_queue_length_by_tenant",
            "Reservations waiting per tenant",
            &tenant_lengths,
        )?;
        encode_gauge(e, "passer_node_draining", "1 while draining for shutdown", i64::from(load.draining))?;
        let per_executor = |f: fn(&pb::ExecutorLoad) -> u32| -> Vec<(Vec<(String, String)>, i64)> {
            load.executors
                .iter()
                .map(|x| (vec![("executor".to_owned(), x.executor.clone())], i64::from(f(x))))
                .collect()
        };
        encode_gauge_family(e, "passer_node_slots", "Slots per executor type", &per_executor(|x| x.slots_total))?;
        encode_gauge_family(
            e,
            "passer_node_slots_busy",
            "Busy slots per executor type",
            &per_executor(|x| x.slots_busy),
        )?;
        encode_gauge_family(
            e,
            "passer_node_slots_free",
            "Free slots per executor type",
            &per_executor(|x| x.slots_total.saturating_sub(x.slots_busy)),
        )?;
        Ok(())
    }
}
