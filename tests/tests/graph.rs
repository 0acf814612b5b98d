//! Task graphs on real processes: a diamond whose join sees both branches,
//! a failure in one branch while the other finishes, kill -9 of the
//! scheduler serving a stage mid-graph with every task ending exactly once,
//! and each refused shape with its message (nothing submitted).

use passer_tests::Within;
use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use nix::sys::signal::Signal;
use passer::graph::{Envelope, Graph, GraphEvent, GraphOutcome, GraphRun, Inputs};
use passer::{Client, ClientConfig, TaskSpec};
use passer_proto::pb::TaskStatus;
use passer_tests::Cluster;

/// Longest a whole graph may take in these tests.
const GRAPH_DEADLINE: Duration = Duration::from_secs(60);

/// Every event of `run` and its outcome, failing after [`GRAPH_DEADLINE`].
async fn drain(mut run: GraphRun) -> anyhow::Result<(Vec<GraphEvent>, GraphOutcome)> {
    let collect = async {
        let mut events = Vec::new();
        while let Some(event) = run.next().within("the next graph event").await? {
            events.push(event);
        }
        let outcome = run.outcome().await?;
        anyhow::Ok((events, outcome))
    };
    tokio::time::timeout(GRAPH_DEADLINE, collect).await.context("the graph did not end within its deadline")?
}

/// Results per `(node, task)`, failing if a task ended twice.
fn results_once(events: &[GraphEvent]) -> anyhow::Result<HashMap<(String, String), passer::TaskOutput>> {
    let mut ended = HashMap::new();
    for event in events {
        if let GraphEvent::TaskFinished { node, output } = event {
            if ended.insert((node.clone(), output.task_id.clone()), output.clone()).is_some() {
                bail!("task {node}/{} ended twice", output.task_id);
            }
        }
    }
    Ok(ended)
}

fn sleeps(prefix: &str, count: usize, millis: u64) -> Vec<TaskSpec> {
    (0..count).map(|index| TaskSpec::new(format!("{prefix}{index}"), "sleep", millis.to_string())).collect()
}

