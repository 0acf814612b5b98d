//! `passer health`: a gRPC health check (for Docker and scripts); exits 0
//! when the server reports SERVING.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// Flags of `passer health`.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The server to check: a scheduler, or a node monitor's address
    /// (`--addr` is the old name, still accepted).
    #[arg(
        long = "scheduler",
        alias = "addr",
        alias = "server",
        env = "PASSER_HEALTH_ADDR",
        default_value = "127.0.0.1:20503"
    )]
    pub(crate) addr: String,
    /// The service to ask about ("" = the whole server).
    #[arg(long, default_value = "")]
    pub(crate) service: String,
    /// TLS.
    #[command(flatten)]
    pub(crate) tls: crate::tls_args::TlsArgs,
}

/// Runs `passer health`.
pub(crate) async fn run(args: HealthArgs) -> anyhow::Result<ExitCode> {
    let tls = args.tls.files().client_config().map_err(anyhow::Error::msg)?;
    let connector = passer::security::PeerConnector::new(tls, passer::security::BearerToken::default());
    let endpoint = connector
        .endpoint(&args.addr, Duration::from_secs(2))
        .map_err(anyhow::Error::msg)
        .context("bad --scheduler")?
        .timeout(Duration::from_secs(2));
    let channel = endpoint.connect().await.with_context(|| format!("cannot reach {}", args.addr))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest { service: args.service.clone() })
        .await
        .context("health check failed")?;
    let status = response.into_inner().status();
    println!("{}", status.as_str_name());
    Ok(if status == ServingStatus::Serving { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
