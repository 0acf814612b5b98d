//! The built-in host with a handler that panics: the task fails at once
//! with the panic's message and its slot is free long before its deadline
//! (issue 16: a panicking built-in held its slot until the deadline).

use std::time::Duration;

use passer::handler::{Task, TaskError};
use passer::security::{BearerToken, PeerConnector};
use passer_proto::pb;

use super::*;
use crate::links::LinkConfig;
use crate::state::{NodeState, StateConfig};

async fn panics(task: Task) -> Result<Vec<u8>, TaskError> {
    panic!("handler exploded on {}", task.task_id);
}

fn busy_slots(monitor: &Monitor) -> u32 {
    monitor.read(|state| state.load().executors.iter().map(|e| e.slots_busy).sum())
}

#[tokio::test]
async fn a_panicking_builtin_frees_its_slot_at_once_issue_16() {
    let state = NodeState::new("n".into(), Vec::new(), StateConfig::with_capacity(10));
    // The scheduler is unreachable: reports are dropped with the link.
    let links = LinkConfig {
        node_id: "n".into(),
        connect_timeout: Duration::from_millis(100),
        peers: PeerConnector::new(None, BearerToken::default()),
        takes_reservations: true,
    };
    let monitor = Monitor::new(state, links);
    start_builtin(&monitor, "boom", Arc::new(panics), 1, 1024);
    let offer = pb::TaskLaunch {
        job_id: "j".into(),
        task_id: "t".into(),
        attempt: 1,
        executor: "boom".into(),
        payload: Default::default(),
        timeout_ms: 60_000,
        hops: None,
    };
    let request = pb::EnqueueReservationsRequest {
        job_id: "j".into(),
        scheduler_address: "127.0.0.1:1".into(),
        executor: "boom".into(),
        offered: vec![offer],
        ..Default::default()
    };
    let response = monitor.with_state(|state, now| state.enqueue(request, now));
    assert!(response.declined_task_ids.is_empty(), "the idle slot took the offer");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while busy_slots(&monitor) > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the panicked task still holds its slot after 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(monitor.metrics.tasks_failed.get(), 1, "reported failed once");
}
