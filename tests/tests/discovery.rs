//! Discovery on real processes: a scheduler finds node monitors through a
//! real DNS server in Consul's shape (hickory's server crate in the test,
//! so the test needs nothing installed and can change the zone at runtime),
//! follows the zone as nodes come and go, and finds them through plain DNS
//! A records with a fixed port (Docker swarm's `tasks.<service>`).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use passer::{Client, ClientConfig, JobSpec};
use passer_tests::cluster::start_serving;
use passer_tests::dns::{ConsulDns, Instance};
use passer_tests::{Process, Within, ANY_PORT};

/// Record TTL in the test zone, in seconds: one refresh.
const TTL_SECS: u32 = 1;

/// Starts node monitor `index` on `listen` (port 0 for any) and waits until
/// it serves: returns it with its gRPC address.
async fn node_monitor(index: usize, listen: &str) -> anyhow::Result<(Process, String)> {
    let args = ["--listen", listen, "--node-id", &format!("node{index}"), "--slots", "2"];
    start_serving(&format!("node{index}"), "passer-node-monitor", &args.map(str::to_owned), &[]).await
}

/// Starts a scheduler on any port with `discovery_args` and waits until it
/// serves: returns it with its gRPC address.
async fn scheduler(discovery_args: &[String]) -> anyhow::Result<(Process, String)> {
    let mut args: Vec<String> =
        ["--listen", ANY_PORT, "--node-poll-ms", "100", "--discovery-min-refresh-ms", "200"].map(str::to_owned).into();
    args.extend(discovery_args.iter().cloned());
    start_serving("scheduler", "passer-scheduler", &args, &[]).await
}

/// Runs a job of sleep tasks (more than the nodes' slots, so every node
/// that holds reservations takes some) and returns the nodes that ran them.
async fn nodes_used(scheduler_address: &str, job_id: &str) -> anyhow::Result<BTreeSet<String>> {
    let client = Client::new(ClientConfig::new([scheduler_address]))?;
    let results = client.run(JobSpec::uniform(job_id, "sleep", 16, "150")).within("the results of job sleep").await??;
    for result in &results {
        anyhow::ensure!(result.succeeded(), "{} failed: {}", result.task_id, result.error);
    }
    Ok(results.into_iter().map(|result| result.node_id).collect())
}

/// Waits until the scheduler's registry holds exactly `wanted` (node ids), all up.
async fn wait_registry(scheduler_address: &str, wanted: &[&str], within: Duration) -> anyhow::Result<Duration> {
    let started = tokio::time::Instant::now();
    let wanted: BTreeSet<String> = wanted.iter().map(|id| (*id).to_owned()).collect();
    let mut client =
        passer_proto::pb::scheduler_client::SchedulerClient::connect(format!("http://{scheduler_address}")).await?;
    loop {
        let stats = client.get_stats(passer_proto::pb::GetStatsRequest {}).await?.into_inner();
        let up: BTreeSet<String> =
            stats.nodes.iter().filter(|node| node.slots_total > 0).map(|node| node.node_id.clone()).collect();
        if up == wanted && stats.nodes.len() == wanted.len() {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= within {
            anyhow::bail!("registry is not {wanted:?} within {within:?}: {:?}", stats.nodes);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_follows_consul_dns_as_node_monitors_come_and_go() -> anyhow::Result<()> {
    let dns = ConsulDns::start(TTL_SECS).await?;
    let mut nodes = Vec::new();
    let mut ports = Vec::new();
    for index in 0..4 {
        let (node, address) = node_monitor(index, ANY_PORT).await?;
        nodes.push(node);
        ports.push(address.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()).unwrap_or_default());
    }
    let instances: Vec<Instance> =
        ports.iter().enumerate().map(|(index, port)| Instance::loopback(&format!("host{index}"), *port)).collect();
    dns.set_service("passer-node-monitor", &instances[..3]).await?;

    let consul_args = ["--consul-dns".to_owned(), dns.address().to_string()];
    let (_scheduler, scheduler_address) = scheduler(&consul_args).await?;
    wait_registry(&scheduler_address, &["node0", "node1", "node2"], Duration::from_secs(10)).await?;
    let first = nodes_used(&scheduler_address, "discovered-3").await?;
    assert_eq!(first, ["node0", "node1", "node2"].map(str::to_owned).into(), "a job runs on all three");

    // node3 registers, node0 leaves: the zone changes as Consul's would.
    dns.set_service("passer-node-monitor", &instances[1..]).await?;
    let one_refresh = Duration::from_secs(u64::from(TTL_SECS));
    let slack = Duration::from_secs(2);
    let took = wait_registry(&scheduler_address, &["node1", "node2", "node3"], one_refresh + slack).await?;
    println!("registry followed the zone in {took:?}");
    let second = nodes_used(&scheduler_address, "discovered-new-set").await?;
    assert!(!second.contains("node0"), "no new work for the node that left: {second:?}");
    assert!(second.contains("node3"), "the new node gets work: {second:?}");
    assert!(second.is_subset(&["node1", "node2", "node3"].map(str::to_owned).into()), "{second:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_finds_node_monitors_by_plain_dns_a_records() -> anyhow::Result<()> {
    let dns = ConsulDns::start(TTL_SECS).await?;
    let ips = [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)];
    // The first takes any port; the second the same port on its own address
    // (A records carry no port).
    let (first, address) = node_monitor(0, &format!("{}:0", ips[0])).await?;
    let port = address.rsplit_once(':').map(|(_, port)| port.to_owned()).unwrap_or_default();
    let (second, _) = node_monitor(1, &format!("{}:{port}", ips[1])).await?;
    let _nodes = [first, second];
    dns.set_a_records("tasks.nm.consul.", &ips).await?;

    let dns_args = [
        "--consul-dns".to_owned(),
        dns.address().to_string(),
        "--node-monitors-dns".to_owned(),
        format!("tasks.nm.consul:{port}"),
    ];
    let (_scheduler, scheduler_address) = scheduler(&dns_args).await?;
    wait_registry(&scheduler_address, &["node0", "node1"], Duration::from_secs(10)).await?;
    let used = nodes_used(&scheduler_address, "plain-dns").await?;
    assert_eq!(used, ["node0", "node1"].map(str::to_owned).into());
    Ok(())
}
