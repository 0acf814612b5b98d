//! Issue 18: reservations, offers and cancellations ride the node monitor's
//! `Session` stream once it is open, and a node monitor that only speaks the
//! unary calls (`--unary-reservations-only`, as before the stream carried
//! them) still gets its share of the work. Not a timing test.

use passer_tests::Within;
use std::collections::{HashMap, HashSet};

use passer::JobSpec;
use passer_tests::Cluster;

/// Runs `jobs` jobs of `tasks` echo tasks one after the other and checks
/// each task got exactly one successful result; returns tasks per node.
async fn run_jobs(cluster: &Cluster, name: &str, jobs: usize, tasks: usize) -> anyhow::Result<HashMap<String, usize>> {
    let client = cluster.client();
    let mut per_node = HashMap::new();
    for job in 0..jobs {
        let job_id = format!("{name}-{job}");
        let results = client.run(JobSpec::uniform(&job_id, "echo", tasks, "hot")).within("the job's results").await??;
        assert_eq!(results.len(), tasks, "job {job_id}: one result per task");
        let mut seen = HashSet::new();
        for result in &results {
            assert!(seen.insert(result.task_id.clone()), "task {} of {job_id} got two results", result.task_id);
            assert!(result.succeeded(), "{} of {job_id} failed: {}", result.task_id, result.error);
            assert_eq!(result.output, "hot");
            *per_node.entry(result.node_id.clone()).or_default() += 1;
        }
    }
    Ok(per_node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_place_on_the_session_stream_once_it_is_open() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let per_node = run_jobs(&cluster, "streamed", 30, 20).await?;
    assert_eq!(per_node.len(), 2, "both nodes ran tasks: {per_node:?}");
    let stats = cluster.stats(0).await?;
    println!("placements streamed {} unary {}", stats.placements_streamed, stats.placements_unary);
    assert!(stats.placements_streamed > 0, "reservations went down the session streams: {stats:?}");
    assert!(
        stats.placements_streamed > stats.placements_unary,
        "once the links are open the stream carries most placements: {stats:?}"
    );
    assert_eq!(stats.tasks_finished, 600);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_monitor_that_only_speaks_unary_calls_still_gets_work() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).node_args(["--unary-reservations-only"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let per_node = run_jobs(&cluster, "unary", 20, 20).await?;
    assert_eq!(per_node.values().sum::<usize>(), 400);
    let stats = cluster.stats(0).await?;
    assert_eq!(stats.placements_streamed, 0, "a node that did not announce the stream gets none on it: {stats:?}");
    assert!(stats.placements_unary > 0, "it was reached by the unary calls: {stats:?}");
    assert!(stats.nodes.iter().all(|node| node.connected), "its session still carries GetTask: {stats:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_and_new_node_monitors_share_the_work() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).node_args_for(1, ["--unary-reservations-only"]).start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let per_node = run_jobs(&cluster, "mixed", 30, 20).await?;
    assert_eq!(per_node.len(), 2, "both the old and the new node ran tasks: {per_node:?}");
    let stats = cluster.stats(0).await?;
    assert!(stats.placements_streamed > 0 && stats.placements_unary > 0, "both transports used: {stats:?}");
    Ok(())
}
