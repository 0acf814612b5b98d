//! Tests of the graph state machine without any I/O: readiness, envelopes,
//! generators, failure and cancellation propagation, and that outputs are
//! held only while a waiting dependent needs them — by example, then as
//! properties of random graphs with random task outcomes.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::graph::envelope::Envelope;
use crate::graph::validate::validate;
use crate::graph::Graph;

fn task(id: &str) -> TaskSpec {
    TaskSpec::new(id, "echo", id.as_bytes().to_vec())
}

fn output(task_id: &str, status: TaskStatus, bytes: &[u8], error: &str) -> TaskOutput {
    TaskOutput {
        task_id: task_id.to_owned(),
        attempt: 1,
        node_id: "n".to_owned(),
        status,
        output: Bytes::copy_from_slice(bytes),
        error: error.to_owned(),
        queued: Duration::ZERO,
        run: Duration::ZERO,
        total: Duration::ZERO,
        executor_id: String::new(),
        logs: String::new(),
        hops: None,
    }
}

fn ok(task_id: &str, bytes: &str) -> TaskOutput {
    output(task_id, TaskStatus::Succeeded, bytes.as_bytes(), "")
}

fn state_of(graph: Graph) -> GraphState {
    GraphState::new(validate(graph).expect("a valid graph"))
}

fn node_index(state: &GraphState, name: &str) -> usize {
    state.nodes.iter().position(|node| node.name == name).expect("known node")
}

fn submitted(effects: &[Effect]) -> Vec<(String, JobSpec)> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Submit { job, .. } => Some((job.job_id.clone(), job.clone())),
            _ => None,
        })
        .collect()
}

fn submitted_ids(effects: &[Effect]) -> Vec<String> {
    submitted(effects).into_iter().map(|(id, _)| id).collect()
}

#[test]
fn a_diamond_runs_in_order_and_the_join_gets_both_branches_in_edge_order() {
    let mut graph = Graph::with_id("g");
    graph.stage("a", [task("a0"), task("a1")]);
    graph.task("b", task("b0")).after("a");
    graph.task("c", task("c0")).after("a");
    graph.task("d", task("d0")).after("c").after("b");
    let mut state = state_of(graph);
    assert_eq!(submitted_ids(&state.start()), ["g.a"]);
    let a = node_index(&state, "a");
    assert!(submitted(&state.on_result(a, ok("a1", "one"))).is_empty());
    let effects = state.on_result(a, ok("a0", "zero"));
    let jobs = submitted(&effects);
    assert_eq!(jobs.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["g.b", "g.c"]);
    let envelope = Envelope::parse(&jobs[0].1.tasks[0].payload).expect("an envelope");
    assert_eq!(envelope.payload, b"b0");
    let tasks: Vec<(String, Vec<u8>)> =
        envelope.inputs.all().map(|input| (input.task.clone(), input.output.to_vec())).collect();
    assert_eq!(tasks, [("a0".to_owned(), b"zero".to_vec()), ("a1".to_owned(), b"one".to_vec())]);
    assert_eq!(state.held_outputs(), 0, "a's outputs are dropped once b and c were built");
    let (b, c, d) = (node_index(&state, "b"), node_index(&state, "c"), node_index(&state, "d"));
    assert!(submitted(&state.on_result(b, ok("b0", "B"))).is_empty());
    let jobs = submitted(&state.on_result(c, ok("c0", "C")));
    let envelope = Envelope::parse(&jobs[0].1.tasks[0].payload).expect("an envelope");
    let nodes: Vec<&str> = envelope.inputs.all().map(|input| input.node.as_str()).collect();
    assert_eq!(nodes, ["c", "b"], "edge order");
    state.on_result(d, ok("d0", "D"));
    assert!(state.is_finished());
    let outcome = state.into_outcome();
    assert!(outcome.succeeded());
    assert_eq!(outcome.results("d").expect("the sink is kept")[0].output, "D");
    assert!(outcome.results("a").is_none(), "only sinks are kept by default");
}

