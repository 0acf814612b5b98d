//! The plain DNS source: A/AAAA records of one name, all with the same
//! port. Docker swarm answers `tasks.<service>` with one A record per
//! running task, so `tasks.nm:20501` finds every node monitor of service
//! `nm`.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::proto::rr::Name;
use hickory_resolver::TokioResolver;

use super::consul_srv::lookup_error;
use super::resolver::{build, fqdn, host_port};
use super::{DiscoveryError, Resolved};

/// A/AAAA lookups of one name with a fixed port.
pub struct DnsA {
    resolver: TokioResolver,
    name: String,
    port: u16,
}

impl DnsA {
    /// Parses `name:port` and asks `dns_server_opt` (the system's name
    /// servers when `None`).
    pub fn new(dns_server_opt: Option<SocketAddr>, name_and_port: &str) -> Result<Self, DiscoveryError> {
        let (name, port) = parse_name_and_port(name_and_port)?;
        Ok(Self { resolver: build(dns_server_opt)?, name: fqdn(&name), port })
    }

    /// The name and port looked up.
    pub fn describe(&self) -> String {
        format!("dns {}:{}", self.name, self.port)
    }

    /// One A/AAAA lookup.
    pub async fn resolve(&self) -> Result<Resolved, DiscoveryError> {
        self.resolver.clear_cache();
        let lookup =
            self.resolver.lookup_ip(self.name.as_str()).await.map_err(|error| lookup_error(&self.name, error))?;
        let ttl = lookup.as_lookup().answers().iter().map(|record| record.ttl).min().unwrap_or(0);
        let addresses: Vec<String> = lookup.iter().map(|ip| host_port(ip, self.port)).collect();
        if addresses.is_empty() {
            return Err(DiscoveryError::Empty(self.name.clone()));
        }
        Ok(Resolved::new(addresses, Some(Duration::from_secs(u64::from(ttl)))))
    }
}

/// Splits `name:port`, checking both halves.
fn parse_name_and_port(value: &str) -> Result<(String, u16), DiscoveryError> {
    let value = value.trim();
    let (name, port) = value
        .rsplit_once(':')
        .ok_or_else(|| DiscoveryError::Config(format!("{value:?} must be name:port, like tasks.nm:20501")))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| DiscoveryError::Config(format!("{value:?} has a bad port {port:?}")))?;
    Name::from_ascii(name).map_err(|error| DiscoveryError::Config(format!("{value:?} has a bad name: {error}")))?;
    if name.is_empty() {
        return Err(DiscoveryError::Config(format!("{value:?} has no name")));
    }
    Ok((name.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::parse_name_and_port;

    #[test]
    fn name_and_port_are_checked() {
        assert_eq!(parse_name_and_port("tasks.nm:20501").expect("valid"), ("tasks.nm".to_owned(), 20501));
        assert!(parse_name_and_port("tasks.nm").is_err());
        assert!(parse_name_and_port("tasks.nm:0").is_err());
        assert!(parse_name_and_port("tasks.nm:http").is_err());
        assert!(parse_name_and_port(":20501").is_err());
    }
}
