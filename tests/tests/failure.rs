//! The contract on failure, proved by killing real processes: node monitor
//! loss, executor crashes, scheduler failover, overload, deadlines,
//! cancellation and restarts. Every task ends with exactly one result.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use passer::{JobSpec, TaskOutput, TaskSpec};
use passer_proto::pb::TaskStatus;
use passer_tests::process::{children_of, peak_rss_kib};
use passer_tests::{bin_path, Cluster, Within};

fn assert_one_result_each(results: &[TaskOutput], expected: usize) {
    assert_eq!(results.len(), expected, "one result per task");
    let ids: HashSet<&str> = results.iter().map(|r| r.task_id.as_str()).collect();
    assert_eq!(ids.len(), expected, "no task got two results");
}

/// `nodes` node monitors, each supervising one `passer executor` process
/// with `slots` sleep slots (and no built-in executors), plus `extra` flags.
async fn supervising_cluster(nodes: usize, slots: u32, extra: &[&str]) -> anyhow::Result<Cluster> {
    let executor = format!("{} executor --builtin sleep --slots {slots}", bin_path("passer").display());
    Cluster::builder()
        .node_monitors(nodes)
        .node_args(["--builtin".to_owned(), String::new(), "--executor".to_owned(), executor])
        .node_args(extra.iter().copied())
        .start()
        .await
}

