//! Security on real processes: every service refuses a missing or wrong
//! token (health checks excepted); TLS refuses an untrusted server CA and,
//! with mutual TLS, a client without a certificate; and a whole job runs
//! over mutual TLS with a token, through an attached executor process too,
//! from the Rust SDK and from the Python SDK.

use std::time::Duration;

use passer::security::{BearerToken, PeerConnector, TlsFiles};
use passer::{Client, ClientConfig, ClientError, JobSpec, TaskSpec};
use passer_proto::pb;
use passer_tests::certs::TestPki;
use passer_tests::{bin_path, Cluster};
use tonic::transport::Channel;
use tonic::Code;

const TOKEN: &str = "s3cret-cluster-token";
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

fn connector(tls: &TlsFiles, token: Option<&str>) -> PeerConnector {
    PeerConnector::new(tls.client_config().expect("tls files"), BearerToken::new(token).expect("token"))
}

async fn channel(connector: &PeerConnector, address: &str) -> anyhow::Result<Channel> {
    Ok(connector.endpoint(address, Duration::from_secs(2)).map_err(anyhow::Error::msg)?.connect().await?)
}

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    if let Some(token) = token {
        request.metadata_mut().insert(passer_proto::TOKEN_METADATA, format!("Bearer {token}").parse().unwrap());
    }
    request
}

/// Calls every scheduler RPC with `token` and returns each outcome.
async fn scheduler_calls(channel: Channel, token: Option<&str>) -> Vec<(&'static str, Result<(), tonic::Status>)> {
    let mut scheduler = pb::scheduler_client::SchedulerClient::new(channel.clone());
    let mut source = pb::task_source_client::TaskSourceClient::new(channel);
    let job = pb::SubmitJobRequest {
        job_id: "j".into(),
        tasks: vec![pb::TaskSpec { task_id: "t".into(), executor: "echo".into(), ..Default::default() }],
        ..Default::default()
    };
    let hello = pb::NodeToScheduler { node_id: "intruder".into(), ..Default::default() };
    vec![
        ("Scheduler.SubmitJob", scheduler.submit_job(with_token(job, token)).await.map(drop)),
        (
            "Scheduler.CancelJob",
            scheduler.cancel_job(with_token(pb::CancelJobRequest::default(), token)).await.map(drop),
        ),
        ("Scheduler.GetStats", scheduler.get_stats(with_token(pb::GetStatsRequest {}, token)).await.map(drop)),
        (
            "TaskSource.GetTask",
            source
                .get_task(with_token(pb::GetTaskRequest { node_id: "n".into(), ..Default::default() }, token))
                .await
                .map(drop),
        ),
        (
            "TaskSource.ReportTasks",
            source
                .report_tasks(with_token(pb::ReportTasksRequest { node_id: "n".into(), outcomes: vec![] }, token))
                .await
                .map(drop),
        ),
        ("TaskSource.Session", source.session(with_token(futures::stream::iter([hello]), token)).await.map(drop)),
    ]
}

/// Calls every node monitor RPC with `token` and returns each outcome.
async fn node_calls(channel: Channel, token: Option<&str>) -> Vec<(&'static str, Result<(), tonic::Status>)> {
    let mut node = pb::node_monitor_client::NodeMonitorClient::new(channel.clone());
    let mut executors = pb::executors_client::ExecutorsClient::new(channel);
    let hello = pb::ExecutorMessage {
        message: Some(pb::executor_message::Message::Hello(pb::executor_message::Hello {
            executor: "intruder".into(),
            slots: 1,
            pid: 1,
            name: "intruder".into(),
            queue_per_slot: 0,
        })),
    };
    let enqueue = pb::EnqueueReservationsRequest { job_id: "j".into(), ..Default::default() };
    vec![
        ("NodeMonitor.EnqueueReservations", node.enqueue_reservations(with_token(enqueue, token)).await.map(drop)),
        (
            "NodeMonitor.CancelReservations",
            node.cancel_reservations(with_token(pb::CancelReservationsRequest::default(), token)).await.map(drop),
        ),
        ("NodeMonitor.GetLoad", node.get_load(with_token(pb::GetLoadRequest {}, token)).await.map(drop)),
        ("Executors.Attach", executors.attach(with_token(futures::stream::iter([hello]), token)).await.map(drop)),
    ]
}

