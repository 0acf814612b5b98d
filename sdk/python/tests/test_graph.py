"""Task graphs (:mod:`passer.graph`) on a real cluster: the release
scheduler and node monitors as processes, built-in ``echo`` and ``sleep``
executors, and a scheduler killed mid-graph."""

from __future__ import annotations

import collections
import json
import time
from typing import Dict, Iterator, List

import pytest

from cluster import Cluster
from fakes import DEAD_ADDRESS
from passer import (
    Client,
    FailedPrecondition,
    Graph,
    GraphError,
    Inputs,
    StageFinished,
    StageSubmitted,
    Task,
    TaskFinished,
    TaskStatus,
    decode_envelope,
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(schedulers=1, node_monitors=2, node_args=["--slots", "4"]) as running:
        running.wait_executor("echo")
        running.wait_executor("sleep")
        yield running


def echo(task_id: str, payload: str = "") -> Task:
    return Task(task_id, "echo", payload or task_id)


def finished_by_node(events: List[object]) -> Dict[str, List[TaskFinished]]:
    by_node: Dict[str, List[TaskFinished]] = collections.defaultdict(list)
    for event in events:
        if isinstance(event, TaskFinished):
            by_node[event.node].append(event)
    return by_node


def test_a_diamond_passes_outputs_down_in_the_documented_envelope(cluster: Cluster) -> None:
    graph = Graph("diamond")
    graph.task("a", echo("a1", "root"))
    graph.task("b", echo("b1", "left"), after=["a"])
    graph.task("c", echo("c1", "right"), after=["a"])
    graph.stage("d", [echo("d2", "x"), echo("d1", "y")], after=["c", "b"])
    with cluster.client() as client:
        run = client.run_graph(graph)
        events = list(run)
        outcome = run.outcome()
    stage_order = [event.node for event in events if isinstance(event, StageFinished)]
    assert stage_order[0] == "a" and stage_order[-1] == "d" and sorted(stage_order[1:3]) == ["b", "c"]
    assert outcome.ok and sorted(outcome.succeeded) == [("a", "a1"), ("b", "b1"), ("c", "c1"), ("d", "d1"), ("d", "d2")]
    (d1, d1_out), (d2, _) = outcome.results("d")
    envelope = json.loads(d1_out)
    assert envelope["payload"] == "y"
    # Inputs in edge order (c before b), each output the upstream's own envelope.
    assert [(i["node"], i["task"]) for i in envelope["inputs"]] == [("c", "c1"), ("b", "b1")]
    left = json.loads(envelope["inputs"][1]["output"])
    assert left == {"payload": "left", "inputs": [{"node": "a", "task": "a1", "output": "root"}]}
    payload, inputs = decode_envelope(d1_out)
    assert payload == b"y" and inputs.node("c")[0][0] == "c1" and len(inputs.all()) == 2
    with pytest.raises(KeyError, match="not kept"):
        outcome.results("a")  # b and c needed it; nobody asked to keep it


def test_a_generator_and_a_single_task_edge(cluster: Cluster) -> None:
    words = ["apple bee", "bee cat", b"\xff\xfe", "cat cat"]

    def reduce_tasks(inputs: Inputs) -> List[Task]:
        outputs = inputs.node("map")
        assert [task_id for task_id, _ in outputs] == ["m0", "m1", "m2", "m3"]
        text = b" ".join(output for _, output in outputs if output != b"\xff\xfe").decode()
        counts = collections.Counter(text.split())
        return [Task(f"r-{word}", "echo", f"{word}={count}") for word, count in sorted(counts.items())]

    graph = Graph()
    graph.stage("map", [Task(f"m{i}", "echo", text) for i, text in enumerate(words)])
    graph.stage("reduce", generate=reduce_tasks, after=["map"])
    graph.task("early", echo("e1", "own"), after_tasks=[("map", "m2")])
    with cluster.client() as client:
        outcome = client.run_graph(graph).outcome()
    assert outcome.ok, outcome
    assert [output for _, output in outcome.results("reduce")] == [b"apple=1", b"bee=2", b"cat=3"]
    (_, early), = outcome.results("early")
    assert json.loads(early) == {"payload": "own", "inputs": [{"node": "map", "task": "m2", "output": {"base64": "//4="}}]}


def test_a_failing_branch_cancels_its_dependents_and_the_other_branch_finishes(cluster: Cluster) -> None:
    graph = Graph()
    graph.task("bad", Task("b1", "sleep", "nope", max_attempts=1))
    graph.task("good", Task("g1", "sleep", "100"))
    graph.task("after-bad", echo("ab1"), after=["bad"])
    graph.task("after-good", echo("ag1"), after=["good"])
    graph.stage("gen-after-bad", generate=lambda inputs: [echo("never")], after=["after-bad"])
    graph.task("join", echo("j1"), after=["after-good", "after-bad"])
    with cluster.client() as client:
        run = client.run_graph(graph)
        events = list(run)
        outcome = run.outcome()
    assert sorted(outcome.succeeded) == [("after-good", "ag1"), ("good", "g1")]
    ((node, task, error),) = outcome.failed
    assert (node, task) == ("bad", "b1") and "not a decimal number" in error
    reason = f"upstream bad/b1 failed: {error}"
    assert sorted(outcome.cancelled) == [("after-bad", "ab1", reason), ("gen-after-bad", "", reason), ("join", "j1", reason)]
    by_node = finished_by_node(events)
    assert by_node["join"][0].result.status is TaskStatus.CANCELLED
    stages = {event.node: event for event in events if isinstance(event, StageFinished)}
    assert (stages["bad"].failed, stages["join"].cancelled, stages["after-good"].succeeded) == (1, 1, 1)


def test_a_generator_that_raises_fails_its_stage_and_a_missing_generated_task_cancels(cluster: Cluster) -> None:
    def broken(inputs: Inputs) -> List[Task]:
        raise ValueError("no partitions")

    graph = Graph()
    graph.task("src", echo("s1"))
    graph.stage("broken", generate=broken, after=["src"])
    graph.task("after-broken", echo("ab1"), after=["broken"])
    graph.stage("made", generate=lambda inputs: [echo("x1")], after=["src"])
    graph.task("wants-x9", echo("w1"), after_tasks=[("made", "x9")])
    graph.task("wants-x1", echo("w2"), after_tasks=[("made", "x1")])
    with cluster.client() as client:
        outcome = client.run_graph(graph).outcome()
    assert outcome.failed == [("broken", "", "generator failed: ValueError: no partitions")]
    assert sorted(outcome.cancelled) == [
        ("after-broken", "ab1", "upstream broken generator failed: ValueError: no partitions"),
        ("wants-x9", "w1", "upstream made has no task x9"),
    ]
    assert sorted(outcome.succeeded) == [("made", "x1"), ("src", "s1"), ("wants-x1", "w2")]


def test_a_stage_the_scheduler_refuses_stops_the_graph_and_names_the_stage(cluster: Cluster) -> None:
    graph = Graph("refused")
    graph.task("slow", Task("s1", "sleep", "20000"))
    graph.task("bad", Task("b1", "no-such-executor", "x"))
    graph.task("after-bad", echo("ab1"), after=["bad"])
    events: List[object] = []
    with cluster.client() as client:
        run = client.run_graph(graph)
        with pytest.raises(GraphError) as stopped:
            for event in run:
                events.append(event)
    assert stopped.value.node == "bad" and str(stopped.value).startswith('graph refused: stage "bad": ')
    assert isinstance(stopped.value.__cause__, FailedPrecondition)
    ended = {(e.node, e.result.task_id): e.result for e in events if isinstance(e, TaskFinished)}
    assert ended[("bad", "b1")].error == ended[("after-bad", "ab1")].error == "graph stopped: a stage's job failed"
    assert ended[("slow", "s1")].status is TaskStatus.CANCELLED, "the running stage was cancelled"
    submitted = [e.node for e in events if isinstance(e, StageSubmitted)]
    assert sorted(submitted) == ["bad", "slow"]


def test_cancel_ends_the_running_stage_and_submits_nothing_more(cluster: Cluster) -> None:
    graph = Graph()
    graph.stage("slow", [Task(f"s{i}", "sleep", "20000") for i in range(4)])
    graph.task("next", echo("n1"), after=["slow"])
    with cluster.client() as client:
        run = client.run_graph(graph)
        cluster.wait_for("the slow stage to be running", lambda: run.scheduler_of("slow") is not None)
        started = time.monotonic()
        run.cancel()
        outcome = run.outcome()
    assert time.monotonic() - started < 10, "cancel did not stop 20 s tasks"
    assert not outcome.succeeded and not outcome.failed
    assert {(node, task) for node, task, _ in outcome.cancelled} == {("slow", f"s{i}") for i in range(4)} | {("next", "n1")}
    assert [reason for node, _, reason in outcome.cancelled if node == "next"] == ["graph cancelled"]


@pytest.mark.parametrize(
    "build, node, message",
    [
        (lambda g: (g.task("a", echo("a"), after=["b"]), g.task("b", echo("b"), after=["a"])), "a",
         'cycle through node "a": a -> b -> a'),
        (lambda g: g.task("a", echo("a"), after=["a"]), "a", 'cycle through node "a": a -> a'),
        (lambda g: (g.task("a", echo("a"), after=["c"]), g.task("b", echo("b"), after=["a"]),
                    g.task("c", echo("c"), after=["b"])), "a", 'cycle through node "a": a -> b -> c -> a'),
        (lambda g: g.task("a", echo("a"), after=["ghost"]), "a", 'node "a" is after unknown node "ghost"'),
        (lambda g: (g.task("a", echo("a")), g.task("a", echo("b"))), "a", 'node name "a" is used twice'),
        (lambda g: g.stage("empty", []), "empty", 'node "empty" has no tasks and no generator'),
        (lambda g: (g.task("a", echo("a1")), g.task("b", echo("b"), after_tasks=[("a", "a9")])), "b",
         'node "b" is after task "a9" of node "a", which has no such task'),
        (lambda g: g.stage("twice", [echo("t"), echo("t")]), "twice", 'node "twice": task id "t" is used twice'),
    ],
)
def test_refused_shapes_name_the_node_before_anything_runs(build, node: str, message: str) -> None:
    graph = Graph()
    build(graph)
    # Nothing listens at this address: a graph that got as far as submitting would hang, not raise.
    with Client([DEAD_ADDRESS], max_unavailable=1) as client:
        with pytest.raises(GraphError) as refused:
            client.run_graph(graph)
    assert refused.value.node == node
    assert str(refused.value) == f"graph {graph.id}: {message}"


def test_a_scheduler_killed_mid_graph_loses_nothing_and_delivers_each_task_once() -> None:
    with Cluster(schedulers=2, node_monitors=2, node_args=["--slots", "2"]) as cluster:
        cluster.wait_executor("sleep")
        cluster.wait_executor("echo")
        graph = Graph("failover")
        graph.stage("map", [Task(f"m{i:02}", "sleep", "100") for i in range(24)])
        graph.stage("reduce", [echo(f"r{i}") for i in range(4)], after=["map"])
        graph.task("report", echo("report"), after=["reduce"])
        with cluster.client() as client:
            run = client.run_graph(graph)
            events = []
            killed = None
            killed_at = 0
            for event in run:
                events.append(event)
                if killed is None and isinstance(event, TaskFinished) and event.node == "map":
                    killed = run.scheduler_of("map")
                    assert killed is not None
                    cluster.kill_scheduler(killed)
                    killed_at = len(events)
            outcome = run.outcome()
    assert killed is not None
    after_kill = [e for e in events[killed_at:] if isinstance(e, TaskFinished) and e.node == "map"]
    assert len(after_kill) >= 12, f"the kill came too late to test failover: {len(after_kill)} map results after it"
    delivered = collections.Counter((e.node, e.result.task_id) for e in events if isinstance(e, TaskFinished))
    assert len(delivered) == 24 + 4 + 1 and set(delivered.values()) == {1}, delivered
    assert outcome.ok and len(outcome.succeeded) == 29, outcome
    (_, report), = outcome.results("report")
    assert [i["task"] for i in json.loads(report)["inputs"]] == ["r0", "r1", "r2", "r3"]
