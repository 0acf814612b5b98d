//! Consul self-registration and health on real processes: each server
//! registers with an agent (a recording HTTP server standing in for Consul)
//! using the documented agent service-definition fields and a gRPC check,
//! registers again when the agent forgets it, and deregisters on SIGTERM;
//! and a gRPC health client that is not ours (Python's
//! grpcio-health-checking) reads SERVING from each binary.

use std::time::Duration;

use nix::sys::signal::Signal;
use passer_tests::cluster::start_serving;
use passer_tests::consul_agent::FakeConsulAgent;
use passer_tests::{ANY_PORT, DEAD_ADDRESS};

const WAIT: Duration = Duration::from_secs(10);

async fn registers_and_deregisters(binary: &str, service: &str, extra: &[&str]) -> anyhow::Result<()> {
    let agent = FakeConsulAgent::start().await?;
    let mut args: Vec<String> = [
        "--listen",
        ANY_PORT,
        "--consul-agent",
        agent.url(),
        "--consul-tags",
        "blue,rack-1",
        "--consul-check-interval",
        "5s",
        "--consul-deregister-after",
        "90s",
        "--consul-recheck-ms",
        "100",
    ]
    .map(str::to_owned)
    .into();
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let (mut process, address) = start_serving(binary, binary, &args, &[]).await?;

    let is_register =
        |r: &passer_tests::consul_agent::RecordedRequest| r.method == "PUT" && r.path == "/v1/agent/service/register";
    let registered = agent.wait_for("register", 1, WAIT, is_register).await?;
    let body: serde_json::Value = serde_json::from_str(&registered[0].body)?;
    let port = address.rsplit_once(':').map(|(_, port)| port.parse::<u64>()).transpose()?.unwrap_or_default();
    let id = body["ID"].as_str().unwrap_or_default().to_owned();
    assert_eq!(body["Name"], service, "{body}");
    assert!(!id.is_empty() && !id.contains('/'), "{body}");
    assert_eq!(body["Address"], "127.0.0.1", "{body}");
    assert_eq!(body["Port"], port, "{body}");
    assert_eq!(body["Tags"], serde_json::json!(["blue", "rack-1"]), "{body}");
    assert_eq!(body["Check"]["GRPC"], address.as_str(), "{body}");
    assert_eq!(body["Check"]["Interval"], "5s", "{body}");
    assert_eq!(body["Check"]["DeregisterCriticalServiceAfter"], "90s", "{body}");

    // The agent restarts without state: the server notices and registers again.
    agent.forget();
    agent.wait_for("second register", 2, WAIT, is_register).await?;

    process.signal(Signal::SIGTERM);
    let deregister_path = format!("/v1/agent/service/deregister/{id}");
    agent.wait_for("deregister", 1, WAIT, |r| r.method == "PUT" && r.path == deregister_path).await?;
    let status = tokio::task::spawn_blocking(move || process.wait_exit(WAIT)).await?;
    assert!(status.is_some_and(|s| s.success()), "{binary} exits cleanly after SIGTERM: {status:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_monitor_registers_with_consul_and_deregisters_on_sigterm() -> anyhow::Result<()> {
    registers_and_deregisters("passer-node-monitor", "passer-node-monitor", &["--drain-timeout-secs", "2"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_registers_with_consul_and_deregisters_on_sigterm() -> anyhow::Result<()> {
    registers_and_deregisters("passer-scheduler", "passer-scheduler", &["--node-monitors", "127.0.0.1:1"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_agent_does_not_stop_the_server() -> anyhow::Result<()> {
    let unreachable = format!("http://{DEAD_ADDRESS}");
    let args = ["--listen", ANY_PORT, "--consul-agent", &unreachable].map(str::to_owned);
    start_serving("node", "passer-node-monitor", &args, &[]).await.map(drop)
}

/// The Python the CI prepared (`.ci/python-env.sh`), else `python3`.
fn python() -> String {
    std::env::var("PASSER_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

const PYTHON_HEALTH_CHECK: &str = r#"
import sys, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
channel = grpc.insecure_channel(sys.argv[1])
grpc.channel_ready_future(channel).result(timeout=10)
response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
print(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpc_health_client_sees_every_binary_serving() -> anyhow::Result<()> {
    let python = python();
    let has_health = std::process::Command::new(&python).args(["-c", "import grpc_health.v1"]).output();
    if !has_health.is_ok_and(|output| output.status.success()) {
        assert!(std::env::var("PASSER_PYTHON").is_err(), "PASSER_PYTHON={python} lacks grpcio-health-checking");
        eprintln!("skipped: {python} has no grpcio-health-checking (run .ci/python-env.sh and set PASSER_PYTHON)");
        return Ok(());
    }
    let (_node, node_address) =
        start_serving("node", "passer-node-monitor", &["--listen".to_owned(), ANY_PORT.to_owned()], &[]).await?;
    let scheduler_args = ["--listen", ANY_PORT, "--node-monitors", &node_address].map(str::to_owned);
    let (_scheduler, scheduler_address) = start_serving("scheduler", "passer-scheduler", &scheduler_args, &[]).await?;
    for address in [&node_address, &scheduler_address] {
        let output = tokio::process::Command::new(&python)
            .args(["-c", PYTHON_HEALTH_CHECK, address])
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output).await??;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "python health check of {address} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(stdout.trim(), "SERVING", "{address}");
    }
    Ok(())
}
