"""Task logs on a real cluster (the executor is ``log_executor.py``, run by
the node monitor): what a handler prints, writes to
``sys.stderr`` or logs with ``logging`` reaches the client as that task's
``TaskResult.logs`` (and ``Client.logs``), never mixed with another task's
running at the same time, in threads or as ``async def`` on the event loop;
and a task writing more than the cap keeps the tail after a marker."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

from cluster import Cluster
from log_executor import CAP
from passer import Task, TaskStatus
from passer._task_logs import TaskLog


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    executor = " ".join([sys.executable, str(Path(__file__).with_name("log_executor.py"))])
    with Cluster(schedulers=1, node_monitors=1, node_args=["--builtin", "", "--executor", executor]) as running:
        running.wait_executor("chatty")
        running.wait_executor("achatty")
        running.wait_executor("flood")
        yield running


def test_concurrent_thread_tasks_keep_their_own_lines(cluster: Cluster) -> None:
    with cluster.client() as client:
        tasks = [Task("a", "chatty", "a"), Task("b", "chatty", "b")]
        results = {r.task_id: r for r in client.submit("logs-threads", tasks, timeout=20)}
        assert all(r.status == TaskStatus.SUCCEEDED for r in results.values()), results
        for name in ("a", "b"):
            logs = results[name].logs
            assert logs.splitlines() == [
                f"print from {name}",
                f"WARNING chatty: log from {name}",
                f"stderr from {name}",
                f"explicit from {name}",
            ], logs
        assert client.logs("logs-threads", "b") == results["b"].logs
        assert client.logs("logs-threads") == {"a": results["a"].logs, "b": results["b"].logs}


def test_concurrent_async_tasks_keep_their_own_lines(cluster: Cluster) -> None:
    with cluster.client() as client:
        tasks = [Task("x", "achatty", "x"), Task("y", "achatty", "y")]
        results = {r.task_id: r for r in client.submit("logs-async", tasks, timeout=20)}
    for name in ("x", "y"):
        expected = [f"async {name} step {step}" for step in range(3)] + [f"ERROR achatty: async log from {name}"]
        assert results[name].logs.splitlines() == expected, results[name].logs


def test_a_flood_keeps_the_tail_after_a_marker(cluster: Cluster) -> None:
    with cluster.client() as client:
        (result,) = list(client.submit("logs-flood", [Task("f", "flood", "")], timeout=20))
    logs = result.logs
    assert len(logs.encode()) <= CAP, len(logs)
    first, _, rest = logs.partition("\n")
    assert first.startswith("[... ") and first.endswith(" bytes earlier dropped]"), first
    dropped = int(first.split()[1])
    assert dropped + len(rest) == 500 * len("line 0000\n"), (dropped, len(rest))
    assert rest.endswith("line 0499\n"), rest[-40:]


def test_the_tail_buffer_cuts_at_a_character() -> None:
    log = TaskLog(40)
    log.write("é" * 100)
    text = log.text()
    marker, _, body = text.partition("\n")
    assert marker.startswith("[... ") and set(body) == {"é"}, text
    assert len(text.encode()) <= 40
