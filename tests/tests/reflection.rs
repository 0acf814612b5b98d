//! gRPC server reflection as clients we did not write speak it: grpcio's
//! own Python reflection client (`grpcio-reflection`, which speaks only
//! `grpc.reflection.v1alpha`) lists passer's services on both servers.
//! The `v1` service is served beside it for newer tools.

use std::process::Command;

use anyhow::{ensure, Context};
use passer_tests::conformance::python;
use passer_tests::Cluster;

const LIST_SERVICES: &str = r#"
import sys, grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
for address in sys.argv[1:]:
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        print(address, " ".join(services))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_reflection_client_lists_services_over_v1alpha() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let scheduler = cluster.scheduler_addrs[0].clone();
    let node = cluster.node_addrs[0].clone();
    let output = Command::new(python())
        .args(["-c", LIST_SERVICES, &scheduler, &node])
        .output()
        .context("run the grpcio reflection client")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(output.status.success(), "reflection client failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    let line_of = |address: &str| stdout.lines().find(|line| line.starts_with(address)).unwrap_or_default().to_owned();
    let scheduler_line = line_of(&scheduler);
    for service in ["passer.v1.Scheduler", "passer.v1.TaskSource", "grpc.health.v1.Health"] {
        ensure!(scheduler_line.contains(service), "scheduler does not list {service}: {scheduler_line}");
    }
    let node_line = line_of(&node);
    for service in ["passer.v1.NodeMonitor", "passer.v1.Executors", "grpc.health.v1.Health"] {
        ensure!(node_line.contains(service), "node monitor does not list {service}: {node_line}");
    }
    Ok(())
}