/// A generator of sleep tasks that reads no input (a `sleep` task cannot
/// take the envelope fixed tasks after an edge receive).
fn sleeps_from(
    prefix: &'static str,
    count: usize,
    millis: u64,
) -> impl FnOnce(&Inputs) -> Result<Vec<TaskSpec>, String> + Send + 'static {
    move |_: &Inputs| Ok(sleeps(prefix, count, millis))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diamond_runs_its_branches_concurrently_and_the_join_sees_both() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).node_args(["--slots", "4"]).start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let mut graph = Graph::with_id("diamond");
    graph.stage("top", (0..3).map(|index| TaskSpec::new(format!("t{index}"), "echo", format!("top{index}"))));
    graph.stage_from("left", sleeps_from("l", 4, 200)).after("top");
    graph.stage_from("right", sleeps_from("r", 4, 200)).after("top");
    graph.task("join", TaskSpec::new("j", "echo", "mine")).after("left").after("right");
    let (events, outcome) = drain(cluster.client().run_graph(graph).await?).await?;
    assert!(outcome.succeeded(), "failed {:?} cancelled {:?}", outcome.failed(), outcome.cancelled());
    assert_eq!(results_once(&events)?.len(), 12);
    // Both branches were submitted before either finished: they ran concurrently.
    let position = |wanted: &dyn Fn(&GraphEvent) -> bool| events.iter().position(wanted).expect("event present");
    let right_submitted =
        position(&|event| matches!(event, GraphEvent::StageSubmitted { node, .. } if node == "right"));
    let left_finished = position(&|event| matches!(event, GraphEvent::StageFinished { node, .. } if node == "left"));
    assert!(right_submitted < left_finished, "right was submitted only after left finished: {events:?}");
    let join = &outcome.results("join").context("the sink is kept")?[0];
    let envelope = Envelope::parse(&join.output).map_err(anyhow::Error::msg)?;
    assert_eq!(envelope.payload, b"mine");
    let inputs: Vec<String> = envelope.inputs.all().map(|input| format!("{}/{}", input.node, input.task)).collect();
    assert_eq!(inputs, ["left/l0", "left/l1", "left/l2", "left/l3", "right/r0", "right/r1", "right/r2", "right/r3"]);
    assert!(envelope.inputs.all().all(|input| input.output.as_ref() == b"200"));
    assert!(outcome.results("top").is_none(), "only the sink is kept");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_branch_cancels_its_dependents_by_name_while_the_other_finishes() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(2).node_args(["--slots", "4"]).start().await?;
    cluster.wait_nodes_up(0, 2).await?;
    let mut graph = Graph::with_id("broken");
    graph.stage(
        "bad",
        [TaskSpec::new("ok", "sleep", "10"), TaskSpec::new("b1", "sleep", "not-a-number").max_attempts(1)],
    );
    graph.stage("after-bad", sleeps("x", 2, 1)).after("bad");
    graph.stage_from("gen-after-bad", |_: &Inputs| Ok(Vec::new())).after("after-bad");
    graph.stage("good", sleeps("g", 4, 100));
    graph.task("after-good", TaskSpec::new("a", "echo", "fine")).after("good");
    let (events, outcome) = drain(cluster.client().run_graph(graph).await?).await?;
    let ended = results_once(&events)?;
    assert_eq!(ended.len(), 2 + 2 + 4 + 1, "every fixed task ended once");
    assert!(!outcome.succeeded());
    let failed = outcome.failed();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!((failed[0].node.as_str(), failed[0].task.as_str()), ("bad", "b1"));
    assert!(failed[0].error.contains("not a decimal number"), "{}", failed[0].error);
    let reason = format!("upstream bad/b1 failed: {}", failed[0].error);
    let cancelled: Vec<(&str, &str, &str)> =
        outcome.cancelled().iter().map(|task| (task.node.as_str(), task.task.as_str(), task.reason.as_str())).collect();
    assert_eq!(
        cancelled,
        [
            ("after-bad", "x0", reason.as_str()),
            ("after-bad", "x1", reason.as_str()),
            ("gen-after-bad", "", reason.as_str())
        ]
    );
    assert_eq!(ended[&("after-bad".to_owned(), "x0".to_owned())].status, TaskStatus::Cancelled);
    assert!(outcome.stage("good").context("good")?.succeeded());
    assert_eq!(outcome.results("after-good").context("kept")?[0].output, "{\"payload\":\"fine\",\"inputs\":[{\"node\":\"good\",\"task\":\"g0\",\"output\":\"100\"},{\"node\":\"good\",\"task\":\"g1\",\"output\":\"100\"},{\"node\":\"good\",\"task\":\"g2\",\"output\":\"100\"},{\"node\":\"good\",\"task\":\"g3\",\"output\":\"100\"}]}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_serving_scheduler_mid_graph_ends_every_task_exactly_once() -> anyhow::Result<()> {
    let mut cluster = Cluster::builder().schedulers(2).node_monitors(3).node_args(["--slots", "4"]).start().await?;
    cluster.wait_nodes_up(0, 3).await?;
    cluster.wait_nodes_up(1, 3).await?;
    let mut graph = Graph::with_id("failover");
    graph.stage("a", sleeps("a", 60, 10));
    graph.stage_from("b", sleeps_from("b", 300, 20)).after("a");
    graph.stage_from("c", sleeps_from("c", 300, 20)).after("a");
    graph.stage_from("d", sleeps_from("d", 60, 10)).after("b").after("c");
    let mut run = cluster.client().run_graph(graph).await?;
    let mut events = Vec::new();
    let mut killed_opt = None;
    let collect = async {
        while let Some(event) = run.next().within("the next graph event").await? {
            let in_b = matches!(&event, GraphEvent::TaskFinished { node, .. } if node == "b");
            events.push(event);
            if in_b && killed_opt.is_none() {
                // b and c are both in flight; kill a scheduler running one of them.
                for index in 0..2 {
                    if cluster.stats(index).await?.jobs_running > 0 {
                        cluster.schedulers[index].signal(Signal::SIGKILL);
                        killed_opt = Some(index);
                        break;
                    }
                }
                anyhow::ensure!(killed_opt.is_some(), "no scheduler was running a job of the graph");
            }
        }
        anyhow::Ok(run.outcome().await?)
    };
    let outcome = tokio::time::timeout(GRAPH_DEADLINE, collect).await.context("the graph did not end in time")??;
    let killed = killed_opt.context("the kill happened")?;
    let ended = results_once(&events)?;
    assert_eq!(ended.len(), 60 + 300 + 300 + 60, "every task ended exactly once");
    assert!(outcome.succeeded(), "failed {:?} cancelled {:?}", outcome.failed().first(), outcome.cancelled().first());
    let survivor = cluster.stats(1 - killed).await?;
    println!("killed scheduler {killed}; the survivor accepted {} jobs", survivor.jobs_accepted);
    assert!(survivor.jobs_accepted >= 2, "the survivor took over the killed scheduler's stage");
    cluster.schedulers[killed].kill();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_shape_is_named_and_nothing_is_submitted() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).start().await?;
    let client = cluster.client();
    let task = |id: &str| TaskSpec::new(id, "echo", "");
    let mut cases: Vec<(Graph, &str)> = Vec::new();
    let mut cycle = Graph::with_id("r");
    cycle.task("a", task("a")).after("b");
    cycle.task("b", task("b")).after("a");
    cases.push((cycle, "graph r: cycle through node \"a\": a -> b -> a"));
    let mut unknown = Graph::with_id("r");
    unknown.task("reduce", task("r")).after("mapp");
    cases.push((unknown, "graph r: node \"reduce\" is after unknown node \"mapp\""));
    let mut duplicate = Graph::with_id("r");
    duplicate.task("map", task("a"));
    duplicate.task("map", task("b"));
    cases.push((duplicate, "graph r: node name \"map\" is used twice"));
    let mut empty = Graph::with_id("r");
    empty.stage("map", []);
    cases.push((empty, "graph r: node \"map\" has no tasks and no generator"));
    let mut missing = Graph::with_id("r");
    missing.stage("map", [task("m0")]);
    missing.task("b", task("b")).after_task("map", "m3");
    cases.push((missing, "graph r: node \"b\" is after task \"m3\" of node \"map\", which has no such task"));
    for (graph, expected) in cases {
        match client.run_graph(graph).await {
            Ok(_) => bail!("a graph that should be refused ran: {expected}"),
            Err(error) => {
                assert!(error.is_refusal(), "{error}");
                assert_eq!(error.to_string(), expected);
            }
        }
    }
    assert_eq!(cluster.stats(0).await?.jobs_accepted, 0, "nothing was submitted");
    // Refusal needs no cluster at all.
    let offline = Client::new(ClientConfig::new(["127.0.0.1:1"]))?;
    let mut cycle = Graph::with_id("offline");
    cycle.task("x", task("x")).after("x");
    let error = offline.run_graph(cycle).await.err().context("refused")?;
    assert_eq!(error.node(), Some("x"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_graph_cancels_its_running_stage_and_everything_after() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).node_args(["--slots", "2"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let mut graph = Graph::with_id("cancelled");
    graph.stage("slow", sleeps("s", 20, 5_000));
    graph.task("next", TaskSpec::new("n", "echo", "")).after("slow");
    let mut run = cluster.client().run_graph(graph).await?;
    let handle = run.cancel_handle();
    let started = std::time::Instant::now();
    while let Some(event) = run.next().within("the next graph event").await? {
        if matches!(event, GraphEvent::StageSubmitted { .. }) {
            handle.cancel().await;
            break;
        }
    }
    let (events, outcome) = drain(run).await?;
    assert!(started.elapsed() < Duration::from_secs(4), "the cancel did not wait for the 5 s sleeps");
    let ended = results_once(&events)?;
    assert_eq!(ended.len(), 21, "every task ended once");
    assert!(ended.values().all(|output| output.status == TaskStatus::Cancelled), "{ended:?}");
    let next = outcome.cancelled().iter().find(|task| task.node == "next").context("next cancelled")?;
    assert_eq!(next.reason, "graph cancelled");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_the_cluster_refuses_stops_the_graph_naming_it() -> anyhow::Result<()> {
    let cluster = Cluster::builder().node_monitors(1).node_args(["--slots", "2"]).start().await?;
    cluster.wait_nodes_up(0, 1).await?;
    let mut graph = Graph::with_id("refused");
    graph.stage("slow", sleeps("s", 2, 5_000));
    graph.task("nobody", TaskSpec::new("n", "no-such-executor", ""));
    graph.task("after", TaskSpec::new("a", "echo", "")).after("nobody");
    let run = cluster.client().run_graph(graph).await?;
    let started = std::time::Instant::now();
    let error = match tokio::time::timeout(GRAPH_DEADLINE, run.outcome()).await.context("ended in time")? {
        Ok(outcome) => bail!("a graph with a stage nobody can run succeeded: {outcome:?}"),
        Err(error) => error,
    };
    assert_eq!(error.node(), Some("nobody"), "{error}");
    let message = error.to_string();
    assert!(message.starts_with("graph refused: stage \"nobody\": failed precondition:"), "{message}");
    assert!(message.contains("no-such-executor"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(4), "the graph stopped without waiting for the 5 s sleeps");
    Ok(())
}
