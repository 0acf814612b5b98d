//! Runs a scheduler: polls its node monitors, serves gRPC (Scheduler,
//! TaskSource, health, reflection) until `shutdown`, with periodic upkeep of
//! leases and deadlines in the background.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use passer_proto::pb;
use passer_server::observability::{spawn_http, Background};
use passer_server::security::Security;
use passer_server::serve::{grpc_server, serve_grpc};
use tokio::net::TcpListener;

use crate::config::SchedulerConfig;
use crate::core::Scheduler;
use crate::service::{SchedulerService, TaskSourceService};

/// How often leases, deadlines and re-probe backoffs are checked.
pub const TICK: Duration = Duration::from_millis(100);
/// Longest wait for the first discovery answer before serving.
const FIRST_LOOKUP_WAIT: Duration = Duration::from_secs(3);

/// Serves a scheduler on `listener` until `shutdown` resolves, loading its
/// TLS and token files once first (it does not start without them).
pub async fn run(
    listener: TcpListener,
    config: SchedulerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let security = config.security.load().map_err(anyhow::Error::msg)?;
    run_with_security(listener, config, security, shutdown).await
}

/// Serves a scheduler with `security` as loaded once at start-up: the
/// listener's TLS, the token checks on gRPC and HTTP and the channels to
/// node monitors all use it; nothing reloads the files later.
pub async fn run_with_security(
    listener: TcpListener,
    config: SchedulerConfig,
    security: Security,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let max_message_bytes = config.max_message_bytes;
    let scan_limits = config.scan_limits();
    let bound = listener.local_addr().context("listener has no address")?;
    let advertise = passer_server::net::advertised_address(config.advertise.as_deref(), bound);
    let registration =
        config.consul.registration("passer-scheduler", &advertise, Default::default()).map_err(anyhow::Error::msg)?;
    let discovery = config.discovery.discover(config.node_monitors.clone(), FIRST_LOOKUP_WAIT).await?;
    let scheduler = Scheduler::new(config, advertise.clone(), security.peers.clone());
    scheduler.nodes.set_addresses(&discovery.current());
    let poll_interval = Duration::from_millis(scheduler.config.node_poll_ms);
    // One poll before serving, so the first job finds the nodes.
    scheduler.nodes.poll(Duration::from_secs(1), 1).await;
    let background = tokio::spawn(upkeep(Arc::clone(&scheduler), poll_interval));
    let poll_timeout = poll_interval.max(Duration::from_millis(500));
    let discovery_feed =
        tokio::spawn(crate::discovery::feed_registry(Arc::clone(&scheduler), discovery.subscribe(), poll_timeout));
    let registrar_opt = scheduler.config.consul.start(registration).map_err(anyhow::Error::msg)?;

    let http_servers = serve_observability(&scheduler, security.token.as_deref()).await?;

    let (router, health) = grpc_server::<pb::scheduler_server::SchedulerServer<SchedulerService>>(&security).await?;
    tracing::info!(source = %discovery.describe(), nodes = ?discovery.current(), "node monitor discovery");
    let mut listeners = vec![("grpc", bound)];
    listeners.extend(http_servers.listeners.iter().filter_map(|(name, server)| Some((*name, server.address()?))));
    scheduler.config.ready.announce(&listeners)?;
    tracing::info!(%bound, %advertise, nodes = scheduler.config.node_monitors.len(), tls = security.server_tls.is_some(), token = security.token.is_some(), "scheduler serving");
    let graceful = async move {
        shutdown.await;
        health.set_not_serving().await;
        if let Some(registrar) = registrar_opt {
            registrar.deregister().await;
        }
    };
    let router = router
        .add_service(crate::intake::guard::SubmitGuard::new(
            pb::scheduler_server::SchedulerServer::new(SchedulerService::new(Arc::clone(&scheduler)))
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
            scan_limits,
        ))
        .add_service(
            pb::task_source_server::TaskSourceServer::new(TaskSourceService::new(Arc::clone(&scheduler)))
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
        );
    let limits = scheduler.config.connections.limits();
    serve_grpc(router, listener, limits, graceful).await.context("scheduler server failed")?;
    background.abort();
    discovery_feed.abort();
    drop(discovery);

    drop(http_servers);
    tracing::info!("scheduler stopped");
    Ok(())
}

impl passer_server::binary::ServerConfig for SchedulerConfig {
    fn validate(&self) -> Result<(), String> {
        SchedulerConfig::validate(self)
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

/// The observability side of a running scheduler: the `--metrics-listen`
/// and `--http-listen` servers, each with the name the ready file gives its
/// listener, and the status page's history sampler. All stop when dropped.
struct Observability {
    listeners: Vec<(&'static str, Background)>,
    _sampler: Option<Background>,
}

/// Starts the `--metrics-listen` and `--http-listen` servers that are
/// configured, each behind `token` when there is one, and the status page's
/// history sampler with the status page.
async fn serve_observability(scheduler: &Arc<Scheduler>, token: Option<&str>) -> anyhow::Result<Observability> {
    let registry = Arc::new(crate::metrics::registry(Arc::clone(scheduler)));
    let mut listeners = Vec::new();
    let mut sampler = None;
    if let Some(address) = scheduler.config.metrics_listen {
        let router = passer_server::metrics::metrics_router(Arc::clone(&registry));
        listeners
            .push(("metrics", spawn_http("--metrics-listen", "metrics at /metrics", address, router, token).await?));
    }
    if let Some(address) = scheduler.config.http_listen {
        let history = Arc::new(crate::history::History::default());
        sampler = Some(Background::spawn(crate::http::sample_history(Arc::clone(scheduler), Arc::clone(&history))));
        let router = crate::http::status_router(Arc::clone(scheduler), history, registry);
        listeners.push(("http", spawn_http("--http-listen", "the status page", address, router, token).await?));
    }
    Ok(Observability { listeners, _sampler: sampler })
}

/// Polls node monitors and ticks jobs, forever.
async fn upkeep(scheduler: Arc<Scheduler>, poll_interval: Duration) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll = tokio::time::interval(poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => scheduler.tick(),
            _ = poll.tick() => {
                let timeout = poll_interval.max(Duration::from_millis(500));
                for node_id in scheduler.nodes.poll(timeout, 2).await {
                    scheduler.node_lost(&node_id);
                }
            }
        }
    }
}
