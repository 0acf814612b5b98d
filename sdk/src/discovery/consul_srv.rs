//! The Consul DNS source: SRV records of `<service>.service.<domain>.`
//! (one per healthy instance, each naming a node and a port), with each
//! node's address taken from the answer's additional section as Consul
//! sends it, or from a follow-up A/AAAA lookup when it is absent.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::TokioResolver;

use super::resolver::{build, fqdn, host_port, ip_of};
use super::{DiscoveryError, Resolved};

/// SRV lookups of one Consul service.
pub struct ConsulSrv {
    resolver: TokioResolver,
    name: String,
}

impl ConsulSrv {
    /// Looks up `<service>.service.<domain>.` at `dns_server`.
    pub fn new(dns_server: SocketAddr, domain: &str, service: &str) -> Result<Self, DiscoveryError> {
        let domain = domain.trim().trim_matches('.');
        let service = service.trim();
        if service.is_empty() || domain.is_empty() {
            return Err(DiscoveryError::Config("consul service and domain must not be empty".to_owned()));
        }
        let name = format!("{service}.service.{domain}.");
        Name::from_ascii(&name).map_err(|error| DiscoveryError::Config(format!("bad dns name {name:?}: {error}")))?;
        Ok(Self { resolver: build(Some(dns_server))?, name })
    }

    /// The SRV name looked up.
    pub fn describe(&self) -> String {
        format!("consul srv {}", self.name)
    }

    /// One SRV lookup, plus A/AAAA lookups for targets the answer left out.
    pub async fn resolve(&self) -> Result<Resolved, DiscoveryError> {
        self.resolver.clear_cache();
        let lookup =
            self.resolver.srv_lookup(self.name.as_str()).await.map_err(|error| lookup_error(&self.name, error))?;
        let mut ttl = u32::MAX;
        let mut glue: HashMap<Name, Vec<IpAddr>> = HashMap::new();
        for record in lookup.additionals() {
            if let Some(ip) = ip_of(record) {
                glue.entry(record.name.clone()).or_default().push(ip);
            }
        }
        let mut addresses = Vec::new();
        for record in lookup.answers() {
            let RData::SRV(srv) = &record.data else { continue };
            ttl = ttl.min(record.ttl);
            let ips = match glue.get(&srv.target) {
                Some(ips) => ips.clone(),
                None => {
                    let (ips, target_ttl) = self.lookup_target(&srv.target).await?;
                    ttl = ttl.min(target_ttl);
                    ips
                }
            };
            addresses.extend(ips.into_iter().map(|ip| host_port(ip, srv.port)));
        }
        if addresses.is_empty() {
            return Err(DiscoveryError::Empty(self.name.clone()));
        }
        Ok(Resolved::new(addresses, Some(Duration::from_secs(u64::from(ttl)))))
    }

    async fn lookup_target(&self, target: &Name) -> Result<(Vec<IpAddr>, u32), DiscoveryError> {
        let target_name = fqdn(&target.to_ascii());
        let lookup =
            self.resolver.lookup_ip(target_name.as_str()).await.map_err(|error| lookup_error(&target_name, error))?;
        let ttl = lookup.as_lookup().answers().iter().map(|record| record.ttl).min().unwrap_or(0);
        Ok((lookup.iter().collect(), ttl))
    }
}

/// A lookup failure; an authoritative "no such name" or "no records" is
/// reported as [`DiscoveryError::Empty`].
pub(crate) fn lookup_error(name: &str, error: hickory_resolver::net::NetError) -> DiscoveryError {
    if error.is_no_records_found() || error.is_nx_domain() {
        return DiscoveryError::Empty(name.to_owned());
    }
    DiscoveryError::Lookup { name: name.to_owned(), message: error.to_string() }
}
