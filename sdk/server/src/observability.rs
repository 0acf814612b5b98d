//! The servers' HTTP side: `--metrics-listen` and `--http-listen` each bind
//! a listener and serve an axum router (the `/metrics` exposition, the
//! status page) behind the shared token, in a [`Background`] task that
//! lives as long as its handle.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::security::http_auth::require_token;

/// A task that runs as long as this handle lives: dropping it aborts the
/// task (an HTTP listener, or work that feeds one).
#[derive(Debug)]
pub struct Background {
    task: JoinHandle<()>,
    address: Option<SocketAddr>,
}

impl Background {
    /// Spawns `future` on the current runtime.
    pub fn spawn(future: impl Future<Output = ()> + Send + 'static) -> Self {
        Self { task: tokio::spawn(future), address: None }
    }

    /// The address its listener is bound to (for an HTTP listener).
    pub fn address(&self) -> Option<SocketAddr> {
        self.address
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `address` (the value of the flag `flag`, named in errors and
/// logs as `what`) and serves `router` there behind `token` (open when
/// `None`) until the returned handle is dropped. Serving errors are logged.
pub async fn spawn_http(
    flag: &str,
    what: &'static str,
    address: SocketAddr,
    router: Router,
    token: Option<&str>,
) -> anyhow::Result<Background> {
    let listener = TcpListener::bind(address).await.with_context(|| format!("cannot bind {flag} {address}"))?;
    let bound = listener.local_addr().with_context(|| format!("{flag} {address} has no address"))?;
    tracing::info!(address = %bound, "serving {what}");
    let router = require_token(router, token);
    let mut background = Background::spawn(async move {
        if let Err(error) = serve_http(listener, router, std::future::pending()).await {
            tracing::error!(%error, "HTTP server for {what} failed");
        }
    });
    background.address = Some(bound);
    Ok(background)
}

/// Serves `router` over HTTP on `listener` until `shutdown` resolves.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}
