//! A DNS server for tests, in Consul's shape: hickory's server crate
//! serving the `consul.` zone on a loopback port (UDP and TCP), where
//! `<service>.service.consul.` has one SRV record per instance naming
//! `<node>.node.dc1.consul.` and a port, and each node name has an A
//! record. The test changes the records at runtime, as Consul does when
//! instances come and go.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hickory_proto::rr::rdata::{A, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// One instance of a service: node name, IP and port.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The Consul node name (`<node>.node.dc1.consul.` in DNS).
    pub node: String,
    /// The node's address.
    pub ip: Ipv4Addr,
    /// The service's port on that node.
    pub port: u16,
}

impl Instance {
    /// An instance on loopback.
    pub fn loopback(node: &str, port: u16) -> Self {
        Self { node: node.to_owned(), ip: Ipv4Addr::LOCALHOST, port }
    }
}

/// A running test DNS server; stops when dropped.
pub struct ConsulDns {
    address: SocketAddr,
    zone: Arc<InMemoryZoneHandler>,
    ttl: u32,
    serial: AtomicU32,
    server_task: JoinHandle<()>,
}

impl ConsulDns {
    /// Serves an empty `consul.` zone on 127.0.0.1 (UDP and TCP on one
    /// port); records get `ttl` seconds.
    pub async fn start(ttl: u32) -> anyhow::Result<Self> {
        let origin = Name::from_ascii("consul.")?;
        let zone = Arc::new(InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny));
        let soa =
            SOA::new(Name::from_ascii("ns.consul.")?, Name::from_ascii("hostmaster.consul.")?, 1, 3600, 600, 86400, 0);
        zone.upsert(Record::from_rdata(origin.clone(), ttl, RData::SOA(soa)), 1).await;
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::from(&origin), vec![Arc::clone(&zone) as Arc<dyn ZoneHandler>]);
        let (udp, tcp) = bind_udp_and_tcp().await?;
        let address = udp.local_addr()?;
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        let server_task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        Ok(Self { address, zone, ttl, serial: AtomicU32::new(1), server_task })
    }

    /// The server's address (for `--consul-dns`).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Replaces the SRV records of `<service>.service.consul.` with one per
    /// instance, and adds A records for their nodes.
    pub async fn set_service(&self, service: &str, instances: &[Instance]) -> anyhow::Result<()> {
        let service_name = Name::from_ascii(format!("{service}.service.consul."))?;
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        self.zone.records_mut().await.remove(&RrKey::new(LowerName::from(&service_name), RecordType::SRV));
        for instance in instances {
            let target = Name::from_ascii(format!("{}.node.dc1.consul.", instance.node))?;
            let srv = SRV::new(1, 1, instance.port, target.clone());
            let inserted =
                self.zone.upsert(Record::from_rdata(service_name.clone(), self.ttl, RData::SRV(srv)), serial).await;
            anyhow::ensure!(inserted, "srv record for {} not inserted", instance.node);
            self.zone.records_mut().await.remove(&RrKey::new(LowerName::from(&target), RecordType::A));
            let a_record = Record::from_rdata(target, self.ttl, RData::A(A(instance.ip)));
            anyhow::ensure!(self.zone.upsert(a_record, serial).await, "a record for {} not inserted", instance.node);
        }
        Ok(())
    }

    /// Replaces the A records of `name` (for plain-DNS discovery).
    pub async fn set_a_records(&self, name: &str, ips: &[Ipv4Addr]) -> anyhow::Result<()> {
        let name = Name::from_ascii(name).context("bad name")?;
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        self.zone.records_mut().await.remove(&RrKey::new(LowerName::from(&name), RecordType::A));
        for ip in ips {
            let record = Record::from_rdata(name.clone(), self.ttl, RData::A(A(*ip)));
            anyhow::ensure!(self.zone.upsert(record, serial).await, "a record {ip} not inserted");
        }
        Ok(())
    }
}

impl Drop for ConsulDns {
    fn drop(&mut self) {
        self.server_task.abort();
    }
}

/// A UDP socket and a TCP listener on the same free loopback port.
async fn bind_udp_and_tcp() -> anyhow::Result<(UdpSocket, TcpListener)> {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await?;
        if let Ok(tcp) = TcpListener::bind(udp.local_addr()?).await {
            return Ok((udp, tcp));
        }
    }
    anyhow::bail!("no loopback port free for both udp and tcp")
}
