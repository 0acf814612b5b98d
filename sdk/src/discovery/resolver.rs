//! Builds the hickory resolver the DNS sources share: pointed at one name
//! server (Consul's DNS port, UDP then TCP) or at the system configuration.
//! Its cache is cleared before every lookup so each refresh asks the server.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, Record};
use hickory_resolver::TokioResolver;

use super::DiscoveryError;

/// How long one lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// A resolver asking `dns_server`, or the system's name servers when `None`.
pub(crate) fn build(dns_server_opt: Option<SocketAddr>) -> Result<TokioResolver, DiscoveryError> {
    let builder = match dns_server_opt {
        Some(dns_server) => {
            let mut name_server = NameServerConfig::udp_and_tcp(dns_server.ip());
            for connection in &mut name_server.connections {
                connection.port = dns_server.port();
            }
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![name_server]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio()
            .map_err(|error| DiscoveryError::Config(format!("cannot read the system dns configuration: {error}")))?,
    };
    let mut options = ResolverOpts::default();
    options.timeout = LOOKUP_TIMEOUT;
    options.attempts = 1;
    options.ndots = 0;
    builder
        .with_options(options)
        .build()
        .map_err(|error| DiscoveryError::Config(format!("cannot build the dns resolver: {error}")))
}

/// The IP address of an A or AAAA record.
pub(crate) fn ip_of(record: &Record) -> Option<IpAddr> {
    match record.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
        _ => None,
    }
}

/// `ip:port`, with brackets for IPv6.
pub(crate) fn host_port(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// A fully qualified name (with its trailing dot).
pub(crate) fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}
