//! The web status page in a real browser: a cluster with traffic, the page
//! loaded by headless Chromium (Debian's `chromium`, installed by
//! `.ci/chromium.sh`), the rendered DOM checked for the node list and drawn
//! charts, and a screenshot (saved as `docs/status-page.png`, the README's picture,
//! when `PASSER_UPDATE_DOCS` is set; in the temp dir otherwise).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use passer::JobSpec;
use passer_tests::{http_get, Cluster};

/// The browser: `PASSER_CHROMIUM`, or `chromium` on the PATH.
fn chromium() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("PASSER_CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("chromium")).find(|p| p.exists()));
    found.context("chromium is not installed: run .ci/chromium.sh (or set PASSER_CHROMIUM)")
}

/// Runs headless Chromium with `args` against `url`; returns its stdout.
fn run_chromium(profile: &Path, args: &[String], url: &str) -> anyhow::Result<String> {
    let out_path = profile.join(format!("stdout-{}.txt", args.len()));
    let err_path = profile.join(format!("stderr-{}.txt", args.len()));
    let mut child = Command::new(chromium()?)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()
        .context("start chromium")?;
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("chromium did not finish in 90 s: {}", std::fs::read_to_string(&err_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        bail!("chromium failed ({status}): {}", std::fs::read_to_string(&err_path).unwrap_or_default());
    }
    Ok(std::fs::read_to_string(&out_path)?)
}

/// Waits until the scheduler's history holds `points` chart points.
async fn wait_history(http: &str, points: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status: serde_json::Value = serde_json::from_str(&http_get(http, "/api/status")?)?;
        if status["history"].as_array().map_or(0, Vec::len) >= points {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("history has fewer than {points} points after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_renders_nodes_and_charts_in_chromium() -> anyhow::Result<()> {
    let cluster = Cluster::builder()
        .node_monitors(3)
        .node_args(["--slots", "4", "--label", "zone=a"])
        .observability()
        .start()
        .await?;
    cluster.wait_nodes_up(0, 3).await?;
    let http = cluster.scheduler_http_addrs[0].clone();

    // Traffic for the charts: quick jobs, then a slower one still running
    // while the page is captured.
    let client = cluster.client();
    for round in 0..3 {
        client.run(JobSpec::uniform(format!("echo-{round}"), "echo", 400, b"x")).await?;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // Many single-task jobs: folded into one summary row, not a row each.
    for index in 0..30 {
        client.run(JobSpec::uniform(format!("single-{index}"), "echo", 1, b"x")).await?;
    }
    let slow_client = cluster.client();
    let slow = tokio::spawn(async move {
        slow_client.run(JobSpec::uniform("sleepy-job", "sleep", 240, b"250")).await.map(|r| r.len())
    });
    wait_history(&http, 5).await?;

    let profile = std::env::temp_dir().join(format!("passer-chromium-{}", std::process::id()));
    std::fs::create_dir_all(&profile)?;
    let url = format!("http://{http}/");
    let budget = "--virtual-time-budget=4000".to_owned();
    let dom = run_chromium(&profile, &[budget.clone(), "--dump-dom".to_owned()], &url)?;

    assert!(dom.contains("data-loaded=\"true\""), "the page never loaded its status:\n{dom}");
    assert_eq!(dom.matches("<tr class=\"node\"").count(), 3, "one row per node monitor:\n{dom}");
    for address in &cluster.node_addrs {
        assert!(dom.contains(address.as_str()), "node {address} missing from the page");
    }
    assert!(dom.contains("zone=a"), "labels shown");
    for chart in ["chart-throughput", "chart-latency", "chart-load"] {
        let tag = dom.split(&format!("id=\"{chart}\"")).nth(1).context("chart canvas missing")?;
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        assert!(tag.contains("data-drawn=\"true\""), "{chart} not drawn: {tag}");
        assert!(!tag.contains("data-points=\"0\""), "{chart} has no points: {tag}");
    }
    assert!(dom.contains("echo-0"), "finished jobs listed");
    assert!(dom.contains("30 single-task jobs"), "single-task jobs folded into a summary row:\n{dom}");
    assert!(!dom.contains(">single-7<"), "a single-task job has a row of its own:\n{dom}");

    // The README's picture is refreshed only on request, so a test run leaves
    // the work tree clean: `PASSER_UPDATE_DOCS=1` writes docs/status-page.png.
    let screenshot = if std::env::var_os("PASSER_UPDATE_DOCS").is_some() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/status-page.png")
    } else {
        std::env::temp_dir().join(format!("passer-status-page-{}.png", std::process::id()))
    };
    std::fs::create_dir_all(screenshot.parent().context("docs dir")?)?;
    let _ = std::fs::remove_file(&screenshot);
    run_chromium(
        &profile,
        &[budget, "--window-size=1280,1100".to_owned(), format!("--screenshot={}", screenshot.display())],
        &url,
    )?;
    let png = std::fs::read(&screenshot).context("no screenshot written")?;
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "screenshot is not a real PNG ({} bytes)", png.len());
    if std::env::var_os("PASSER_UPDATE_DOCS").is_none() {
        let _ = std::fs::remove_file(&screenshot);
    }

    assert_eq!(slow.await??, 240);
    let _ = std::fs::remove_dir_all(&profile);
    Ok(())
}
