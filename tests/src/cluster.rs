//! A cluster of real processes on loopback: M schedulers and N node
//! monitors, with helpers to wait for readiness and to build SDK clients.

use std::time::Duration;

use anyhow::{bail, Context};
use passer::security::{BearerToken, PeerConnector, TlsFiles};
use passer::{Client, ClientConfig};
use passer_proto::pb;

use crate::process::{Process, Ready};

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    schedulers: usize,
    node_monitors: usize,
    node_args: Vec<String>,
    node_extra_args: Vec<Vec<String>>,
    scheduler_args: Vec<String>,
    env: Vec<(String, String)>,
    observability: bool,
    client_tls: TlsFiles,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self {
            schedulers: 1,
            node_monitors: 3,
            node_args: Vec::new(),
            node_extra_args: Vec::new(),
            scheduler_args: Vec::new(),
            env: Vec::new(),
            observability: false,
            client_tls: TlsFiles::default(),
        }
    }
}

impl ClusterBuilder {
    /// Number of schedulers.
    pub fn schedulers(mut self, count: usize) -> Self {
        self.schedulers = count;
        self
    }

    /// Number of node monitors.
    pub fn node_monitors(mut self, count: usize) -> Self {
        self.node_monitors = count;
        self
    }

    /// Extra flags for every node monitor.
    pub fn node_args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.node_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Extra flags for node monitor `index` only (such as its labels).
    pub fn node_args_for<S: Into<String>>(mut self, index: usize, args: impl IntoIterator<Item = S>) -> Self {
        if self.node_extra_args.len() <= index {
            self.node_extra_args.resize(index + 1, Vec::new());
        }
        self.node_extra_args[index].extend(args.into_iter().map(Into::into));
        self
    }

    /// Extra flags for every scheduler.
    pub fn scheduler_args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.scheduler_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable for every process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Serves `/metrics` on every process (`--metrics-listen`) and the
    /// status page on every scheduler (`--http-listen`), each on its own port.
    pub fn observability(mut self) -> Self {
        self.observability = true;
        self
    }

    /// TLS the harness uses to check health (for clusters started with TLS flags).
    pub fn client_tls(mut self, tls: TlsFiles) -> Self {
        self.client_tls = tls;
        self
    }

    /// Starts the processes and waits until each serves.
    pub async fn start(self) -> anyhow::Result<Cluster> {
        let env: Vec<(&str, String)> = self.env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let mut cluster = Cluster {
            schedulers: Vec::new(),
            node_monitors: Vec::new(),
            scheduler_addrs: Vec::new(),
            node_addrs: Vec::new(),
            node_args: self.node_args.clone(),
            node_extra_args: self.node_extra_args.clone(),
            env: self.env.clone(),
            node_metrics_addrs: Vec::new(),
            scheduler_metrics_addrs: Vec::new(),
            scheduler_http_addrs: Vec::new(),
            client_tls: self.client_tls.clone(),
            scheduler_args_of: Vec::new(),
        };
        for index in 0..self.node_monitors {
            let mut node_args = cluster.args_of_node(index);
            if self.observability {
                node_args.extend(["--metrics-listen".to_owned(), ANY_PORT.to_owned()]);
            }
            let (process, ready) = start_node_monitor(index, ANY_PORT, &node_args, &env).await?;
            if self.observability {
                cluster.node_metrics_addrs.push(ready.address("metrics")?);
            }
            cluster.node_monitors.push(process);
            cluster.node_addrs.push(ready.address("grpc")?);
        }
        for (index, address) in cluster.node_addrs.iter().enumerate() {
            wait_serving_with(address, &cluster.node_monitors[index], &self.client_tls).await?;
        }
        for index in 0..self.schedulers {
            let mut args = vec!["--node-monitors".to_owned(), cluster.node_addrs.join(",")];
            args.extend(self.scheduler_args.iter().cloned());
            let mut listens = vec![("--listen", "grpc")];
            if self.observability {
                listens.extend([("--metrics-listen", "metrics"), ("--http-listen", "http")]);
            }
            let mut first = args.clone();
            for (flag, _) in &listens {
                first.extend([(*flag).to_owned(), ANY_PORT.to_owned()]);
            }
            let (process, ready) =
                Process::start_server(&format!("scheduler{index}"), "passer-scheduler", &first, &env).await?;
            // A restart takes the same ports again: clients know them.
            for (flag, name) in &listens {
                args.extend([(*flag).to_owned(), ready.address(name)?]);
            }
            if self.observability {
                cluster.scheduler_metrics_addrs.push(ready.address("metrics")?);
                cluster.scheduler_http_addrs.push(ready.address("http")?);
            }
            cluster.scheduler_args_of.push(args);
            cluster.schedulers.push(process);
            cluster.scheduler_addrs.push(ready.address("grpc")?);
        }
        for (index, address) in cluster.scheduler_addrs.iter().enumerate() {
            wait_serving_with(address, &cluster.schedulers[index], &self.client_tls).await?;
        }
        Ok(cluster)
    }
}

