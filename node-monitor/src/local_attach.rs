//! The plaintext loopback listener local executors attach at when the main
//! listener speaks TLS: it serves only `Executors` (and health), and checks
//! the token like every other service.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use passer_server::security::TokenLayer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::Server;

use crate::executors::attach::executors_server;
use crate::executors::supervisor::ExitLog;
use crate::monitor::Monitor;

/// Binds `address` (loopback) and serves `Executors` there until the
/// returned task is aborted. Returns the bound address and the task.
pub async fn serve_local_attach(
    address: SocketAddr,
    monitor: Arc<Monitor>,
    exits: ExitLog,
    token_layer: TokenLayer,
    limits: passer_server::incoming::ConnectionLimits,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let listener =
        TcpListener::bind(address).await.with_context(|| format!("cannot bind --attach-listen {address}"))?;
    let bound = listener.local_addr().context("attach listener has no address")?;
    let (_, health_service) = tonic_health::server::health_reporter();
    let router = Server::builder()
        .tcp_nodelay(true)
        .layer(token_layer)
        .add_service(health_service)
        .add_service(executors_server(monitor, exits));
    let incoming = passer_server::incoming::incoming(listener, limits);
    let task = tokio::spawn(async move {
        if let Err(error) = router.serve_with_incoming(incoming).await {
            tracing::error!(%error, "local attach listener failed");
        }
    });
    tracing::info!(%bound, "executors attach here in plaintext (loopback only; the token is checked)");
    Ok((bound, task))
}
