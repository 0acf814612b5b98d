//! The web status page in a real browser: a cluster with traffic, the page
//! loaded by headless Chromium (Debian's `chromium`, installed by
//! `.ci/chromium.sh`), the rendered DOM checked for the node list and drawn
//! charts; then the job view (`#job=ID`, `GET /api/jobs/{id}`): a failed
//! task listed first with its error, the running ones after it, and
//! `POST /api/jobs/{id}/cancel` ending them CANCELLED. The job view's
//! screenshot is saved as `docs/status-page.png`, the README's picture,
//! when `PASSER_UPDATE_DOCS` is set (in the temp dir otherwise).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use passer::{JobSpec, TaskSpec};
use passer_proto::pb;
use passer_tests::{http_get, http_request, Cluster, Within};

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

/// Screenshots `url` (1280 px wide, `height` tall) and checks it is a real
/// PNG. With `PASSER_UPDATE_DOCS` set it is kept as `docs/<name>` (the
/// README's picture) when a name is given; otherwise it goes to the
/// browser profile, removed with it, so a test run leaves the tree clean.
fn screenshot(profile: &Path, budget: String, url: &str, docs: Option<&str>, height: u32) -> anyhow::Result<()> {
    let path = match docs {
        Some(name) if std::env::var_os("PASSER_UPDATE_DOCS").is_some() => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs").join(name)
        }
        _ => profile.join("screenshot.png"),
    };
    let _ = std::fs::remove_file(&path);
    let size = format!("--window-size=1280,{height}");
    run_chromium(profile, &[budget, size, format!("--screenshot={}", path.display())], url)?;
    let png = std::fs::read(&path).context("no screenshot written")?;
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "screenshot is not a real PNG ({} bytes)", png.len());
    Ok(())
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
        client.run(JobSpec::uniform(format!("echo-{round}"), "echo", 400, "x")).within("the job's results").await??;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // Many single-task jobs: folded into one summary row, not a row each.
    for index in 0..30 {
        client.run(JobSpec::uniform(format!("single-{index}"), "echo", 1, "x")).within("the job's results").await??;
    }
    let slow_client = cluster.client();
    let slow = tokio::spawn(async move {
        let results = slow_client.run(JobSpec::uniform("sleepy-job", "sleep", 240, "250"));
        anyhow::Ok(results.within("the results of job sleepy-job").await??.len())
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

    screenshot(&profile, budget, &url, None, 1100)?;

    assert_eq!(slow.await??, 240);
    let _ = std::fs::remove_dir_all(&profile);
    Ok(())
}

/// The header the page sends with a cancel.
const PAGE_HEADER: (&str, &str) = ("X-Requested-With", "passer-status-page");

/// Polls `GET /api/jobs/{job_id}` until `done` holds of its JSON (20 s at most).
async fn wait_job_view(
    http: &str,
    job_id: &str,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> anyhow::Result<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = http_request(http, "GET", &format!("/api/jobs/{job_id}"), &[])?;
        ensure!(status == 200, "GET /api/jobs/{job_id} answered {status}: {body}");
        let view: serde_json::Value = serde_json::from_str(&body)?;
        if done(&view) {
            return Ok(view);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the job view never showed {what} in 20 s: {view}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_view_lists_failures_first_and_cancels_in_chromium() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).node_args(["--slots", "4"]).observability().start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let http = cluster.scheduler_http_addrs[0].clone();
    let client = cluster.client();
    // Traffic for the charts, spread over a few seconds.
    for round in 0..5 {
        client
            .run(JobSpec::uniform(format!("warm-up-{round}"), "echo", 300, "x"))
            .within("the job's results")
            .await??;
        tokio::time::sleep(Duration::from_millis(600)).await;
    }

    // Six tasks that run for a minute and one whose payload `sleep` rejects.
    let mut job = JobSpec::new("mixed-job");
    for index in 0..6 {
        job = job.task(TaskSpec::new(format!("long-{index}"), "sleep", "60000"));
    }
    job = job.task(TaskSpec::new("bad-payload", "sleep", "soon"));
    let mut results = client.submit(job).await?;
    let first = tokio::time::timeout(Duration::from_secs(20), results.next())
        .await
        .context("no result within 20 s")?
        .context("the result stream ended")??;
    ensure!(first.task_id == "bad-payload" && first.status == pb::TaskStatus::Failed, "first result: {first:?}");

    let view = wait_job_view(&http, "mixed-job", "six running tasks", |v| v["counts"]["running"] == 6).await?;
    assert_eq!(view["state"], "running");
    assert_eq!(view["tasks_total"], 7);
    let tasks = view["tasks"].as_array().context("tasks listed")?;
    assert_eq!(tasks.len(), 7);
    assert_eq!(tasks[0]["task_id"], "bad-payload", "the failure comes first: {view}");
    assert_eq!(tasks[0]["state"], "failed");
    let error = tasks[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("is not a decimal number of milliseconds"), "the failure's error is shown: {error}");
    for task in &tasks[1..] {
        assert_eq!(task["state"], "running", "running tasks after the failure: {view}");
        assert_eq!(task["attempt"], 1);
        assert!(!task["node"].as_str().unwrap_or_default().is_empty(), "a running task names its node: {task}");
    }
    let (status, body) = http_request(&http, "GET", "/api/jobs/no-such-job", &[])?;
    assert_eq!(status, 404, "an unknown job: {body}");
    assert!(body.contains("no-such-job"), "the 404 names the job: {body}");

    // The page opened on the job: its task rows, the failure first.
    wait_history(&http, 6).await?;
    let profile = std::env::temp_dir().join(format!("passer-chromium-job-{}", std::process::id()));
    std::fs::create_dir_all(&profile)?;
    let url = format!("http://{http}/#job=mixed-job");
    let budget = "--virtual-time-budget=4000".to_owned();
    let dom = run_chromium(&profile, &[budget.clone(), "--dump-dom".to_owned()], &url)?;
    assert!(dom.contains("data-loaded=\"mixed-job\""), "the job view never loaded:\n{dom}");
    assert_eq!(dom.matches("<tr class=\"task failed\"").count(), 1, "one failed task row:\n{dom}");
    assert_eq!(dom.matches("<tr class=\"task running\"").count(), 6, "six running task rows:\n{dom}");
    let failed_at = dom.find("<tr class=\"task failed\"").context("failed row")?;
    assert!(failed_at < dom.find("<tr class=\"task running\"").context("running row")?, "the failure is listed first");
    assert!(dom.contains("is not a decimal number of milliseconds"), "the error text is on the page");
    screenshot(&profile, budget, &url, Some("status-page.png"), 1300)?;
    let unknown = format!("http://{http}/#job=no-such-job");
    let dom = run_chromium(&profile, &["--virtual-time-budget=3000".to_owned(), "--dump-dom".to_owned()], &unknown)?;
    assert!(dom.contains("no job \"no-such-job\" on this scheduler"), "an unknown job is named on the page:\n{dom}");

    // A cancel without the page's header (as a form on another site would
    // send it) is refused; the page's own cancel ends the running tasks.
    let cancel = "/api/jobs/mixed-job/cancel";
    let (status, body) = http_request(&http, "POST", cancel, &[])?;
    assert_eq!(status, 403, "a cancel without X-Requested-With: {body}");
    assert!(body.contains("X-Requested-With"), "the refusal says what is missing: {body}");
    let (status, body) = http_request(&http, "POST", cancel, &[PAGE_HEADER])?;
    assert_eq!(status, 200, "cancel answered {status}: {body}");
    let mut cancelled = 0;
    while let Some(result) =
        tokio::time::timeout(Duration::from_secs(20), results.next()).await.context("results stalled")?
    {
        let result = result?;
        assert_eq!(result.status, pb::TaskStatus::Cancelled, "{result:?}");
        cancelled += 1;
    }
    assert_eq!(cancelled, 6, "every running task ended CANCELLED");
    let view = wait_job_view(&http, "mixed-job", "the finished job", |v| v["state"] == "finished").await?;
    assert_eq!(view["counts"]["cancelled"], 6, "{view}");
    assert_eq!(view["tasks"][0]["task_id"], "bad-payload", "still failures first from the kept results: {view}");
    let (status, body) = http_request(&http, "POST", cancel, &[PAGE_HEADER])?;
    assert_eq!(status, 409, "cancelling a finished job: {body}");
    let _ = std::fs::remove_dir_all(&profile);
    Ok(())
}