#[test]
fn a_failure_cancels_its_dependents_naming_it_while_other_branches_finish() {
    let mut graph = Graph::with_id("g");
    graph.task("a", task("a0"));
    graph.task("b", task("b0")).after("a");
    graph.stage("c", [task("c0"), task("c1")]).after("b");
    graph.task("other", task("o0"));
    let mut state = state_of(graph);
    assert_eq!(submitted_ids(&state.start()), ["g.a", "g.other"]);
    let effects = state.on_result(0, output("a0", TaskStatus::Failed, b"", "boom"));
    let cancelled: Vec<(String, String)> = effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Event(GraphEvent::TaskFinished { node, output }) if output.status == TaskStatus::Cancelled => {
                Some((node.clone(), output.error.clone()))
            }
            _ => None,
        })
        .collect();
    let reason = "upstream a/a0 failed: boom".to_owned();
    assert_eq!(cancelled.len(), 3, "{cancelled:?}");
    assert!(cancelled.iter().all(|(_, why)| *why == reason), "{cancelled:?}");
    assert!(!state.is_finished(), "the other branch still runs");
    state.on_result(3, ok("o0", "fine"));
    assert!(state.is_finished());
    let outcome = state.into_outcome();
    assert!(!outcome.succeeded());
    assert_eq!(outcome.failed(), [FailedTask { node: "a".into(), task: "a0".into(), error: "boom".into() }]);
    let names: Vec<(&str, &str)> =
        outcome.cancelled().iter().map(|task| (task.node.as_str(), task.task.as_str())).collect();
    assert_eq!(names, [("b", "b0"), ("c", "c0"), ("c", "c1")]);
    assert_eq!(outcome.results("other").expect("kept")[0].output, "fine");
    assert_eq!(outcome.stage("c").expect("c").reason.as_deref(), Some(reason.as_str()));
}

#[test]
fn after_task_starts_as_soon_as_that_task_succeeded() {
    let mut graph = Graph::with_id("g");
    graph.stage("map", [task("m0"), task("m1")]);
    graph.task("early", task("e0")).after_task("map", "m1");
    let mut state = state_of(graph);
    state.start();
    let effects = state.on_result(0, ok("m1", "x"));
    let jobs = submitted(&effects);
    assert_eq!(jobs[0].0, "g.early", "m0 is still running");
    let envelope = Envelope::parse(&jobs[0].1.tasks[0].payload).expect("an envelope");
    assert_eq!(envelope.inputs.len(), 1);
    assert_eq!(state.held_outputs(), 0);
}

#[test]
fn a_generator_sees_raw_outputs_and_its_failure_cancels_dependents() {
    let mut graph = Graph::with_id("g");
    graph.stage("map", [task("m1"), task("m0")]);
    graph
        .stage_from("reduce", |inputs: &Inputs| {
            let seen: Vec<String> =
                inputs.node("map").map(|(id, bytes)| format!("{id}={}", String::from_utf8_lossy(bytes))).collect();
            Ok(vec![TaskSpec::new("r", "echo", seen.join(","))])
        })
        .after("map");
    graph.stage_from("bad", |_: &Inputs| Err("no partitions".to_owned())).after("map");
    graph.task("after-bad", task("x")).after("bad");
    let mut state = state_of(graph);
    state.start();
    state.on_result(0, ok("m1", "b"));
    let effects = state.on_result(0, ok("m0", "a"));
    let jobs = submitted(&effects);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].1.tasks[0].payload, "m0=a,m1=b", "raw outputs in task id order, no envelope");
    state.on_result(1, ok("r", "done"));
    assert!(state.is_finished());
    let outcome = state.into_outcome();
    assert_eq!(outcome.failed()[0].node, "bad");
    assert_eq!(outcome.failed()[0].error, "no partitions");
    assert_eq!(outcome.cancelled()[0].reason, "upstream bad generator failed: no partitions");
}

