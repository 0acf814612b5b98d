//! 100,000-task graphs of no-ops on real processes, within a stated memory
//! bound of the frontend: 10 independent chains of 10 stages of 1,000 `echo`
//! tasks, each stage made by a generator from the previous one's outputs;
//! then one stage of 100,000 tasks gathered by one task. Outputs are dropped
//! as soon as the stages reading them are built, so the test process' peak
//! RSS stays under [`CHAINS_PEAK_RSS_BOUND_MIB`], then [`PEAK_RSS_BOUND_MIB`]. Its own file, so the process
//! measured runs nothing else.

use passer_tests::Within;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use passer::graph::{Graph, GraphEvent, GraphOutcome, Inputs};
use passer::TaskSpec;
use passer_tests::process::peak_rss_kib;
use passer_tests::Cluster;

const CHAINS: usize = 10;
const STAGES: usize = 10;
const TASKS_PER_STAGE: usize = 1_000;
/// The frontend's stated bound for the 100 stages of 1,000 tasks (peak RSS
/// of the whole test process: the client, the graph, the test harness;
/// measured: 29 MiB).
const CHAINS_PEAK_RSS_BOUND_MIB: u64 = 48;
/// The bound once one stage of 100,000 tasks ran too: its job (task specs,
/// their wire form, the client's per-task bookkeeping) is held while it
/// runs (measured: 83 MiB).
const PEAK_RSS_BOUND_MIB: u64 = 128;

fn noops(chain: usize, stage: usize) -> Vec<TaskSpec> {
    (0..TASKS_PER_STAGE).map(|index| TaskSpec::new(format!("c{chain}s{stage}t{index}"), "echo", "")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100k_task_graph_runs_within_the_frontend_memory_bound() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(3).node_args(["--slots", "8"]).start().await?;
    cluster.wait_nodes_up(0, 3).await?;
    let mut graph = Graph::with_id("scale");
    for chain in 0..CHAINS {
        graph.stage(format!("c{chain}s0"), noops(chain, 0));
        for stage in 1..STAGES {
            let node = graph.stage_from(format!("c{chain}s{stage}"), move |inputs: &Inputs| {
                if inputs.len() != TASKS_PER_STAGE {
                    return Err(format!("expected {TASKS_PER_STAGE} inputs, got {}", inputs.len()));
                }
                Ok(noops(chain, stage))
            });
            node.after(format!("c{chain}s{}", stage - 1));
            if stage == STAGES - 1 {
                node.keep(false);
            }
        }
    }
    let (tasks, wall, _) = run_counting(&cluster, graph).await?;
    assert_eq!(tasks, CHAINS * STAGES * TASKS_PER_STAGE);
    println!(
        "100 stages of 1,000 tasks: {:.2} s ({:.0} tasks/s)",
        wall.as_secs_f64(),
        tasks as f64 / wall.as_secs_f64()
    );
    let chains_peak_mib = peak_rss_kib(std::process::id()).context("VmHWM readable")? / 1024;
    println!("frontend peak RSS after the chains {chains_peak_mib} MiB (bound {CHAINS_PEAK_RSS_BOUND_MIB} MiB)");
    assert!(
        chains_peak_mib <= CHAINS_PEAK_RSS_BOUND_MIB,
        "peak RSS {chains_peak_mib} MiB is over the {CHAINS_PEAK_RSS_BOUND_MIB} MiB bound"
    );
    let mut fan = Graph::with_id("fan");
    fan.stage("wide", (0..100_000).map(|index| TaskSpec::new(format!("w{index}"), "echo", "")));
    fan.stage_from("gather", |inputs: &Inputs| Ok(vec![TaskSpec::new("g", "echo", inputs.len().to_string())]))
        .after("wide");
    let (tasks, wall, outcome) = run_counting(&cluster, fan).await?;
    assert_eq!(tasks, 100_001);
    assert_eq!(outcome.results("gather").context("the sink is kept")?[0].output, "100000");
    println!(
        "one stage of 100,000 tasks and a gather: {:.2} s ({:.0} tasks/s)",
        wall.as_secs_f64(),
        tasks as f64 / wall.as_secs_f64()
    );
    let peak_mib = peak_rss_kib(std::process::id()).context("VmHWM readable")? / 1024;
    println!("frontend peak RSS {peak_mib} MiB (bound {PEAK_RSS_BOUND_MIB} MiB)");
    assert!(peak_mib <= PEAK_RSS_BOUND_MIB, "peak RSS {peak_mib} MiB is over the {PEAK_RSS_BOUND_MIB} MiB bound");
    Ok(())
}

/// Runs `graph` to its end, checking every task succeeded and every stage
/// finished once; returns how many tasks finished, the wall time and the outcome.
async fn run_counting(cluster: &Cluster, graph: Graph) -> anyhow::Result<(usize, Duration, GraphOutcome)> {
    let stage_count = graph.len();
    let started = Instant::now();
    let mut run = cluster.client().run_graph(graph).await?;
    let mut tasks_finished = 0usize;
    let mut stages_finished = HashSet::new();
    let collect = async {
        while let Some(event) = run.next().within("the next graph event").await? {
            match event {
                GraphEvent::TaskFinished { output, .. } => {
                    ensure!(output.succeeded(), "task {} ended {:?}: {}", output.task_id, output.status, output.error);
                    tasks_finished += 1;
                }
                GraphEvent::StageFinished { node, .. } => {
                    ensure!(stages_finished.insert(node.clone()), "stage {node} finished twice");
                }
                GraphEvent::StageSubmitted { .. } => {}
            }
        }
        anyhow::Ok(run.outcome().await?)
    };
    let outcome = tokio::time::timeout(Duration::from_secs(180), collect)
        .await
        .context("a 100k-task graph did not end within 180 s")??;
    ensure!(outcome.succeeded(), "failed {:?}", outcome.failed().first());
    ensure!(outcome.tasks_succeeded() == tasks_finished, "outcome and events disagree");
    ensure!(stages_finished.len() == stage_count, "{} of {stage_count} stages finished", stages_finished.len());
    Ok((tasks_finished, started.elapsed(), outcome))
}
