//! Observability on real processes: the counters scraped from `/metrics`
//! on the scheduler and the node monitors match a job that ran, and the
//! status page's JSON lists the nodes and the job.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::bail;
use futures::StreamExt;
use passer::JobSpec;
use passer_tests::{http_get, parse_metrics, Cluster, Within};

const TASKS: usize = 300;

fn sum_over(nodes: &[HashMap<String, f64>], key: &str) -> f64 {
    nodes.iter().map(|m| m.get(key).copied().unwrap_or(0.0)).sum()
}

fn scrape(address: &str) -> anyhow::Result<HashMap<String, f64>> {
    Ok(parse_metrics(&http_get(address, "/metrics")?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_the_job_that_ran() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).node_args(["--slots", "4"]).observability().start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let before = scrape(&cluster.scheduler_metrics_addrs[0])?;
    assert_eq!(before["passer_scheduler_tasks_launched_total"], 0.0);
    assert_eq!(before["passer_scheduler_nodes_up"], 2.0);

    let results = cluster
        .client()
        .run(JobSpec::uniform("metrics-job", "echo", TASKS, "x"))
        .within("the results of job metrics-job")
        .await??;
    assert_eq!(results.len(), TASKS);
    assert!(results.iter().all(|r| r.succeeded()));

    let n = TASKS as f64;
    let s = scrape(&cluster.scheduler_metrics_addrs[0])?;
    assert_eq!(s["passer_scheduler_jobs_accepted_total"], 1.0);
    assert_eq!(s["passer_scheduler_tasks_launched_total"], n, "launched = N");
    assert_eq!(s["passer_scheduler_tasks_finished_total"], n, "finished = N");
    assert_eq!(
        s["passer_scheduler_get_task_hits_total"] + s["passer_scheduler_offers_taken_total"],
        n,
        "every launch is a GetTask hit or an offer an idle node took"
    );
    assert_eq!(s["passer_scheduler_tasks_failed_total"], 0.0);
    assert_eq!(s["passer_scheduler_tasks_retried_total"], 0.0);
    assert_eq!(s["passer_scheduler_tasks_in_flight"], 0.0);
    assert_eq!(s["passer_scheduler_jobs_running"], 0.0);
    assert_eq!(s["passer_scheduler_scheduling_delay_seconds_count"], n, "one delay per result");
    assert_eq!(s["passer_scheduler_service_time_seconds_count"], n);
    assert_eq!(s["passer_scheduler_queueing_time_seconds_count"], n);
    assert!(s["passer_scheduler_reservations_queued_total"] >= n, "at least one reservation per task");

    // The node monitors saw the same tasks; their reservation counts settle
    // once proactive cancellation has landed (asynchronous), so wait for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let nodes: Vec<HashMap<String, f64>> =
            cluster.node_metrics_addrs.iter().map(|a| scrape(a)).collect::<anyhow::Result<_>>()?;
        let s = scrape(&cluster.scheduler_metrics_addrs[0])?;
        let settled = sum_over(&nodes, "passer_node_queue_length") == 0.0
            && sum_over(&nodes, "passer_node_tasks_running") == 0.0
            && sum_over(&nodes, "passer_node_reservations_cancelled_total")
                == s["passer_scheduler_reservations_cancelled_total"];
        if settled {
            assert_eq!(sum_over(&nodes, "passer_node_tasks_launched_total"), n, "node launches = N");
            assert_eq!(sum_over(&nodes, "passer_node_tasks_finished_total"), n, "node reports = N");
            assert_eq!(
                sum_over(&nodes, "passer_node_get_task_hits_total")
                    + sum_over(&nodes, "passer_node_offers_taken_total"),
                n
            );
            assert_eq!(sum_over(&nodes, "passer_node_tasks_failed_total"), 0.0);
            assert_eq!(sum_over(&nodes, "passer_node_service_time_seconds_count"), n);
            assert_eq!(
                sum_over(&nodes, "passer_node_reservations_queued_total"),
                s["passer_scheduler_reservations_queued_total"],
                "what the scheduler placed is what the nodes queued"
            );
            // Every queued reservation was redeemed or cancelled.
            assert_eq!(
                sum_over(&nodes, "passer_node_get_task_requested_total")
                    + sum_over(&nodes, "passer_node_reservations_cancelled_total"),
                sum_over(&nodes, "passer_node_reservations_queued_total"),
            );
            assert_eq!(sum_over(&nodes, "passer_node_slots{executor=\"echo\"}"), 8.0);
            assert_eq!(sum_over(&nodes, "passer_node_slots_busy{executor=\"echo\"}"), 0.0);
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("node metrics did not settle: {nodes:?}\nscheduler: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_lists_nodes_and_the_finished_job() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).observability().start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    cluster
        .client()
        .run(JobSpec::uniform("status-job", "echo", 20, "x"))
        .within("the results of job status-job")
        .await??;
    let status: serde_json::Value = serde_json::from_str(&http_get(&cluster.scheduler_http_addrs[0], "/api/status")?)?;
    let nodes = status["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2);
    for node in nodes {
        assert!(cluster.node_addrs.contains(&node["address"].as_str().unwrap_or_default().to_owned()));
        assert_eq!(node["up"], true);
    }
    let recent = status["jobs"]["recent"].as_array().expect("recent jobs");
    assert_eq!(recent[0]["job_id"], "status-job");
    assert_eq!(recent[0]["finished"], 20);
    assert_eq!(recent[0]["done"], true);
    assert_eq!(status["scheduler"]["tasks_finished"], 20);
    let page = http_get(&cluster.scheduler_http_addrs[0], "/")?;
    assert!(page.contains("<canvas id=\"chart-throughput\""));
    Ok(())
}

/// Single-task jobs are offered to idle nodes, and a job can end (its
/// result came on the node's session) before the offer's answer is
/// processed: the launch must still be counted, so launched = finished
/// and the scheduler's offers taken = the nodes'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launches_and_offers_agree_with_the_nodes_after_many_single_task_jobs() -> anyhow::Result<()> {
    const JOBS: usize = 400;
    let cluster = Cluster::builder().node_monitors(2).node_args(["--slots", "4"]).observability().start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let client = cluster.client();
    let runs = (0..JOBS).map(|index| {
        let client = client.clone();
        async move { client.run(JobSpec::uniform(format!("single-{index}"), "echo", 1, "x")).await }
    });
    let mut pending = futures::stream::iter(runs).buffer_unordered(8);
    let mut finished = 0;
    while let Some(outputs) = tokio::time::timeout(Duration::from_secs(30), pending.next())
        .await
        .map_err(|_| anyhow::anyhow!("no job finished within 30 s ({finished} of {JOBS} done)"))?
    {
        assert!(outputs?.iter().all(|output| output.succeeded()));
        finished += 1;
    }
    assert_eq!(finished, JOBS);

    let n = JOBS as f64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = scrape(&cluster.scheduler_metrics_addrs[0])?;
        let nodes: Vec<HashMap<String, f64>> =
            cluster.node_metrics_addrs.iter().map(|a| scrape(a)).collect::<anyhow::Result<_>>()?;
        let agreed = s["passer_scheduler_tasks_launched_total"] == n
            && s["passer_scheduler_tasks_finished_total"] == n
            && s["passer_scheduler_offers_taken_total"] == sum_over(&nodes, "passer_node_offers_taken_total");
        if agreed {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "counters disagree: launched {} finished {} offers taken {} (nodes {})",
                s["passer_scheduler_tasks_launched_total"],
                s["passer_scheduler_tasks_finished_total"],
                s["passer_scheduler_offers_taken_total"],
                sum_over(&nodes, "passer_node_offers_taken_total")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