#[test]
fn after_task_naming_a_task_a_generator_did_not_make_is_cancelled() {
    let mut graph = Graph::with_id("g");
    graph.stage_from("gen", |_: &Inputs| Ok(vec![task("t0")]));
    graph.task("needs-t9", task("x")).after_task("gen", "t9");
    let mut state = state_of(graph);
    state.start();
    let outcome = {
        state.on_result(0, ok("t0", ""));
        assert!(state.is_finished());
        state.into_outcome()
    };
    assert_eq!(outcome.cancelled()[0].reason, "upstream gen has no task t9");
}

#[test]
fn cancelling_stops_new_stages_and_cancels_running_jobs() {
    let mut graph = Graph::with_id("g");
    graph.task("a", task("a0"));
    graph.task("b", task("b0")).after("a");
    let mut state = state_of(graph);
    state.start();
    let effects = state.cancel("graph cancelled");
    assert!(effects.iter().any(|effect| matches!(effect, Effect::CancelJob { job_id } if job_id == "g.a")));
    assert!(submitted(&state.on_result(0, ok("a0", "late"))).is_empty(), "nothing new after a cancel");
    assert!(state.is_finished());
    let outcome = state.into_outcome();
    assert_eq!(outcome.cancelled()[0].reason, "graph cancelled");
}

#[test]
fn a_generated_stage_with_no_tasks_succeeds_and_unblocks() {
    let mut graph = Graph::with_id("g");
    graph.stage_from("none", |_: &Inputs| Ok(Vec::new()));
    graph.task("next", task("n0")).after("none");
    let mut state = state_of(graph);
    assert_eq!(submitted_ids(&state.start()), ["g.next"]);
}

// === properties over random graphs ===

/// A random node: fixed tasks (count) or a generator making `count` tasks,
/// edges to earlier nodes, and whether it is kept.
#[derive(Debug, Clone)]
struct NodeShape {
    generated: bool,
    count: usize,
    edges: Vec<(usize, Option<usize>)>,
    keep_opt: Option<bool>,
}

fn shapes() -> impl Strategy<Value = Vec<NodeShape>> {
    (1usize..9).prop_flat_map(|count| {
        let nodes: Vec<_> = (0..count)
            .map(|index| {
                let edges =
                    proptest::collection::vec((0..index.max(1), proptest::option::of(0usize..3)), 0..=index.min(3));
                (any::<bool>(), 0usize..4, edges, proptest::option::of(any::<bool>())).prop_map(
                    move |(generated, count, edges, keep_opt)| NodeShape {
                        generated,
                        count: if generated { count } else { count.max(1) },
                        edges: if index == 0 { Vec::new() } else { edges },
                        keep_opt,
                    },
                )
            })
            .collect();
        nodes
    })
}

fn build(shapes: &[NodeShape]) -> Graph {
    let mut graph = Graph::with_id("p");
    for (index, shape) in shapes.iter().enumerate() {
        let name = format!("n{index}");
        let tasks: Vec<TaskSpec> = (0..shape.count).map(|task_index| task(&format!("t{task_index}"))).collect();
        let node = if shape.generated {
            graph.stage_from(name, move |_: &Inputs| Ok(tasks))
        } else {
            graph.stage(name, tasks)
        };
        for &(upstream, task_opt) in &shape.edges {
            let upstream_shape = &shapes[upstream];
            match task_opt {
                // A fixed upstream must have the task (else the graph is refused).
                Some(task_index) if upstream_shape.generated || task_index < upstream_shape.count => {
                    node.after_task(format!("n{upstream}"), format!("t{task_index}"));
                }
                _ => {
                    node.after(format!("n{upstream}"));
                }
            }
        }
        if let Some(keep) = shape.keep_opt {
            node.keep(keep);
        }
    }
    graph
}

