//! Runs a node monitor: builds the state, attaches built-in executors,
//! starts supervised executor processes, serves gRPC (NodeMonitor,
//! Executors, health, reflection) until `shutdown`, then drains in order:
//! stop taking reservations, wait for running tasks (bounded), stop the
//! executors, stop serving, remove the attach socket.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use passer_proto::pb;
use passer_server::observability::spawn_http;
use passer_server::security::Security;
use passer_server::serve::{grpc_server, serve_grpc};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::attach_socket::{start_attach_socket, AttachSocket};
use crate::config::NodeMonitorConfig;
use crate::executors::attach::executors_server;
use crate::executors::builtin::start_builtin;
use crate::executors::command::{command_handler, COMMAND_EXECUTOR};
use crate::executors::supervisor::{supervise, ExitLog};
use crate::links::LinkConfig;
use crate::local_attach::serve_local_attach;
use crate::monitor::Monitor;
use crate::service::NodeMonitorService;
use crate::state::{NodeState, StateConfig};

impl passer_server::binary::ServerConfig for NodeMonitorConfig {
    fn validate(&self) -> Result<(), String> {
        NodeMonitorConfig::validate(self)
    }

    fn security(&self) -> &passer_server::security::SecurityArgs {
        &self.security
    }

    fn listen(&self) -> std::net::SocketAddr {
        self.listen
    }

    async fn serve(
        self,
        listener: TcpListener,
        security: Security,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        run_with_security(listener, self, security, shutdown).await
    }
}

/// How often deadlines are checked.
const SWEEP_INTERVAL: Duration = Duration::from_millis(20);

/// Serves a node monitor on `listener` until `shutdown` resolves, loading
/// its TLS and token files once first (it does not start without them).
pub async fn run(
    listener: TcpListener,
    config: NodeMonitorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let security = config.security.load().map_err(anyhow::Error::msg)?;
    run_with_security(listener, config, security, shutdown).await
}

/// Serves a node monitor with `security` as loaded once at start-up: the
/// listener's TLS, the token checks, the attach listeners, the channels to
/// schedulers and the executors it starts all use it.
pub async fn run_with_security(
    listener: TcpListener,
    config: NodeMonitorConfig,
    security: Security,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let bound = listener.local_addr().context("listener has no address")?;
    let advertise = passer_server::net::advertised_address(config.advertise.as_deref(), bound);
    let node_id = config.node_id.clone().unwrap_or_else(|| advertise.clone());
    let labels = config.labels.clone();
    let mut state = NodeState::new(
        node_id.clone(),
        labels,
        StateConfig {
            queue_capacity: config.queue_capacity,
            cancel_grace: Duration::from_secs(5),
            prefetch_per_slot: config.prefetch_per_slot,
            get_task_timeout: Duration::from_millis(config.get_task_timeout_ms),
            executor_silence: Duration::from_millis(config.executor_silence_ms),
            max_task_log_bytes: config.max_task_log_bytes,
        },
    );
    state.set_tenant_policy(config.tenant_policy().map_err(anyhow::Error::msg)?);
    let token = security.token.clone();
    let link_config = LinkConfig {
        node_id: node_id.clone(),
        connect_timeout: Duration::from_secs(2),
        peers: security.peers.clone(),
        takes_reservations: !config.unary_reservations_only,
    };
    let monitor = Monitor::new(state, link_config);

    for name in config.builtin.iter().filter(|n| !n.is_empty()) {
        let handler = passer::builtin::builtin_handler(name).context("validated builtin")?;
        start_builtin(&monitor, name, handler, config.slots, config.max_task_log_bytes);
    }
    if config.allow_command {
        tracing::warn!("--allow-command: this node runs commands sent by clients");
        let handler = command_handler(config.command_max_output_bytes);
        start_builtin(&monitor, COMMAND_EXECUTOR, handler, config.slots, config.max_task_log_bytes);
    }
    let exits = ExitLog::default();
    let (stop_executors, stop_signal) = watch::channel(false);
    let mut local_attach = None;
    let mut listeners = vec![("grpc", bound)];
    let tcp_attach_addr = if security.server_tls.is_some() {
        let (address, task) = serve_local_attach(
            config.attach_listen,
            Arc::clone(&monitor),
            exits.clone(),
            security.token_layer(),
            config.connections.limits(),
        )
        .await?;
        local_attach = Some(task);
        listeners.push(("attach", address));
        format!("http://{address}")
    } else {
        format!("http://127.0.0.1:{}", bound.port())
    };
    let attach_socket_opt =
        start_attach_socket(config.attach_socket_plan(), Arc::clone(&monitor), exits.clone(), security.token_layer())
            .await?;
    let attach_addr = attach_socket_opt.as_ref().map_or(tcp_attach_addr, AttachSocket::address);
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
    let consul_meta = [("node_id".to_owned(), node_id.clone())].into_iter().collect();
    let registration =
        config.consul.registration("passer-node-monitor", &advertise, consul_meta).map_err(anyhow::Error::msg)?;
    let registrar_opt = config.consul.start(registration).map_err(anyhow::Error::msg)?;

    let metrics_server = match config.metrics_listen {
        Some(address) => {
            let router =
                passer_server::metrics::metrics_router(Arc::new(crate::metrics::registry(Arc::clone(&monitor))));
            Some(spawn_http("--metrics-listen", "metrics at /metrics", address, router, token.as_deref()).await?)
        }
        None => None,
    };

    let (router, health) =
        grpc_server::<pb::node_monitor_server::NodeMonitorServer<NodeMonitorService>>(&security).await?;
    listeners.extend(metrics_server.as_ref().and_then(|server| Some(("metrics", server.address()?))));
    config.ready.announce(&listeners)?;
    tracing::info!(%bound, %advertise, %node_id, tls = security.server_tls.is_some(), token = token.is_some(), "node monitor serving");
    let drain_monitor = Arc::clone(&monitor);
    let drain_timeout = config.drain_timeout();
    let graceful = async move {
        shutdown.await;
        health.set_not_serving().await;
        if let Some(registrar) = registrar_opt {
            registrar.deregister().await;
        }
        drain(&drain_monitor, drain_timeout).await;
        let _ = stop_executors.send(true);
        drain_monitor.shutdown_executors();
    };
    let router = router
        .add_service(
            pb::node_monitor_server::NodeMonitorServer::new(NodeMonitorService::new(Arc::clone(&monitor)))
                .max_decoding_message_size(passer_proto::MAX_MESSAGE_BYTES_DEFAULT)
                .max_encoding_message_size(passer_proto::MAX_MESSAGE_BYTES_DEFAULT),
        )
        .add_service(executors_server(Arc::clone(&monitor), exits));
    let limits = config.connections.limits();
    serve_grpc(router, listener, limits, graceful).await.context("node monitor server failed")?;
    sweeper.abort();
    drop(metrics_server);
    if let Some(task) = local_attach {
        task.abort();
    }
    for supervisor in supervisors {
        let _ = tokio::time::timeout(Duration::from_secs(6), supervisor).await;
    }
    drop(attach_socket_opt);
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