fn assert_all_unauthenticated(outcomes: &[(&str, Result<(), tonic::Status>)], expected_message: &str) {
    for (call, outcome) in outcomes {
        let status = outcome.as_ref().expect_err(call);
        assert_eq!(status.code(), Code::Unauthenticated, "{call}: {status:?}");
        assert!(status.message().contains(expected_message), "{call}: {status:?}");
        assert!(!status.message().contains(TOKEN), "{call} leaks the token: {status:?}");
    }
}

async fn health(channel: Channel) -> Result<i32, tonic::Status> {
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic::Request::new(tonic_health::pb::HealthCheckRequest { service: String::new() });
    Ok(client.check(request).await?.into_inner().status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_refuses_a_missing_or_wrong_token() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).env("PASSER_TOKEN", TOKEN).start().await?;
    let plain = TlsFiles::default();
    let scheduler = channel(&connector(&plain, None), &cluster.scheduler_addrs[0]).await?;
    let node = channel(&connector(&plain, None), &cluster.node_addrs[0]).await?;

    assert_all_unauthenticated(&scheduler_calls(scheduler.clone(), None).await, "missing token");
    assert_all_unauthenticated(&node_calls(node.clone(), None).await, "missing token");
    assert_all_unauthenticated(&scheduler_calls(scheduler.clone(), Some("not-the-token")).await, "wrong token");
    assert_all_unauthenticated(&node_calls(node.clone(), Some("not-the-token")).await, "wrong token");
    assert_all_unauthenticated(&node_calls(node.clone(), Some(&format!("{TOKEN}x"))).await, "wrong token");

    // Health checks need no token, so container and Consul probes work.
    assert_eq!(health(scheduler.clone()).await?, 1, "scheduler health");
    assert_eq!(health(node).await?, 1, "node monitor health");

    // The right token passes, end to end: the node monitor's own calls to
    // the scheduler carry it too.
    let mut config = ClientConfig::new(cluster.scheduler_addrs.clone());
    config.token = Some(TOKEN.to_owned());
    config.max_retry_time = Duration::from_secs(20);
    let job =
        (0..8).fold(JobSpec::new("with-token"), |job, i| job.task(TaskSpec::new(format!("t{i}"), "echo", vec![i])));
    let outputs = tokio::time::timeout(Duration::from_secs(30), Client::new(config)?.run(job)).await??;
    assert_eq!(outputs.len(), 8);

    // A refusal is logged once per peer and never shows the token.
    let log = std::fs::read_to_string(&cluster.schedulers[0].log)?;
    assert_eq!(log.matches("refused a call (UNAUTHENTICATED)").count(), 1, "{log}");
    assert!(!log.contains(TOKEN), "the scheduler log shows the token");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_untrusted_servers_and_clients_without_a_certificate() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let cluster = Cluster::builder()
        .node_monitors(1)
        .scheduler_args(pki.server_args(true))
        .node_args(pki.server_args(true))
        .client_tls(pki.client("ca.pem", true))
        .start()
        .await?;
    let address = &cluster.scheduler_addrs[0];

    // The control: the right CA and a client certificate get through.
    let trusted = channel(&connector(&pki.client("ca.pem", true), None), address).await?;
    assert_eq!(health(trusted).await?, 1);

    // A client that trusts another CA rejects the server's certificate.
    let untrusted = channel(&connector(&pki.client("other-ca.pem", true), None), address).await;
    let error = format!("{:?}", untrusted.expect_err("a handshake against an untrusted CA must fail"));
    assert!(error.contains("UnknownIssuer") || error.contains("certificate"), "{error}");

    // Without a client certificate the server refuses the client (TLS 1.3
    // reports it on the first call rather than in connect).
    let outcome = match channel(&connector(&pki.client("ca.pem", false), None), address).await {
        Err(error) => Err(format!("{error:?}")),
        Ok(channel) => health(channel).await.map_err(|status| format!("{status:?}")),
    };
    assert!(outcome.is_err(), "a client without a certificate got {outcome:?}");

    // Plaintext to a TLS port fails too.
    let plaintext = match channel(&connector(&TlsFiles::default(), None), address).await {
        Err(error) => Err(format!("{error:?}")),
        Ok(channel) => health(channel).await.map_err(|status| format!("{status:?}")),
    };
    assert!(plaintext.is_err(), "plaintext got {plaintext:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_over_mutual_tls_with_a_token() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    // `sleep` runs only in a separate executor process, which attaches over
    // the node monitor's plaintext loopback listener with the token.
    let executor = format!("{} executor --builtin sleep --slots 2", bin_path("passer").display());
    let mut node_args = pki.server_args(true);
    node_args.extend(["--builtin".to_owned(), "echo".to_owned(), "--executor".to_owned(), executor]);
    let cluster = Cluster::builder()
        .node_monitors(2)
        .scheduler_args(pki.server_args(true))
        .node_args(node_args)
        .env("PASSER_TOKEN", TOKEN)
        .client_tls(pki.client("ca.pem", true))
        .start()
        .await?;
    let mut config = ClientConfig::new(cluster.scheduler_addrs.clone());
    config.token = Some(TOKEN.to_owned());
    config.tls = pki.client("ca.pem", true);
    config.max_retry_time = Duration::from_secs(20);
    let client = Client::new(config)?;

    let job = || {
        let job =
            (0..20).fold(JobSpec::new("over-tls"), |job, i| job.task(TaskSpec::new(format!("e{i}"), "echo", vec![i])));
        (0..4).fold(job, |job, i| job.task(TaskSpec::new(format!("s{i}"), "sleep", "10")))
    };
    // The executor processes may still be attaching: until they are, no
    // node offers `sleep` and the job is refused with FAILED_PRECONDITION.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let outputs = loop {
        match tokio::time::timeout(Duration::from_secs(30), client.run(job())).await? {
            Ok(outputs) => break outputs,
            Err(ClientError::FailedPrecondition(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => anyhow::bail!("job failed: {error}; node log:\n{}", cluster.node_monitors[0].log_tail()),
        }
    };
    assert_eq!(outputs.len(), 24);
    for (index, output) in outputs.iter().enumerate() {
        assert_eq!(output.status, pb::TaskStatus::Succeeded, "{output:?}");
        if index < 20 {
            assert_eq!(output.output, vec![index as u8], "{output:?}");
        }
    }

    python_client_over_mutual_tls(&pki, &cluster.scheduler_addrs[0])?;
    Ok(())
}

/// The Python SDK against the same cluster: with the client certificate and
/// the token a job runs; without the token it is UNAUTHENTICATED.
fn python_client_over_mutual_tls(pki: &TestPki, scheduler: &str) -> anyhow::Result<()> {
    const SCRIPT: &str = r#"
import sys
from passer import Client, Task, TlsConfig, Unauthenticated
address, ca, cert, key, token = sys.argv[1:6]
tls = TlsConfig(ca=ca, cert=cert, key=key, domain="localhost")
with Client([address], token=token, tls=tls) as client:
    results = client.run("python-over-tls", [Task(f"p{i}", "echo", f"hi{i}") for i in range(10)], timeout=30)
    assert sorted(r.output for r in results) == sorted(f"hi{i}".encode() for i in range(10)), results
    assert all(r.ok for r in results), results
try:
    with Client([address], tls=tls, max_unavailable=1) as client:
        client.run("python-no-token", [Task("p", "echo", "x")], timeout=10)
    print("no-token job ran")
    sys.exit(1)
except Unauthenticated as error:
    print("refused without token:", error)
print("python ok")
"#;
    let client = pki.client("ca.pem", true);
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let output = std::process::Command::new(passer_tests::conformance::python())
        .args(["-c", SCRIPT, scheduler, &path(&client.ca), &path(&client.cert), &path(&client.key), TOKEN])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && stdout.contains("python ok"), "python client failed:\n{stdout}\n{stderr}");
    eprintln!("python client: {stdout}");
    assert!(stdout.contains("refused without token"), "{stdout}");
    Ok(())
}
