"""Task logs on a real cluster: what a handler prints, writes to
``sys.stderr`` or logs with ``logging`` reaches the client as that task's
``TaskResult.logs`` (and ``Client.logs``), never mixed with another task's
running at the same time, in threads or as ``async def`` on the event loop;
and a task writing more than the cap keeps the tail after a marker."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Iterator

import pytest

from cluster import Cluster
from passer import Executor, RunningTask, Task, TaskStatus
from passer._task_logs import TaskLog

CAP = 1000


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    both_running = threading.Barrier(2, timeout=10)
    with Cluster(schedulers=1, node_monitors=1) as running:
        ex = Executor(attach=f"http://{running.node_addrs[0]}", exit_with_parent=False, max_log_bytes=CAP)

        @ex.task("chatty", slots=2)
        def chatty(task: RunningTask) -> bytes:
            name = task.payload.decode()
            print(f"print from {name}")
            both_running.wait()  # the other task is writing at the same time
            logging.getLogger("chatty").warning("log from %s", name)
            sys.stderr.write(f"stderr from {name}\n")
            task.log(f"explicit from {name}")
            return b"ok"

        @ex.task("achatty", slots=2)
        async def achatty(task: RunningTask) -> bytes:
            name = task.payload.decode()
            for step in range(3):
                print(f"async {name} step {step}")
                await asyncio.sleep(0.01)  # lets the other coroutine write
            logging.getLogger("achatty").error("async log from %s", name)
            return b"ok"

        @ex.task("flood", slots=1)
        def flood(task: RunningTask) -> bytes:
            for line in range(500):
                print(f"line {line:04d}")
            return b"ok"

        ex.start()
        try:
            running.wait_executor("chatty")
            yield running
        finally:
            ex.stop(drain_timeout=0.5)


def test_concurrent_thread_tasks_keep_their_own_lines(cluster: Cluster) -> None:
    with cluster.client() as client:
        tasks = [Task("a", "chatty", "a"), Task("b", "chatty", "b")]
        results = {r.task_id: r for r in client.submit("logs-threads", tasks, timeout=20)}
        assert all(r.status == TaskStatus.SUCCEEDED for r in results.values()), results
        for name, other in (("a", "b"), ("b", "a")):
            logs = results[name].logs
            assert logs.splitlines() == [
                f"print from {name}",
                f"WARNING chatty: log from {name}",
                f"stderr from {name}",
                f"explicit from {name}",
            ], logs
            assert other not in logs.replace("from", ""), logs
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
