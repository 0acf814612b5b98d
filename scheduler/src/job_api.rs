//! The status page's job view over HTTP: `GET /api/jobs/{id}` lists a job's
//! tasks (from the running job, or from a finished job's kept results),
//! failures first and bounded (each with its `log_bytes`);
//! `GET /api/jobs/{id}/tasks/{task}/logs` gives one ended task's logs (the
//! listing leaves them out, so it stays small); `POST /api/jobs/{id}/cancel`
//! cancels a running job. An id this scheduler does not know gets `404` with a JSON
//! message. The token check wraps these routes like every other one; the
//! cancel also wants an `X-Requested-With` header, which a form or a plain
//! request from another site's page cannot send (a browser would replay
//! cached Basic credentials with those).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::core::Scheduler;
use crate::policy::job::{JobView, TaskPhase};

/// Most tasks one answer lists (the counts always cover every task).
pub const TASKS_SHOWN: usize = 500;

/// `GET /api/jobs/{id}` and `POST /api/jobs/{id}/cancel`.
pub fn job_router(scheduler: Arc<Scheduler>) -> Router {
    Router::new()
        .route("/api/jobs/{id}", get(show))
        .route("/api/jobs/{id}/tasks/{task}/logs", get(task_logs))
        .route("/api/jobs/{id}/cancel", post(cancel))
        .with_state(scheduler)
}

async fn task_logs(
    State(scheduler): State<Arc<Scheduler>>,
    Path((job_id, task_id)): Path<(String, String)>,
) -> Response {
    let now = scheduler.now();
    let found = {
        let jobs = scheduler.jobs.lock();
        match jobs.get(&job_id) {
            Some(entry) => Some(ended_logs(entry.state.results(), &task_id)),
            None => {
                let retained = scheduler.retained.lock();
                retained.get(&job_id, now).map(|kept| ended_logs(&kept.results, &task_id))
            }
        }
    };
    match found {
        None => error(StatusCode::NOT_FOUND, unknown(&job_id)),
        Some(None) => error(StatusCode::NOT_FOUND, format!("job {job_id:?} has no ended task {task_id:?}")),
        Some(Some(body)) => Json(body).into_response(),
    }
}

/// The logs of `task_id` among a job's terminal results, as JSON.
fn ended_logs(results: &[passer_proto::pb::TaskFinished], task_id: &str) -> Option<Value> {
    let result = results.iter().find(|result| result.task_id == task_id)?;
    Some(json!({ "task_id": result.task_id, "attempt": result.attempt, "logs": result.logs }))
}

async fn show(State(scheduler): State<Arc<Scheduler>>, Path(job_id): Path<String>) -> Response {
    match job_json(&scheduler, &job_id) {
        Some(body) => Json(body).into_response(),
        None => error(StatusCode::NOT_FOUND, unknown(&job_id)),
    }
}

async fn cancel(State(scheduler): State<Arc<Scheduler>>, Path(job_id): Path<String>, headers: HeaderMap) -> Response {
    if !headers.contains_key("x-requested-with") {
        let message = "a cancel must carry an X-Requested-With header (the status page sends one)";
        return error(StatusCode::FORBIDDEN, message.to_owned());
    }
    if scheduler.cancel(&job_id) {
        tracing::info!(job_id, "job cancelled from the status page");
        return Json(json!({ "job_id": job_id, "cancelled": true })).into_response();
    }
    if scheduler.retained.lock().get(&job_id, scheduler.now()).is_some() {
        return error(StatusCode::CONFLICT, format!("job {job_id:?} has already finished"));
    }
    error(StatusCode::NOT_FOUND, unknown(&job_id))
}

fn unknown(job_id: &str) -> String {
    format!("no job {job_id:?} on this scheduler (it may run on another one, or its results have expired)")
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The job's view as JSON: a running job's from its state, a finished
/// one's from its kept results; `None` when neither is here.
fn job_json(scheduler: &Scheduler, job_id: &str) -> Option<Value> {
    let now = scheduler.now();
    let jobs = scheduler.jobs.lock();
    if let Some(entry) = jobs.get(job_id) {
        let view = entry.state.view(TASKS_SHOWN, now);
        let mut body = render(job_id, "running", &view);
        body["tenant"] = json!(entry.state.tenant());
        body["elapsed_s"] = json!(now.saturating_sub(entry.accepted_at).as_secs_f64());
        return Some(body);
    }
    // Locked after `jobs`, so a job finishing meanwhile is found in one or the other.
    let retained = scheduler.retained.lock();
    let kept = retained.get(job_id, now)?;
    Some(render(job_id, "finished", &JobView::of_results(&kept.results, TASKS_SHOWN)))
}

fn render(job_id: &str, state: &str, view: &JobView) -> Value {
    let counts: serde_json::Map<String, Value> =
        TaskPhase::ALL.iter().map(|&phase| (phase.name().to_owned(), json!(view.count(phase)))).collect();
    let tasks: Vec<Value> = view
        .tasks
        .iter()
        .map(|task| {
            json!({
                "task_id": task.task_id, "state": task.phase.name(), "node": task.node,
                "attempt": task.attempt, "error": task.error, "duration_s": task.duration.as_secs_f64(),
                "log_bytes": task.log_bytes,
            })
        })
        .collect();
    json!({
        "job_id": job_id, "state": state, "tasks_total": view.total(), "counts": counts,
        "tasks_shown_max": TASKS_SHOWN, "tasks": tasks,
    })
}
