//! Security that fails closed (issue 16, items 8 and 10): a scheduler with
//! a token asks for it on every HTTP endpoint too (status page, its JSON,
//! the job view's `/api/jobs/{id}` and its cancel, `/metrics`); the
//! `Bearer` scheme is matched in any case; a certificate error fails
//! `passer submit` at once with the reason instead of retrying.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use passer_proto::pb;
use passer_tests::certs::TestPki;
use passer_tests::{bin_path, http_request, Cluster};

const TOKEN: &str = "s3cret-hardening-token";

/// GETs `path` from `address` with an optional `Authorization` value;
/// returns the status code.
fn http_status(address: &str, path: &str, authorization: Option<&str>) -> anyhow::Result<u16> {
    let headers: Vec<(&str, &str)> = authorization.map(|value| ("Authorization", value)).into_iter().collect();
    Ok(http_request(address, "GET", path, &headers)?.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_ask_for_the_token_and_bearer_is_case_insensitive() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(passer_tests::unique_name("passer-token"));
    std::fs::create_dir_all(&dir)?;
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n"))?;
    let token_arg = token_file.display().to_string();
    let cluster = Cluster::builder()
        .node_monitors(1)
        .node_args(["--token-file", &token_arg])
        .scheduler_args(["--token-file", &token_arg])
        .observability()
        .start()
        .await?;
    let status_page = &cluster.scheduler_http_addrs[0];
    let metrics = &cluster.scheduler_metrics_addrs[0];
    let node_metrics = &cluster.node_metrics_addrs[0];
    let bearer = format!("Bearer {TOKEN}");
    let lowercase = format!("bearer {TOKEN}");
    // "any-user:<token>" in base64, as a browser sends it after the prompt.
    let basic = "Basic YW55LXVzZXI6czNjcmV0LWhhcmRlbmluZy10b2tlbg==";
    for (address, path) in [
        (status_page, "/"),
        (status_page, "/api/status"),
        (status_page, "/app.js"),
        (status_page, "/job.js"),
        (status_page, "/metrics"),
        (metrics, "/metrics"),
        (node_metrics, "/metrics"),
    ] {
        assert_eq!(http_status(address, path, None)?, 401, "{path} on {address} without the token");
        assert_eq!(http_status(address, path, Some("Bearer wrong"))?, 401, "{path} with a wrong token");
        assert_eq!(http_status(address, path, Some(&bearer))?, 200, "{path} with the token");
        assert_eq!(http_status(address, path, Some(&lowercase))?, 200, "{path} with lowercase bearer");
        assert_eq!(http_status(address, path, Some(basic))?, 200, "{path} with Basic");
    }
    // The job view's endpoints: refused without the token; with it, an
    // unknown job is a 404 (past the token check).
    for (method, path) in [("GET", "/api/jobs/some-job"), ("POST", "/api/jobs/some-job/cancel")] {
        let page = ("X-Requested-With", "passer");
        let (status, _) = http_request(status_page, method, path, &[page])?;
        assert_eq!(status, 401, "{method} {path} without the token");
        let (status, body) = http_request(status_page, method, path, &[page, ("Authorization", &bearer)])?;
        assert_eq!(status, 404, "{method} {path} with the token: {body}");
        assert!(body.contains("some-job"), "the 404 names the job: {body}");
    }

    // gRPC: a lowercase scheme is the same token.
    let mut raw = cluster.scheduler_client(0).await?;
    let mut request = tonic::Request::new(pb::GetStatsRequest {});
    request.metadata_mut().insert("authorization", lowercase.parse()?);
    raw.get_stats(request).await.context("lowercase bearer refused on gRPC")?;
    let mut request = tonic::Request::new(pb::GetStatsRequest {});
    request.metadata_mut().insert("authorization", "bearer wrong".parse()?);
    let refused = raw.get_stats(request).await.expect_err("a wrong token in lowercase still fails");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Runs `passer submit` against `scheduler` with TLS `tls_args`; returns
/// (success, stderr, elapsed), killing it after 30 s.
fn submit_with_tls(scheduler: &str, tls_args: &[String]) -> anyhow::Result<(bool, String, Duration)> {
    let started = Instant::now();
    let mut child = Command::new(bin_path("passer"))
        .args(["submit", "--scheduler", scheduler, "--executor", "echo", "--count", "2"])
        .args(tls_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    while child.try_wait()?.is_none() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let output = child.wait_with_output()?;
    Ok((output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned(), started.elapsed()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_errors_fail_submit_at_once_with_the_reason() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let cluster = Cluster::builder()
        .node_monitors(1)
        .scheduler_args(pki.server_args(true))
        .node_args(pki.server_args(true))
        .client_tls(pki.client("ca.pem", true))
        .start()
        .await?;
    let scheduler = &cluster.scheduler_addrs[0];
    let path = |name: &str| pki.path(name).display().to_string();
    let with_cert = |ca: &str| {
        vec![
            "--tls-ca".to_owned(),
            path(ca),
            "--tls-cert".to_owned(),
            path("client.pem"),
            "--tls-key".to_owned(),
            path("client.key"),
        ]
    };

    // The control: the right CA and a client certificate run the job.
    let (ok, stderr, _) = submit_with_tls(scheduler, &with_cert("ca.pem"))?;
    assert!(ok, "the control job fails: {stderr}");

    // The wrong CA: the server's certificate is refused, once, at once.
    let (ok, stderr, took) = submit_with_tls(scheduler, &with_cert("other-ca.pem"))?;
    assert!(!ok, "a job against an untrusted server ran");
    assert!(took < Duration::from_secs(5), "failed after {took:?}, not at once: {stderr}");
    assert!(stderr.contains("tls error") && stderr.contains("certificate"), "names the reason: {stderr}");

    // No client certificate while the server demands one.
    let (ok, stderr, took) = submit_with_tls(scheduler, &["--tls-ca".to_owned(), path("ca.pem")])?;
    assert!(!ok, "a job without the client certificate ran");
    assert!(took < Duration::from_secs(5), "failed after {took:?}, not at once: {stderr}");
    assert!(stderr.contains("tls error") && stderr.contains("Certificate"), "names the reason: {stderr}");
    Ok(())
}

#[test]
fn a_server_that_cannot_read_its_token_refuses_to_start() -> anyhow::Result<()> {
    let missing = std::env::temp_dir().join(format!("passer-no-such-token-{}", std::process::id()));
    let missing = missing.display().to_string();
    for binary in ["passer-scheduler", "passer-node-monitor"] {
        let output = Command::new(bin_path(binary))
            .args(["--listen", passer_tests::ANY_PORT, "--token-file", &missing])
            .stdin(Stdio::null())
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{binary} must not start: {stderr}");
        assert!(stderr.contains("--token-file") && stderr.contains(&missing), "{binary} names the file: {stderr}");
    }
    Ok(())
}
