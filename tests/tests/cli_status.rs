//! `passer status` against a cluster with mutual TLS and a token, as an
//! operator runs it: the same security flags as `passer submit`
//! (`--tls-ca`, `--tls-cert`, `--tls-key`, and the token from
//! `--token-file`); without the token the scheduler shows as down with the
//! reason, cut short in the table and whole under it.

use std::process::Command;

use anyhow::ensure;
use passer_tests::certs::TestPki;
use passer_tests::{bin_path, Cluster};

const TOKEN: &str = "status-cluster-token";

fn passer_status(args: &[String]) -> anyhow::Result<(i32, String)> {
    let output = Command::new(bin_path("passer")).arg("status").args(args).env_remove("PASSER_TOKEN").output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Ok((output.status.code().unwrap_or(-1), text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_takes_tls_flags_and_a_token_file() -> anyhow::Result<()> {
    let pki = TestPki::generate()?;
    let cluster = Cluster::builder()
        .node_monitors(1)
        .scheduler_args(pki.server_args(true))
        .node_args(pki.server_args(true))
        .env("PASSER_TOKEN", TOKEN)
        .client_tls(pki.client("ca.pem", true))
        .start()
        .await?;
    let token_file = pki.dir().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n"))?;
    let scheduler = cluster.scheduler_addrs[0].clone();
    let tls = [
        "--tls-ca".to_owned(),
        pki.path("ca.pem").display().to_string(),
        "--tls-cert".to_owned(),
        pki.path("client.pem").display().to_string(),
        "--tls-key".to_owned(),
        pki.path("client.key").display().to_string(),
    ];
    let mut with_token = vec!["--scheduler".to_owned(), scheduler.clone(), "--sample".to_owned(), "0.2".to_owned()];
    with_token.extend(tls.iter().cloned());
    let without_token = with_token.clone();
    with_token.extend(["--token-file".to_owned(), token_file.display().to_string()]);

    let (code, text) = passer_status(&with_token)?;
    ensure!(code == 0, "passer status with the token failed ({code}):\n{text}");
    let row = text.lines().find(|line| line.starts_with(&scheduler)).unwrap_or_default();
    ensure!(row.contains(" up "), "the scheduler is not up:\n{text}");

    let (code, text) = passer_status(&without_token)?;
    ensure!(code == 1, "passer status without the token should exit 1, got {code}:\n{text}");
    ensure!(text.contains("down: "), "no down state:\n{text}");
    ensure!(text.to_lowercase().contains("token"), "the reason does not name the token:\n{text}");
    Ok(())
}