/// Listen on any free port; the server reports the one it bound.
pub const ANY_PORT: &str = "127.0.0.1:0";

/// Starts node monitor `index` listening on `address` (port 0 for any) and
/// waits for its ready file.
async fn start_node_monitor(
    index: usize,
    address: &str,
    extra: &[String],
    env: &[(&str, String)],
) -> anyhow::Result<(Process, Ready)> {
    let mut args = vec!["--listen".to_owned(), address.to_owned()];
    args.extend(extra.iter().cloned());
    Process::start_server(&format!("node{index}"), "passer-node-monitor", &args, env).await
}

/// Starts server `binary` with `args` (which name its `--listen` address,
/// usually [`ANY_PORT`]), waits for its ready file and then for gRPC health
/// SERVING; returns it with the gRPC address it bound.
pub async fn start_serving(
    name: &str,
    binary: &str,
    args: &[String],
    env: &[(&str, String)],
) -> anyhow::Result<(Process, String)> {
    let (process, ready) = Process::start_server(name, binary, args, env).await?;
    let address = ready.address("grpc")?;
    wait_serving(&address, &process).await?;
    Ok((process, address))
}

/// Polls gRPC health until SERVING (at most 20 s).
pub async fn wait_serving(address: &str, process: &Process) -> anyhow::Result<()> {
    wait_serving_with(address, process, &TlsFiles::default()).await
}

