//! Metrics as a real Prometheus meets them: Debian's `promtool check
//! metrics` accepts both servers' `/metrics` (the Prometheus text format
//! a plain scraper gets), and a `prometheus` server scraping a running
//! cluster (it asks for OpenMetrics) answers a query with the job's count.
//! Both tools come from `.ci/prometheus.sh` (or `PASSER_PROMTOOL`,
//! `PASSER_PROMETHEUS`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use passer::JobSpec;
use passer_tests::{http_get, Cluster, Within};

const TASKS: usize = 200;

/// `variable`, else `name` on the PATH.
fn tool(variable: &str, name: &str) -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var(variable) {
        return Ok(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.exists()));
    found.with_context(|| format!("{name} is not installed: run .ci/prometheus.sh (or set {variable})"))
}

/// Runs `promtool check metrics` on `exposition`; its complaints on failure.
fn promtool_check(exposition: &str) -> anyhow::Result<()> {
    let mut child = Command::new(tool("PASSER_PROMTOOL", "promtool")?)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start promtool")?;
    child.stdin.take().context("promtool stdin")?.write_all(exposition.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "promtool check metrics failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Every server's `/metrics` passes `promtool check metrics` and carries
/// the standard process series and the build info.
fn check_with_promtool(cluster: &Cluster) -> anyhow::Result<()> {
    let servers = cluster.scheduler_metrics_addrs.iter().chain(&cluster.node_metrics_addrs);
    for address in servers {
        let exposition = http_get(address, "/metrics")?;
        promtool_check(&exposition).with_context(|| format!("metrics of {address}"))?;
        for series in ["process_cpu_seconds_total ", "process_resident_memory_bytes ", "passer_build_info{"] {
            assert!(exposition.contains(series), "{address} has no {series}:\n{exposition}");
        }
    }
    Ok(())
}

/// A loopback address of its own for Prometheus (it cannot report a port it
/// chose), so parallel tests never compete for one port.
fn prometheus_listen_address() -> String {
    let pid = std::process::id();
    format!("127.{}.{}.{}:9090", 100 + (pid >> 16) % 100, (pid >> 8) % 256, 1 + pid % 250)
}

/// A Prometheus server killed when dropped.
struct Prometheus {
    child: std::process::Child,
    address: String,
    data: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn start_prometheus(targets: &[String]) -> anyhow::Result<Prometheus> {
    let data = std::env::temp_dir().join(format!("passer-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data)?;
    let quoted: Vec<String> = targets.iter().map(|target| format!("'{target}'")).collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: passer\n    static_configs:\n      - targets: [{}]\n",
        quoted.join(", ")
    );
    let config_path = data.join("prometheus.yml");
    std::fs::write(&config_path, config)?;
    let address = prometheus_listen_address();
    let log = std::fs::File::create(data.join("prometheus.log"))?;
    let child = Command::new(tool("PASSER_PROMETHEUS", "prometheus")?)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.tsdb.path={}", data.join("tsdb").display()))
        .arg(format!("--web.listen-address={address}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("start prometheus")?;
    Ok(Prometheus { child, address, data })
}

/// The single value of an instant query, if Prometheus has one yet.
fn query_value(prometheus: &Prometheus, query: &str) -> Option<f64> {
    let encoded: String = query
        .bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect();
    let body = http_get(&prometheus.address, &format!("/api/v1/query?query={encoded}")).ok()?;
    let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
    let value = answer["data"]["result"].get(0)?["value"][1].as_str()?;
    value.parse().ok()
}

// One test, one cluster: the servers' ports are picked before they bind,
// and Prometheus' own outgoing scrape connections must not race for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_a_real_prometheus_scrape() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).observability().start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    cluster
        .client()
        .run(JobSpec::uniform("prometheus-job", "echo", TASKS, "x"))
        .within("the results of job prometheus-job")
        .await??;
    check_with_promtool(&cluster)?;

    let targets: Vec<String> =
        cluster.scheduler_metrics_addrs.iter().chain(&cluster.node_metrics_addrs).cloned().collect();
    let prometheus = start_prometheus(&targets)?;

    let queries = [
        ("count(up == 1)", targets.len() as f64),
        ("sum(passer_scheduler_tasks_finished_total)", TASKS as f64),
        ("sum(passer_node_tasks_finished_total)", TASKS as f64),
        ("count(passer_build_info)", targets.len() as f64),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (query, expected) in queries {
        loop {
            let value_opt = query_value(&prometheus, query);
            if value_opt == Some(expected) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let log = std::fs::read_to_string(prometheus.data.join("prometheus.log")).unwrap_or_default();
                let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                bail!("prometheus answered {query} with {value_opt:?}, expected {expected}; its log (newest first):\n{tail}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}
