//! The `NodeMonitor` gRPC service: a thin shell that validates requests and
//! hands them to the node's state.

use std::sync::Arc;

use passer_proto::pb;
use tonic::{Request, Response, Status};

use crate::monitor::Monitor;

/// Longest job id or executor name accepted.
const MAX_NAME: usize = 128;
/// Most tasks offered in one EnqueueReservations call (a node has at most
/// 4096 slots per executor instance; offers beyond its idle slots are declined).
const MAX_OFFERED: usize = 4096;

/// Serves `passer.v1.NodeMonitor`.
pub struct NodeMonitorService {
    monitor: Arc<Monitor>,
}

impl NodeMonitorService {
    /// A service over `monitor`.
    pub fn new(monitor: Arc<Monitor>) -> Self {
        Self { monitor }
    }
}

/// Checks a job id or executor name.
pub fn check_name(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_NAME {
        return Err(format!("{field} must be 1 to {MAX_NAME} bytes"));
    }
    Ok(())
}

/// Checks reservations (from the unary call or the `Session` stream) before
/// they reach the state; the error names the field at fault.
pub fn check_enqueue(request: &pb::EnqueueReservationsRequest) -> Result<(), String> {
    check_name("job_id", &request.job_id)?;
    check_name("executor", &request.executor)?;
    if request.scheduler_address.is_empty() {
        return Err("scheduler_address must be set".to_owned());
    }
    if request.count == 0 && request.offered.is_empty() {
        return Err("count must be at least 1 when no task is offered".to_owned());
    }
    if request.offered.len() > MAX_OFFERED {
        return Err(format!("offered must hold at most {MAX_OFFERED} tasks"));
    }
    if let Some(stray) = request.offered.iter().find(|launch| launch.job_id != request.job_id) {
        return Err(format!(
            "offered task {:?} belongs to job {:?}, not {:?}",
            stray.task_id, stray.job_id, request.job_id
        ));
    }
    Ok(())
}

/// Queues checked reservations and starts offered tasks that find an idle
/// slot; the answer echoes the request's `request_id`. Offered tasks note
/// when they arrived in their hop times.
pub fn enqueue(monitor: &Arc<Monitor>, mut request: pb::EnqueueReservationsRequest) -> pb::EnqueueReservationsResponse {
    if !request.offered.is_empty() {
        let received_us = passer_proto::unix_micros();
        for hops in request.offered.iter_mut().filter_map(|launch| launch.hops.as_mut()) {
            hops.node_received_us = received_us;
        }
    }
    let (count, offered, request_id) = (request.count, request.offered.len(), request.request_id);
    let mut response = monitor.with_state(|state, now| state.enqueue(request, now));
    response.request_id = request_id;
    let taken = (offered - response.declined_task_ids.len()) as u32;
    let metrics = &monitor.metrics;
    metrics.reservations_queued.inc_by(u64::from(response.accepted));
    metrics.offers_taken.inc_by(u64::from(taken));
    metrics.reservations_refused.inc_by(u64::from(count.saturating_sub(response.accepted)));
    tracing::debug!(accepted = response.accepted, queue = response.queue_length, "reservations");
    response
}

/// Drops a job's reservations (and with `stop_running` its running tasks).
pub fn cancel(monitor: &Arc<Monitor>, request: &pb::CancelReservationsRequest) -> pb::CancelReservationsResponse {
    let response = monitor.with_state(|state, now| state.cancel(request, now));
    monitor.metrics.reservations_cancelled.inc_by(u64::from(response.cancelled));
    response
}

#[tonic::async_trait]
impl pb::node_monitor_server::NodeMonitor for NodeMonitorService {
    #[tracing::instrument(skip_all, fields(job_id = %request.get_ref().job_id))]
    async fn enqueue_reservations(
        &self,
        request: Request<pb::EnqueueReservationsRequest>,
    ) -> Result<Response<pb::EnqueueReservationsResponse>, Status> {
        let request = request.into_inner();
        check_enqueue(&request).map_err(Status::invalid_argument)?;
        Ok(Response::new(enqueue(&self.monitor, request)))
    }

    async fn cancel_reservations(
        &self,
        request: Request<pb::CancelReservationsRequest>,
    ) -> Result<Response<pb::CancelReservationsResponse>, Status> {
        let request = request.into_inner();
        check_name("job_id", &request.job_id).map_err(Status::invalid_argument)?;
        Ok(Response::new(cancel(&self.monitor, &request)))
    }

    async fn get_load(&self, _request: Request<pb::GetLoadRequest>) -> Result<Response<pb::NodeLoad>, Status> {
        Ok(Response::new(self.monitor.read(|state| state.load())))
    }
}
