//! The gRPC serve skeleton every passer server shares. [`grpc_server`] is
//! the preamble: a tonic server with TLS when configured, the token layer on
//! every call, the health service (reporting the server's main service and
//! `""` as serving) and reflection (v1 and v1alpha). The server adds its own
//! services to the returned router and calls [`serve_grpc`], which accepts
//! connections on the listener (`TCP_NODELAY`) until shutdown.

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::transport::server::Router;
use tonic::transport::Server;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;
use tower::layer::util::{Identity, Stack};

use crate::security::{Security, TokenLayer};

/// A server's router: the token layer around every service.
pub type GrpcRouter = Router<Stack<TokenLayer, Identity>>;

/// The health status a server reports, to flip to not serving on shutdown.
#[derive(Debug, Clone)]
pub struct Health {
    reporter: HealthReporter,
    service: &'static str,
}

impl Health {
    /// Reports the server's main service and `""` (the whole server) as
    /// not serving, so probes and load balancers stop sending it work.
    pub async fn set_not_serving(&self) {
        self.reporter.set_service_status("", ServingStatus::NotServing).await;
        self.reporter.set_service_status(self.service, ServingStatus::NotServing).await;
    }
}

/// The preamble of every passer server: TLS and the token from `security`,
/// health with `S` (the server's main service) and `""` serving, reflection
/// v1 and v1alpha. Add the server's own services to the router, then serve
/// it with [`serve_grpc`].
pub async fn grpc_server<S: NamedService>(security: &Security) -> anyhow::Result<(GrpcRouter, Health)> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    reporter.set_service_status(S::NAME, ServingStatus::Serving).await;
    reporter.set_service_status("", ServingStatus::Serving).await;
    let reflection_v1 = reflection().build_v1().context("cannot build the reflection service")?;
    // grpcio's reflection client and older grpcurl speak only v1alpha.
    let reflection_v1alpha = reflection().build_v1alpha().context("cannot build the v1alpha reflection service")?;
    let mut builder = Server::builder().tcp_nodelay(true);
    if let Some(tls) = security.server_tls.clone() {
        builder = builder.tls_config(tls).context("bad TLS configuration")?;
    }
    let router = builder
        .layer(security.token_layer())
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    Ok((router, Health { reporter, service: S::NAME }))
}

/// Reflection over passer's services and health.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(passer_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the
/// calls in flight finish. Connections are accepted under `limits` (a cap,
/// a handshake deadline; see [`crate::incoming`]).
pub async fn serve_grpc(
    router: GrpcRouter,
    listener: TcpListener,
    limits: crate::incoming::ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    router.serve_with_incoming_shutdown(crate::incoming::incoming(listener, limits), shutdown).await
}