/// Polls gRPC health, over TLS if `tls` is set, until SERVING (at most 20 s).
pub async fn wait_serving_with(address: &str, process: &Process, tls: &TlsFiles) -> anyhow::Result<()> {
    let tls = tls.client_config().map_err(anyhow::Error::msg)?;
    let connector = PeerConnector::new(tls, BearerToken::default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if health_serving(&connector, address).await {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{} at {address} did not become healthy; log:\n{}", process.name, process.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn health_serving(connector: &PeerConnector, address: &str) -> bool {
    let Ok(endpoint) = connector.endpoint(address, Duration::from_millis(500)) else { return false };
    let Ok(channel) = endpoint.connect().await else { return false };
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
    matches!(client.check(request).await, Ok(r) if r.get_ref().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
}

/// A running cluster; every process is killed when it is dropped.
pub struct Cluster {
    /// Scheduler processes.
    pub schedulers: Vec<Process>,
    /// Node monitor processes.
    pub node_monitors: Vec<Process>,
    /// Scheduler addresses (host:port).
    pub scheduler_addrs: Vec<String>,
    /// Node monitor addresses.
    pub node_addrs: Vec<String>,
    /// Node monitors' `/metrics` addresses (with `observability()`).
    pub node_metrics_addrs: Vec<String>,
    /// Schedulers' `/metrics` addresses (with `observability()`).
    pub scheduler_metrics_addrs: Vec<String>,
    /// Schedulers' status page addresses (with `observability()`).
    pub scheduler_http_addrs: Vec<String>,
    node_args: Vec<String>,
    node_extra_args: Vec<Vec<String>>,
    env: Vec<(String, String)>,
    client_tls: TlsFiles,
    scheduler_args_of: Vec<Vec<String>>,
}

impl Cluster {
    /// The flags of node monitor `index`: the common ones, then its own.
    fn args_of_node(&self, index: usize) -> Vec<String> {
        let own = self.node_extra_args.get(index).map_or(&[][..], Vec::as_slice);
        self.node_args.iter().chain(own).cloned().collect()
    }

    /// A cluster builder.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    /// An SDK client knowing every scheduler.
    pub fn client(&self) -> Client {
        Client::new(ClientConfig::new(self.scheduler_addrs.clone())).expect("client config")
    }

    /// A raw gRPC client of scheduler `index`.
    pub async fn scheduler_client(
        &self,
        index: usize,
    ) -> anyhow::Result<pb::scheduler_client::SchedulerClient<tonic::transport::Channel>> {
        let uri = format!("http://{}", self.scheduler_addrs[index]);
        pb::scheduler_client::SchedulerClient::connect(uri).await.context("connect to scheduler")
    }

    /// Scheduler `index`'s counters.
    pub async fn stats(&self, index: usize) -> anyhow::Result<pb::SchedulerStats> {
        let mut client = self.scheduler_client(index).await?;
        Ok(client.get_stats(pb::GetStatsRequest {}).await?.into_inner())
    }

    /// Restarts node monitor `index` on its old addresses (after a kill).
    pub async fn restart_node_monitor(&mut self, index: usize) -> anyhow::Result<()> {
        let env: Vec<(&str, String)> = self.env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        self.node_monitors[index].kill();
        let address = self.node_addrs[index].clone();
        let mut args = self.args_of_node(index);
        if let Some(metrics) = self.node_metrics_addrs.get(index) {
            args.extend(["--metrics-listen".to_owned(), metrics.clone()]);
        }
        self.node_monitors[index] = start_node_monitor(index, &address, &args, &env).await?.0;
        wait_serving_with(&address, &self.node_monitors[index], &self.client_tls).await
    }

    /// Restarts scheduler `index` on its old addresses with its old flags
    /// (after a kill) and waits until it serves.
    pub async fn restart_scheduler(&mut self, index: usize) -> anyhow::Result<()> {
        let env: Vec<(&str, String)> = self.env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        self.schedulers[index].kill();
        let args = self.scheduler_args_of[index].clone();
        self.schedulers[index] =
            Process::start_server(&format!("scheduler{index}"), "passer-scheduler", &args, &env).await?.0;
        wait_serving_with(&self.scheduler_addrs[index], &self.schedulers[index], &self.client_tls).await
    }

    /// Waits until node monitor `index` has at least `busy` executor slots
    /// running tasks (asked of the node itself, not a scheduler's poll).
    pub async fn wait_node_busy(&self, index: usize, busy: u32) -> anyhow::Result<()> {
        let uri = format!("http://{}", self.node_addrs[index]);
        let mut client = pb::node_monitor_client::NodeMonitorClient::connect(uri).await.context("connect to node")?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let load = client.get_load(pb::GetLoadRequest {}).await?.into_inner();
            let running: u32 = load.executors.iter().map(|e| e.slots_busy).sum();
            if running >= busy {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("node monitor {index} ran {running} tasks, not {busy}, within 20 s: {load:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until scheduler `index` sees `count` node monitors up with executors.
    pub async fn wait_nodes_up(&self, index: usize, count: usize) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let stats = self.stats(index).await?;
            let up = stats.nodes.iter().filter(|n| n.slots_total > 0).count();
            if up >= count {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("only {up} of {count} node monitors have executors: {:?}", stats.nodes);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