fn sleep_job(job_id: &str, count: usize, millis: u64) -> JobSpec {
    JobSpec::uniform(job_id, "sleep", count, millis.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_node_monitor_mid_job_loses_nothing() -> anyhow::Result<()> {
    let mut cluster = Cluster::builder().node_monitors(3).node_args(["--slots", "4"]).start().await?;
    cluster.wait_nodes_up(0, 3).await?;
    let client = cluster.client();
    let mut results = client.submit(sleep_job("kill-node", 2000, 5)).await?;
    let mut collected = Vec::new();
    while let Some(result) = results.next().within("the next result").await? {
        collected.push(result?);
        if collected.len() == 300 {
            cluster.node_monitors[1].signal(Signal::SIGKILL);
        }
    }
    assert_one_result_each(&collected, 2000);
    let failed: Vec<&TaskOutput> = collected.iter().filter(|r| !r.succeeded()).collect();
    assert!(failed.is_empty(), "all succeed after the node's loss: {:?}", failed.first());
    let stats = cluster.stats(0).await?;
    println!("retried {} attempts after the node monitor was killed", stats.tasks_retried);
    cluster.node_monitors[1].kill();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_executor_process_is_retried_or_named() -> anyhow::Result<()> {
    let cluster = supervising_cluster(1, 2, &[]).await?;
    cluster.wait_nodes_up(0, 1).await?;
    let node = &cluster.node_monitors[0];
    let client = cluster.client();

    // With retries: the task survives its executor's death.
    let mut results = client.submit(JobSpec::new("crash-retry").task(TaskSpec::new("t", "sleep", "1500"))).await?;
    cluster.wait_node_busy(0, 1).await?;
    let victims = node.children();
    assert_eq!(victims.len(), 1, "one supervised executor process");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victims[0] as i32), Signal::SIGKILL)?;
    let result = results.next().within("the next result").await?.expect("a result")?;
    assert!(result.succeeded(), "retried on the restarted executor: {}", result.error);
    assert_eq!(result.attempt, 2);
    assert!(results.next().within("the next result").await?.is_none());

    // Without retries: the failure names the crash.
    cluster.wait_nodes_up(0, 1).await?;
    let task = TaskSpec::new("t", "sleep", "1500").max_attempts(1);
    let mut results = client.submit(JobSpec::new("crash-final").task(task)).await?;
    cluster.wait_node_busy(0, 1).await?;
    for pid in node.children() {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL)?;
    }
    let result = results.next().within("the next result").await?.expect("a result")?;
    assert_eq!(result.status, TaskStatus::Failed);
    assert!(result.error.contains("executor exited with status"), "{}", result.error);
    println!("crash reported as: {}", result.error);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_killed_with_tasks_queued_in_it_loses_nothing() -> anyhow::Result<()> {
    // `passer executor` queues tasks beyond its slot; with --prefetch-per-slot
    // the node monitor sends it up to 8 ahead, so a kill takes queued tasks too.
    let cluster = supervising_cluster(2, 1, &["--prefetch-per-slot", "8"]).await?;
    cluster.wait_nodes_up(0, 2).await?;
    let client = cluster.client();
    let mut results = client.submit(sleep_job("kill-queued", 600, 2)).await?;
    let mut collected = Vec::new();
    while let Some(result) = results.next().within("the next result").await? {
        collected.push(result?);
        if collected.len() == 150 {
            let victims = cluster.node_monitors[0].children();
            assert_eq!(victims.len(), 1, "one supervised executor process");
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(victims[0] as i32), Signal::SIGKILL)?;
        }
    }
    assert_one_result_each(&collected, 600);
    let failed: Vec<&TaskOutput> = collected.iter().filter(|r| !r.succeeded()).collect();
    assert!(failed.is_empty(), "all succeed after the executor's death: {:?}", failed.first());
    let retried = collected.iter().filter(|r| r.attempt > 1).count();
    assert!(retried >= 1, "the killed executor's running and queued tasks ran again elsewhere");
    println!("{retried} tasks retried after their executor was killed with tasks queued");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_monitor_leaves_no_executor_behind() -> anyhow::Result<()> {
    let cluster = supervising_cluster(1, 1, &[]).await?;
    cluster.wait_nodes_up(0, 1).await?;
    let executors = cluster.node_monitors[0].children();
    assert_eq!(executors.len(), 1, "one supervised executor process");
    let pid = executors[0];
    cluster.node_monitors[0].signal(Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    let gone = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |stat| stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')))
    };
    while !gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone(pid), "executor {pid} outlived its SIGKILLed node monitor by 10 s");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_fails_over_when_its_scheduler_dies() -> anyhow::Result<()> {
    let mut cluster = Cluster::builder().schedulers(2).node_monitors(3).start().await?;
    cluster.wait_nodes_up(0, 3).await?;
    cluster.wait_nodes_up(1, 3).await?;
    let client = cluster.client();
    let mut results = client.submit(sleep_job("failover", 600, 10)).await?;
    let first_scheduler = results.scheduler().to_owned();
    let victim = cluster
        .scheduler_addrs
        .iter()
        .position(|a| first_scheduler.contains(a.as_str()))
        .expect("serving scheduler is ours");
    let mut collected = Vec::new();
    let mut killed_at: Option<Instant> = None;
    let mut first_after_kill: Option<Duration> = None;
    while let Some(result) = results.next().within("the next result").await? {
        collected.push(result?);
        if collected.len() == 100 && killed_at.is_none() {
            cluster.schedulers[victim].signal(Signal::SIGKILL);
            killed_at = Some(Instant::now());
        }
        if let Some(at) = killed_at {
            if first_after_kill.is_none() && results.scheduler() != first_scheduler {
                first_after_kill = Some(at.elapsed());
            }
        }
    }
    assert_one_result_each(&collected, 600);
    assert!(collected.iter().all(TaskOutput::succeeded));
    assert_eq!(results.failovers(), 1);
    let gap = first_after_kill.expect("results came through the second scheduler");
    println!("kill to first result through the new scheduler: {:.1} ms", gap.as_secs_f64() * 1000.0);
    cluster.schedulers[victim].kill();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_pushes_back_and_everything_completes() -> anyhow::Result<()> {
    // 3 nodes x 50 reservations = 150 queued at most; offer 20x that at once.
    let cluster = Cluster::builder()
        .node_monitors(3)
        .node_args(["--queue-capacity", "50", "--slots", "4"])
        .scheduler_args(["--max-inflight-tasks", "150"])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 3).await?;
    let client = cluster.client();
    let jobs = (0..60).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut results = client.submit(JobSpec::uniform(format!("flood-{i}"), "echo", 50, "x")).await?;
            let mut outputs = Vec::new();
            while let Some(result) = results.next().within("the next result").await? {
                outputs.push(result?);
            }
            anyhow::Ok((outputs, results.rejections(), results.waited()))
        })
    });
    let mut rejections = 0;
    let mut waited = Duration::ZERO;
    let mut total = 0;
    for job in futures::future::join_all(jobs).await {
        let (outputs, rejected, wait) = job??;
        assert_one_result_each(&outputs, 50);
        assert!(outputs.iter().all(TaskOutput::succeeded));
        total += outputs.len();
        rejections += rejected;
        waited += wait;
    }
    assert_eq!(total, 3000);
    let stats = cluster.stats(0).await?;
    println!("3000 tasks offered at once: {rejections} rejections retried by the SDK, {} ms waited in all, {} reservations refused by full queues", waited.as_millis(), stats.reservations_refused);
    assert!(rejections > 0, "admission control pushed back");
    let bound_kib = 100 * 1024;
    for process in cluster.schedulers.iter().chain(&cluster.node_monitors) {
        let peak = peak_rss_kib(process.pid()).expect("readable /proc status");
        println!("{} peak RSS {} KiB", process.name, peak);
        assert!(peak < bound_kib, "{} peaked at {peak} KiB, over the {bound_kib} KiB bound", process.name);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_task_fails_and_frees_its_slot() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).node_args(["--slots", "1"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let job = JobSpec::new("deadline")
        .task(TaskSpec::new("slow", "sleep", "5000").timeout(Duration::from_millis(200)).max_attempts(1))
        .task(TaskSpec::new("next", "sleep", "10"));
    let started = Instant::now();
    let results = cluster.client().run(job).within("the job's results").await??;
    assert_one_result_each(&results, 2);
    let slow = results.iter().find(|r| r.task_id == "slow").expect("slow result");
    assert_eq!(slow.status, TaskStatus::Failed);
    assert!(slow.error.contains("deadline exceeded"), "{}", slow.error);
    let next = results.iter().find(|r| r.task_id == "next").expect("next result");
    assert!(next.succeeded());
    assert!(started.elapsed() < Duration::from_secs(4), "the one slot was reclaimed at the deadline");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_closes_every_task() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).node_args(["--slots", "2"]).start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let client = cluster.client();
    let mut results = client.submit(sleep_job("to-cancel", 200, 50)).await?;
    let mut collected = vec![results.next().within("the next result").await?.expect("first result")?];
    assert!(client.cancel("to-cancel").await?, "scheduler found the job");
    while let Some(result) = results.next().within("the next result").await? {
        collected.push(result?);
    }
    assert_one_result_each(&collected, 200);
    let cancelled = collected.iter().filter(|r| r.status == TaskStatus::Cancelled).count();
    let succeeded = collected.iter().filter(|r| r.succeeded()).count();
    assert_eq!(cancelled + succeeded, 200, "only CANCELLED or SUCCEEDED");
    assert!(cancelled > 100, "most tasks never ran: {cancelled} cancelled");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_monitor_takes_work_at_once() -> anyhow::Result<()> {
    let mut cluster = Cluster::builder().node_monitors(1).scheduler_args(["--node-poll-ms", "100"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let client = cluster.client();
    assert_eq!(
        client.run(JobSpec::uniform("before", "echo", 10, "x")).within("the results of job before").await??.len(),
        10
    );
    cluster.node_monitors[0].kill();
    cluster.restart_node_monitor(0).await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client
            .run(JobSpec::uniform(format!("after-{}", deadline.elapsed().as_nanos()), "echo", 10, "x"))
            .within("the job's results")
            .await?
        {
            Ok(results) => {
                assert!(results.iter().all(TaskOutput::succeeded));
                break;
            }
            Err(error) if Instant::now() < deadline => {
                println!("not yet: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
    assert!(children_of(cluster.node_monitors[0].pid()).is_empty(), "built-in executors run in-process");
    Ok(())
}
