//! The discovery flags every role shares: which DNS server answers Consul
//! queries, under which domain, and how often answers are refreshed.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use super::{choose_source, Discovery, DiscoveryError, RefreshLimits};

/// Consul DNS and refresh flags.
#[derive(Debug, Clone, Args)]
pub struct ConsulDnsArgs {
    /// Consul's DNS server (ip:port, e.g. 127.0.0.1:8600); enables SRV
    /// discovery, and is also the server asked for plain DNS names.
    #[arg(long, env = "PASSER_CONSUL_DNS")]
    pub consul_dns: Option<SocketAddr>,
    /// Consul's DNS domain.
    #[arg(long, env = "PASSER_CONSUL_DOMAIN", default_value = "consul")]
    pub consul_domain: String,
    /// Shortest time between discovery lookups in milliseconds, whatever the TTL.
    #[arg(long, env = "PASSER_DISCOVERY_MIN_REFRESH_MS", default_value_t = 1_000)]
    pub discovery_min_refresh_ms: u64,
    /// Longest time between discovery lookups in milliseconds, whatever the TTL.
    #[arg(long, env = "PASSER_DISCOVERY_MAX_REFRESH_MS", default_value_t = 30_000)]
    pub discovery_max_refresh_ms: u64,
}

impl Default for ConsulDnsArgs {
    /// No Consul DNS, domain `consul`, refresh between 1 s and 30 s.
    fn default() -> Self {
        Self {
            consul_dns: None,
            consul_domain: "consul".to_owned(),
            discovery_min_refresh_ms: 1_000,
            discovery_max_refresh_ms: 30_000,
        }
    }
}

impl ConsulDnsArgs {
    /// The refresh limits, checked.
    pub fn limits(&self) -> Result<RefreshLimits, DiscoveryError> {
        RefreshLimits::from_millis(self.discovery_min_refresh_ms, self.discovery_max_refresh_ms)
    }

    /// Starts discovering one role: plain DNS `dns_a_opt` (`name:port`) if
    /// given, else Consul SRV of `service` if `--consul-dns` is given, else
    /// `static_addresses`. Waits at most `first_wait` for the first answer.
    pub async fn discover(
        &self,
        static_addresses: Vec<String>,
        dns_a_opt: Option<&str>,
        service: &str,
        first_wait: Duration,
    ) -> Result<Discovery, DiscoveryError> {
        let limits = self.limits()?;
        let source = choose_source(static_addresses, dns_a_opt, self.consul_dns, &self.consul_domain, service)?;
        Ok(Discovery::start(source, limits, first_wait).await)
    }
}

/// How clients find schedulers besides a static `--schedulers` list.
#[derive(Debug, Clone, Args)]
pub struct SchedulerDiscoveryArgs {
    /// Consul DNS and refresh flags.
    #[command(flatten)]
    pub dns: ConsulDnsArgs,
    /// Find schedulers as the A records of a DNS name, all on one port
    /// (name:port, e.g. tasks.scheduler:20503); wins over SRV.
    #[arg(long, env = "PASSER_SCHEDULERS_DNS")]
    pub schedulers_dns: Option<String>,
    /// Consul service name of schedulers (SRV lookups of <name>.service.<domain>).
    #[arg(long, env = "PASSER_SCHEDULER_SERVICE", default_value = "passer-scheduler")]
    pub scheduler_service: String,
}

impl SchedulerDiscoveryArgs {
    /// The schedulers to use now: `static_addresses` unless a DNS source is
    /// configured, in which case one lookup (waiting at most `timeout`).
    pub async fn schedulers(
        &self,
        static_addresses: Vec<String>,
        timeout: Duration,
    ) -> Result<Vec<String>, DiscoveryError> {
        let source = choose_source(
            static_addresses,
            self.schedulers_dns.as_deref(),
            self.dns.consul_dns,
            &self.dns.consul_domain,
            &self.scheduler_service,
        )?;
        let description = source.describe();
        match tokio::time::timeout(timeout, source.resolve()).await {
            Ok(resolved) => Ok(resolved?.addresses),
            Err(_) => {
                Err(DiscoveryError::Lookup { name: description, message: format!("no answer within {timeout:?}") })
            }
        }
    }
}
