//! Scheduling policies on real processes: weighted fair shares between
//! tenants, strict priorities under a flood, and placement constraints.

use passer_tests::Within;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passer::{Client, JobSpec, TaskSpec};
use passer_proto::pb;
use passer_tests::Cluster;

/// Keeps `workers` jobs of `tenant` in flight until `until`, each of `tasks`
/// sleep tasks of `millis` ms at `priority`; adds the run time of every task
/// finishing inside [`from`, `until`) to `task_micros`.
#[allow(clippy::too_many_arguments)]
fn saturate(
    client: &Client,
    tenant: &'static str,
    priority: i32,
    workers: usize,
    tasks: usize,
    millis: u64,
    from: Instant,
    until: Instant,
    task_micros: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|worker| {
            let client = client.clone();
            let task_micros = Arc::clone(&task_micros);
            tokio::spawn(async move {
                for round in 0.. {
                    if Instant::now() >= until {
                        return;
                    }
                    let job =
                        JobSpec::uniform(format!("{tenant}-{worker}-{round}"), "sleep", tasks, millis.to_string())
                            .tenant(tenant)
                            .priority(priority);
                    let Ok(mut results) = client.submit(job).await else { continue };
                    while let Ok(Some(result)) = results.next().within("the next result").await {
                        let now = Instant::now();
                        if now >= until {
                            return;
                        }
                        if let Ok(output) = result {
                            if output.succeeded() && now >= from {
                                task_micros.fetch_add(output.run.as_micros() as u64, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_weighted_one_to_three_share_a_saturated_cluster() -> anyhow::Result<()> {
    // The weights share out the node monitors' queues. The scheduler's
    // adaptive admission (the default) keeps those queues at about one task
    // per four slots and leaves the backlog with the clients, first come
    // first served, where no weight applies; this test saturates the queues
    // themselves, so it admits by the fixed cap only.
    let cluster = Cluster::builder()
        .node_monitors(3)
        .node_args(["--builtin", "sleep", "--slots", "4", "--tenant-weight", "light=1", "--tenant-weight", "heavy=3"])
        .scheduler_args(["--admission", "fixed"])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 3).await?;
    let client = cluster.client();
    let start = Instant::now();
    let (from, until) = (start + Duration::from_secs(1), start + Duration::from_secs(20));
    let light = Arc::new(AtomicU64::new(0));
    let heavy = Arc::new(AtomicU64::new(0));
    let mut workers = saturate(&client, "light", 0, 8, 6, 40, from, until, Arc::clone(&light));
    workers.extend(saturate(&client, "heavy", 0, 8, 6, 40, from, until, Arc::clone(&heavy)));
    for worker in workers {
        tokio::time::timeout(Duration::from_secs(30), worker).await??;
    }
    let (light, heavy) = (light.load(Ordering::Relaxed) as f64, heavy.load(Ordering::Relaxed) as f64);
    let light_share = light / (light + heavy);
    println!(
        "completed task-time: light (weight 1) {:.1} s = {:.1}%, heavy (weight 3) {:.1} s = {:.1}%, ratio 1:{:.2}",
        light / 1e6,
        light_share * 100.0,
        heavy / 1e6,
        (1.0 - light_share) * 100.0,
        heavy / light
    );
    assert!(light > 0.0 && heavy > 0.0, "both tenants ran tasks");
    assert!((light_share - 0.25).abs() <= 0.025, "light's share {light_share:.3} is not within 10% of 1/4");
    Ok(())
}

/// Median response time (submission to last result) of `rounds` jobs run
/// one after another.
async fn median_response(client: &Client, tenant: &str, priority: i32, label: &str) -> anyhow::Result<Duration> {
    let mut times = Vec::new();
    for round in 0..15 {
        let job =
            JobSpec::uniform(format!("{tenant}-{label}-{round}"), "sleep", 4, "100").tenant(tenant).priority(priority);
        let started = Instant::now();
        let results = tokio::time::timeout(Duration::from_secs(10), client.run(job)).await??;
        anyhow::ensure!(results.iter().all(|r| r.succeeded()), "every urgent task succeeds");
        times.push(started.elapsed());
    }
    times.sort_unstable();
    Ok(times[times.len() / 2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_priority_tenant_keeps_its_response_time_under_a_flood() -> anyhow::Result<()> {
    // Priorities order the node monitors' queues, which the flood must
    // fill; adaptive admission (the default) would keep it at the clients.
    let cluster = Cluster::builder()
        .node_monitors(3)
        .node_args(["--builtin", "sleep", "--slots", "4", "--max-priority", "urgent=10"])
        .scheduler_args(["--admission", "fixed"])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 3).await?;
    let client = cluster.client();
    let alone = median_response(&client, "urgent", 10, "alone").await?;

    // The flood claims priority 100, but its tenant is capped at the default 0.
    let start = Instant::now();
    let until = start + Duration::from_secs(60);
    let flooded_time = Arc::new(AtomicU64::new(0));
    let flood = saturate(&client, "bulk", 100, 8, 24, 20, start, until, Arc::clone(&flooded_time));
    let busy = tokio::time::Instant::now() + Duration::from_secs(10);
    while cluster.stats(0).await?.nodes.iter().map(|n| n.slots_busy).sum::<u32>() < 12 {
        anyhow::ensure!(tokio::time::Instant::now() < busy, "the flood never filled the cluster");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let flooded = median_response(&client, "urgent", 10, "flooded").await;
    let queued: u32 = cluster.stats(0).await?.nodes.iter().map(|n| n.queue_length).sum();
    for worker in flood {
        worker.abort();
    }
    let flooded = flooded?;
    println!(
        "urgent median response: alone {:.1} ms, under a flood {:.1} ms ({:+.1}%), flood reservations queued {queued}, flood task-time {:.1} s",
        alone.as_secs_f64() * 1e3,
        flooded.as_secs_f64() * 1e3,
        (flooded.as_secs_f64() / alone.as_secs_f64() - 1.0) * 100.0,
        flooded_time.load(Ordering::Relaxed) as f64 / 1e6,
    );
    assert!(queued > 0, "the flood kept reservations queued while urgent jobs ran");
    assert!(flooded.as_secs_f64() <= alone.as_secs_f64() * 1.2, "more than 20% slower under the flood");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// `usize::is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
#[allow(clippy::manual_is_multiple_of)]
async fn constrained_tasks_run_only_on_matching_nodes() -> anyhow::Result<()> {
    let cluster = Cluster::builder()
        .node_monitors(3)
        .node_args(["--builtin", "sleep", "--slots", "2"])
        .node_args_for(0, ["--label", "zone=a"])
        .node_args_for(1, ["--label", "zone=a"])
        .node_args_for(2, ["--label", "zone=b"])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 3).await?;
    let zone_a = &cluster.node_addrs[..2];
    let client = cluster.client();

    let mut job = JobSpec::new("mixed");
    for index in 0..40 {
        let task = TaskSpec::new(format!("t{index}"), "sleep", "20");
        job = job.task(if index % 2 == 0 { task.constraint("zone=a") } else { task });
    }
    let results = tokio::time::timeout(Duration::from_secs(30), client.run(job)).await??;
    assert_eq!(results.len(), 40, "every task has its result");
    let mut unconstrained_nodes = std::collections::HashSet::new();
    for result in &results {
        assert!(result.succeeded(), "{} failed: {}", result.task_id, result.error);
        let index: usize = result.task_id[1..].parse()?;
        if index % 2 == 0 {
            assert!(zone_a.contains(&result.node_id), "{} ran on {} outside zone=a", result.task_id, result.node_id);
        } else {
            unconstrained_nodes.insert(result.node_id.clone());
        }
    }
    println!("unconstrained tasks ran on {} nodes", unconstrained_nodes.len());

    // A job-level constraint applies to every task.
    let job = JobSpec::uniform("zone-b", "sleep", 6, "5").constraint("zone=b");
    let results = tokio::time::timeout(Duration::from_secs(30), client.run(job)).await??;
    assert!(results.iter().all(|r| r.succeeded() && r.node_id == cluster.node_addrs[2]), "{results:?}");

    // A constraint no node satisfies fails fast, naming it.
    let mut scheduler = cluster.scheduler_client(0).await?;
    let impossible = pb::SubmitJobRequest {
        job_id: "nowhere".into(),
        tasks: vec![
            pb::TaskSpec { task_id: "ok".into(), executor: "sleep".into(), ..Default::default() },
            pb::TaskSpec {
                task_id: "gpu".into(),
                executor: "sleep".into(),
                constraints: vec!["zone=a".into(), "gpu=true".into()],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let status = scheduler.submit_job(impossible).await.expect_err("no node has gpu=true");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("tasks[1].constraints") && status.message().contains("gpu=true"),
        "{}",
        status.message()
    );
    Ok(())
}
