//! Discovery: where the servers of a role (node monitors, schedulers) are.
//!
//! One interface, [`Source`], over three kinds of source, one file each:
//! a static list ([`static_list`]), Consul DNS SRV records ([`consul_srv`])
//! and plain DNS A/AAAA records with a fixed port ([`dns_a`], Docker
//! swarm's `tasks.<service>`). [`refresh`] keeps a current address set
//! fresh in the background and publishes it on a `watch` channel, so no
//! lookup ever happens on the scheduling path. With the `cli` feature,
//! `ConsulDnsArgs` and `SchedulerDiscoveryArgs` are the clap flags that
//! configure it (the servers and the `passer` command line use them).

#[cfg(feature = "cli")]
mod args;
pub mod consul_srv;
pub mod dns_a;
pub mod refresh;
mod resolver;
pub mod static_list;

use std::net::SocketAddr;
use std::time::Duration;

#[cfg(feature = "cli")]
pub use args::{ConsulDnsArgs, SchedulerDiscoveryArgs};
pub use refresh::{Discovery, RefreshLimits};

/// Why a lookup gave no addresses.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The source's configuration is unusable (bad name, bad server).
    #[error("discovery configuration: {0}")]
    Config(String),
    /// The DNS lookup failed (server unreachable, timeout, bad answer).
    #[error("dns lookup of {name} failed: {message}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The lookup succeeded but named no server.
    #[error("dns lookup of {0} found no servers")]
    Empty(String),
}

/// The answer of one lookup: sorted, deduplicated `host:port` addresses
/// and how long they may be trusted (the smallest TTL seen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Sorted, deduplicated `host:port` addresses.
    pub addresses: Vec<String>,
    /// The smallest TTL among the records used; `None` for static lists.
    pub ttl: Option<Duration>,
}

impl Resolved {
    /// Sorts and deduplicates `addresses`.
    pub fn new(mut addresses: Vec<String>, ttl: Option<Duration>) -> Self {
        addresses.sort();
        addresses.dedup();
        Self { addresses, ttl }
    }
}

/// Where to find the servers of one role.
pub enum Source {
    /// A fixed list of `host:port`.
    Static(static_list::StaticList),
    /// SRV records of `<service>.service.<domain>` from Consul DNS.
    ConsulSrv(consul_srv::ConsulSrv),
    /// A/AAAA records of a name, each with the same port.
    DnsA(dns_a::DnsA),
}

impl Source {
    /// A static list of `host:port` addresses.
    pub fn static_list(addresses: Vec<String>) -> Self {
        Self::Static(static_list::StaticList::new(addresses))
    }

    /// SRV lookups of `<service>.service.<domain>.` against `dns_server`.
    pub fn consul_srv(dns_server: SocketAddr, domain: &str, service: &str) -> Result<Self, DiscoveryError> {
        Ok(Self::ConsulSrv(consul_srv::ConsulSrv::new(dns_server, domain, service)?))
    }

    /// A/AAAA lookups of `name_and_port` (`tasks.nm:20501`), against
    /// `dns_server` or, when `None`, the system's resolver configuration.
    pub fn dns_a(dns_server_opt: Option<SocketAddr>, name_and_port: &str) -> Result<Self, DiscoveryError> {
        Ok(Self::DnsA(dns_a::DnsA::new(dns_server_opt, name_and_port)?))
    }

    /// Looks the addresses up once.
    pub async fn resolve(&self) -> Result<Resolved, DiscoveryError> {
        match self {
            Self::Static(source) => Ok(source.resolve()),
            Self::ConsulSrv(source) => source.resolve().await,
            Self::DnsA(source) => source.resolve().await,
        }
    }

    /// A short description for logs: the name looked up or the list.
    pub fn describe(&self) -> String {
        match self {
            Self::Static(source) => source.describe(),
            Self::ConsulSrv(source) => source.describe(),
            Self::DnsA(source) => source.describe(),
        }
    }

    /// True for a static list, which never needs refreshing.
    pub fn is_static(&self) -> bool {
        matches!(self, Self::Static(_))
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.describe())
    }
}

/// Picks the source for one role from the usual flags: an explicit
/// `name:port` for plain DNS wins, then Consul SRV when a Consul DNS
/// server is given, else the static list.
pub fn choose_source(
    static_addresses: Vec<String>,
    dns_a_opt: Option<&str>,
    consul_dns_opt: Option<SocketAddr>,
    consul_domain: &str,
    consul_service: &str,
) -> Result<Source, DiscoveryError> {
    if let Some(name_and_port) = dns_a_opt.filter(|value| !value.trim().is_empty()) {
        return Source::dns_a(consul_dns_opt, name_and_port);
    }
    if let Some(dns_server) = consul_dns_opt {
        return Source::consul_srv(dns_server, consul_domain, consul_service);
    }
    Ok(Source::static_list(static_addresses))
}
