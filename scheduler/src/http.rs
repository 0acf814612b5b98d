//! The scheduler's HTTP side: Prometheus `/metrics` and the web status page
//! (`/`, its scripts and style, all built into the binary) fed by the JSON
//! of `/api/status` and, for the job view, of `/api/jobs/{id}`
//! ([`crate::job_api`]). A sampler fills the [`History`] the charts draw.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use passer_proto::pb;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};

use crate::core::Scheduler;
use crate::history::{History, Sample};
use crate::recent::JobRecord;

const INDEX_HTML: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const API_JS: &str = include_str!("web/api.js");
const JOB_JS: &str = include_str!("web/job.js");
const STYLE_CSS: &str = include_str!("web/style.css");

/// How often the history is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// Most running jobs listed on the page.
const RUNNING_JOBS_SHOWN: usize = 50;

/// The status page, its JSON and `/metrics`.
pub fn status_router(scheduler: Arc<Scheduler>, history: Arc<History>, registry: Arc<Registry>) -> Router {
    let jobs = crate::job_api::job_router(Arc::clone(&scheduler));
    let asset = |content_type: &'static str, body: &'static str| {
        get(move || async move { ([(header::CONTENT_TYPE, content_type)], body).into_response() })
    };
    Router::new()
        .route("/", asset("text/html; charset=utf-8", INDEX_HTML))
        .route("/app.js", asset("text/javascript; charset=utf-8", APP_JS))
        .route("/api.js", asset("text/javascript; charset=utf-8", API_JS))
        .route("/job.js", asset("text/javascript; charset=utf-8", JOB_JS))
        .route("/style.css", asset("text/css; charset=utf-8", STYLE_CSS))
        .route(
            "/api/status",
            get(move || {
                let body = status(&scheduler, &history);
                async move { Json(body) }
            }),
        )
        .merge(jobs)
        .merge(passer_server::metrics::metrics_router(registry))
}

/// Samples the scheduler into `history` forever.
pub async fn sample_history(scheduler: Arc<Scheduler>, history: Arc<History>) {
    let mut interval = tokio::time::interval(SAMPLE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        history.record(sample(&scheduler));
    }
}

fn sample(scheduler: &Scheduler) -> Sample {
    let nodes = scheduler.nodes.describe(&Default::default());
    let sum = |f: fn(&pb::NodeInfo) -> u64| nodes.iter().map(f).sum::<u64>();
    Sample {
        t: scheduler.now().as_secs_f64(),
        finished: scheduler.stats.tasks_finished.load(Ordering::Relaxed),
        launched: scheduler.stats.tasks_launched.load(Ordering::Relaxed),
        latency_sum_micros: scheduler.metrics.total_micros_sum.load(Ordering::Relaxed),
        latency_count: scheduler.metrics.results_observed.load(Ordering::Relaxed),
        slots_busy: sum(|n| u64::from(n.slots_busy)),
        slots_total: sum(|n| u64::from(n.slots_total)),
        queue_length: sum(|n| u64::from(n.queue_length)),
    }
}

fn status(scheduler: &Scheduler, history: &History) -> Value {
    let stats = scheduler.stats.snapshot();
    let connected = scheduler.sessions.lock().iter().map(|(id, s)| (id.clone(), s.generation)).collect();
    let nodes: Vec<Value> = scheduler
        .nodes
        .describe(&connected)
        .into_iter()
        .map(|n| {
            json!({
                "node_id": n.node_id, "address": n.address, "labels": n.labels, "executors": n.executors,
                "up": n.up, "connected": n.connected, "slots_busy": n.slots_busy, "slots_total": n.slots_total,
                "queue_length": n.queue_length, "tasks_finished": n.tasks_finished,
            })
        })
        .collect();
    let now = scheduler.now();
    let running: Vec<JobRecord> = {
        let jobs = scheduler.jobs.lock();
        let mut running: Vec<JobRecord> = jobs
            .values()
            .map(|entry| {
                let tasks = entry.state.task_count();
                let failed = entry.state.results().iter().filter(|r| r.status == pb::TaskStatus::Failed as i32).count();
                JobRecord::new(
                    entry.state.job_id(),
                    entry.state.tenant(),
                    tasks,
                    tasks - entry.state.unfinished_count(),
                    failed as u32,
                    entry.accepted_at,
                    now,
                )
                .with_progress(entry.last_progress.as_ref())
            })
            .collect();
        running.sort_by(|a, b| b.accepted_at.total_cmp(&a.accepted_at));
        running.truncate(RUNNING_JOBS_SHOWN);
        running
    };
    json!({
        "scheduler": {
            "address": scheduler.address,
            "uptime_s": now.as_secs_f64(),
            "jobs_accepted": stats.jobs_accepted, "jobs_rejected": stats.jobs_rejected,
            "jobs_running": stats.jobs_running, "tasks_in_flight": stats.tasks_in_flight,
            "admission_limit": stats.admission_limit,
            "tasks_launched": stats.tasks_launched, "tasks_finished": stats.tasks_finished,
            "tasks_failed": stats.tasks_failed, "tasks_retried": stats.tasks_retried,
            "get_task_hits": stats.get_task_hits, "get_task_misses": stats.get_task_misses,
            "reservations_queued": stats.reservations_sent, "reservations_refused": stats.reservations_refused,
            "reservations_cancelled": stats.reservations_cancelled,
        },
        "nodes": nodes,
        "jobs": { "running": running, "recent": scheduler.recent.newest_first() },
        "history": history.points(),
        "sample_interval_s": SAMPLE_INTERVAL.as_secs_f64(),
    })
}
