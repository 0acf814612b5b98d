//! How the scheduler finds node monitors: the discovery flags (static list,
//! Consul DNS SRV, plain DNS) and the task that feeds every change of the
//! discovered set into the node registry, polling new nodes at once so they
//! are sampled within one refresh. Removed nodes leave the registry and get
//! no new reservations; tasks already running there finish normally.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use passer::discovery::{ConsulDnsArgs, Discovery};
use tokio::sync::watch;

use crate::core::Scheduler;

/// Node monitor discovery flags.
#[derive(Debug, Clone, Args)]
pub struct NodeDiscoveryArgs {
    /// Consul DNS and refresh flags.
    #[command(flatten)]
    pub dns: ConsulDnsArgs,
    /// Find node monitors as the A records of a DNS name, all on one port
    /// (name:port, e.g. Docker swarm's tasks.nm:20501); wins over SRV.
    #[arg(long, env = "PASSER_NODE_MONITORS_DNS")]
    pub node_monitors_dns: Option<String>,
    /// Consul service name of node monitors (SRV lookups of <name>.service.<domain>).
    #[arg(long, env = "PASSER_NODE_MONITOR_SERVICE", default_value = "passer-node-monitor")]
    pub node_monitor_service: String,
}

impl Default for NodeDiscoveryArgs {
    /// The static list only.
    fn default() -> Self {
        Self {
            dns: ConsulDnsArgs::default(),
            node_monitors_dns: None,
            node_monitor_service: "passer-node-monitor".to_owned(),
        }
    }
}

impl NodeDiscoveryArgs {
    /// Checks values that clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        self.dns.limits().map(|_| ()).map_err(|error| format!("--discovery-min/max-refresh-ms: {error}"))?;
        if self.node_monitor_service.trim().is_empty() {
            return Err("--node-monitor-service must not be empty".to_owned());
        }
        Ok(())
    }

    /// Starts discovering node monitors (`static_addresses` when no DNS
    /// source is configured), waiting at most `first_wait` for a first answer.
    pub async fn discover(&self, static_addresses: Vec<String>, first_wait: Duration) -> anyhow::Result<Discovery> {
        let discovery = self
            .dns
            .discover(static_addresses, self.node_monitors_dns.as_deref(), &self.node_monitor_service, first_wait)
            .await?;
        Ok(discovery)
    }
}

/// Applies every change of the discovered set to the registry, forever.
pub async fn feed_registry(
    scheduler: Arc<Scheduler>,
    mut addresses: watch::Receiver<Vec<String>>,
    poll_timeout: Duration,
) {
    while addresses.changed().await.is_ok() {
        let current = addresses.borrow_and_update().clone();
        let removed = scheduler.nodes.set_addresses(&current);
        if !removed.is_empty() {
            tracing::info!(?removed, "node monitors left discovery; no new reservations go to them");
        }
        for node_id in scheduler.nodes.poll(poll_timeout, 2).await {
            scheduler.node_lost(&node_id);
        }
    }
}