/// Checks that every held output has a waiting reader.
fn check_retention(state: &GraphState) {
    for (index, node) in state.nodes.iter().enumerate() {
        for (position, held) in node.outputs.iter().enumerate() {
            if held.is_none() {
                continue;
            }
            let task = &node.task_ids[position];
            let read = state.nodes.iter().any(|reader| {
                reader.phase == Phase::Waiting
                    && reader.dependencies.iter().any(|dependency| {
                        dependency.upstream == index && dependency.task_opt.as_ref().is_none_or(|wanted| wanted == task)
                    })
            });
            assert!(read, "output {}/{task} is held with no waiting reader", node.name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_task_ends_once_and_nothing_runs_before_its_inputs(shapes in shapes(), seed in any::<u64>()) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut state = state_of(build(&shapes));
        let mut ended: HashMap<(String, String), TaskStatus> = HashMap::new();
        let mut stages_finished: HashSet<String> = HashSet::new();
        let mut in_flight: Vec<(usize, String)> = Vec::new();
        let mut any_failure = false;
        let mut cancelled_graph = false;
        let mut effects = state.start();
        for _step in 0..200 {
            for effect in effects.drain(..) {
                match effect {
                    Effect::Submit { node, job } => {
                        // Every edge of the node is satisfied by what ended so far.
                        for dependency in &state.nodes[node].dependencies {
                            let upstream = &state.nodes[dependency.upstream];
                            let required: Vec<&String> = match &dependency.task_opt {
                                Some(task) => vec![task],
                                None => upstream.task_ids.iter().collect(),
                            };
                            for task in required {
                                prop_assert_eq!(ended.get(&(upstream.name.clone(), task.clone())), Some(&TaskStatus::Succeeded));
                            }
                            if dependency.task_opt.is_none() {
                                prop_assert!(stages_finished.contains(&upstream.name));
                            }
                        }
                        if !state.nodes[node].dependencies.is_empty() && !shapes[node].generated {
                            for task in &job.tasks {
                                prop_assert!(Envelope::parse(&task.payload).is_ok());
                            }
                        }
                        in_flight.extend(job.tasks.iter().map(|task| (node, task.task_id.clone())));
                    }
                    Effect::Event(GraphEvent::TaskFinished { node, output }) => {
                        let key = (node.clone(), output.task_id.clone());
                        prop_assert!(ended.insert(key, output.status).is_none(), "{}/{} ended twice", node, output.task_id);
                        if output.attempt == 0 {
                            prop_assert!(output.error.starts_with("upstream ") || output.error == "graph cancelled", "{}", output.error);
                        }
                    }
                    Effect::Event(GraphEvent::StageFinished { node, .. }) => {
                        prop_assert!(stages_finished.insert(node.clone()), "stage {} finished twice", node);
                    }
                    Effect::Event(GraphEvent::StageSubmitted { .. }) | Effect::CancelJob { .. } => {}
                }
            }
            check_retention(&state);
            if in_flight.is_empty() {
                break;
            }
            if !cancelled_graph && rng.random_ratio(1, 60) {
                cancelled_graph = true;
                effects = state.cancel("graph cancelled");
                continue;
            }
            let (node, task_id) = in_flight.swap_remove(rng.random_range(0..in_flight.len()));
            let result = match rng.random_range(0..10) {
                0 => { any_failure = true; output(&task_id, TaskStatus::Failed, b"", "boom") }
                1 if cancelled_graph => output(&task_id, TaskStatus::Cancelled, b"", "job cancelled"),
                _ => ok(&task_id, &format!("{}/{task_id}", state.nodes[node].name)),
            };
            effects = state.on_result(node, result);
        }
        prop_assert!(in_flight.is_empty());
        prop_assert!(state.is_finished(), "a graph with nothing in flight is finished");
        prop_assert_eq!(state.held_outputs(), 0);
        prop_assert_eq!(stages_finished.len(), shapes.len());
        let keeps: Vec<bool> = state.nodes.iter().map(|node| node.keep).collect();
        let names: Vec<String> = state.nodes.iter().map(|node| node.name.clone()).collect();
        let outcome = state.into_outcome();
        if any_failure {
            prop_assert!(!outcome.succeeded());
        } else if !cancelled_graph {
            // Only an `after_task` edge to a task its generator did not make cancels anything.
            prop_assert!(outcome.failed().is_empty());
            for cancelled in outcome.cancelled() {
                prop_assert!(cancelled.reason.contains(" has no task "), "{}", cancelled.reason);
            }
        }
        for (name, keep) in names.iter().zip(keeps) {
            prop_assert_eq!(outcome.results(name).is_some(), keep);
        }
    }
}
