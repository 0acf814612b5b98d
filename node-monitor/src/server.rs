//! Runs a node monitor: builds the state, attaches built-in executors,
//! starts supervised executor processes, serves gRPC (NodeMonitor,
//! Executors, health, reflection) until `shutdown`, then drains in order:
//! stop taking reservations, wait for running tasks (bounded), stop the
//! executors, stop serving.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use passer_proto::pb;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use crate::config::NodeMonitorConfig;
use crate::executors::attach::AttachService;
use crate::executors::builtin::start_builtin;
use crate::executors::command::{command_handler, COMMAND_EXECUTOR};
use crate::executors::supervisor::{supervise, ExitLog};
use crate::links::LinkConfig;
use crate::monitor::Monitor;
use crate::service::NodeMonitorService;
use crate::state::{NodeState, StateConfig};

/// How often deadlines are checked.
const SWEEP_INTERVAL: Duration = Duration::from_millis(20);

/// Serves a node monitor on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: NodeMonitorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let bound = listener.local_addr().context("listener has no address")?;
    let advertise = passer::net::advertised_address(config.advertise.as_deref(), bound);
    let node_id = config.node_id.clone().unwrap_or_else(|| advertise.clone());
    let labels = config.labels.clone();
    let state = NodeState::new(
        node_id.clone(),
        labels,
        StateConfig { queue_capacity: config.queue_capacity, cancel_grace: Duration::from_secs(5) },
    );
    let token = std::env::var("PASSER_TOKEN").ok().filter(|t| !t.is_empty());
    let link_config =
        LinkConfig { node_id: node_id.clone(), connect_timeout: Duration::from_secs(2), token: token.clone() };
    let monitor = Monitor::new(state, link_config);

    for name in config.builtin.iter().filter(|n| !n.is_empty()) {
        let handler = passer::builtin::builtin_handler(name).context("validated builtin")?;
        start_builtin(&monitor, name, handler, config.slots);
    }
    if config.allow_command {
        tracing::warn!("--allow-command: this node runs commands sent by clients");
        let handler = command_handler(config.command_max_output_bytes);
        start_builtin(&monitor, COMMAND_EXECUTOR, handler, config.slots);
    }
    let exits = ExitLog::default();
    let (stop_executors, stop_signal) = watch::channel(false);
    let attach_addr = format!("http://127.0.0.1:{}", bound.port());
    let mut extra_env = vec![("PASSER_NODE_ID".to_owned(), node_id.clone())];
    if let Some(token) = &token {
        extra_env.push(("PASSER_TOKEN".to_owned(), token.clone()));
    }
    let supervisors: Vec<_> = config
        .executors
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|command| {
            tokio::spawn(supervise(
                command.clone(),
                attach_addr.clone(),
                extra_env.clone(),
                exits.clone(),
                stop_signal.clone(),
            ))
        })
        .collect();
    let sweeper = tokio::spawn(sweep_deadlines(Arc::clone(&monitor)));

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter.set_serving::<pb::node_monitor_server::NodeMonitorServer<NodeMonitorService>>().await;
    health_reporter.set_service_status("", tonic_health::ServingStatus::Serving).await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(passer_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("cannot build the reflection service")?;

    tracing::info!(%bound, %advertise, %node_id, "node monitor serving");
    let drain_monitor = Arc::clone(&monitor);
    let drain_timeout = config.drain_timeout();
    let graceful = async move {
        shutdown.await;
        health_reporter.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        health_reporter.set_not_serving::<pb::node_monitor_server::NodeMonitorServer<NodeMonitorService>>().await;
        drain(&drain_monitor, drain_timeout).await;
        let _ = stop_executors.send(true);
        drain_monitor.shutdown_executors();
    };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(pb::node_monitor_server::NodeMonitorServer::new(NodeMonitorService::new(Arc::clone(&monitor))))
        .add_service(
            pb::executors_server::ExecutorsServer::new(AttachService::new(Arc::clone(&monitor), exits))
                .max_decoding_message_size(64 * 1024 * 1024)
                .max_encoding_message_size(64 * 1024 * 1024),
        )
        .serve_with_incoming_shutdown(incoming, graceful)
        .await
        .context("node monitor server failed")?;
    sweeper.abort();
    for supervisor in supervisors {
        let _ = tokio::time::timeout(Duration::from_secs(6), supervisor).await;
    }
    tracing::info!("node monitor stopped");
    Ok(())
}

async fn sweep_deadlines(monitor: Arc<Monitor>) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        monitor.with_state(|state, now| ((), state.sweep(now)));
    }
}

/// Stops taking reservations and waits for running tasks, up to `timeout`.
async fn drain(monitor: &Arc<Monitor>, timeout: Duration) {
    monitor.with_state(|state, _| {
        state.start_draining();
        ((), Vec::new())
    });
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let running = monitor.read(|state| state.running_count());
        if running == 0 {
            tracing::info!("drained");
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(running, "drain timeout; stopping with tasks still running");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
