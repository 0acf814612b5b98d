"""Opt-in retry of a task's own errors (``retry_on_error``) on a real
cluster: the release scheduler and node monitor as processes, a Python
executor attached from this process whose handler raises on early
attempts."""

from __future__ import annotations

import threading
import time
from typing import Dict, Iterator, List, Tuple

import pytest

from cluster import Cluster
from passer import Executor, RunningTask, Task, TaskStatus
from passer.remote import RemoteFunction

#: Attempts each task id has seen, as (attempt, monotonic time).
Seen = Dict[str, List[Tuple[int, float]]]


@pytest.fixture(scope="module")
def flaky_cluster() -> Iterator[Tuple[Cluster, Seen, RemoteFunction]]:
    seen: Seen = {}
    lock = threading.Lock()
    with Cluster(schedulers=1, node_monitors=1) as cluster:
        ex = Executor(attach=f"http://{cluster.node_addrs[0]}", exit_with_parent=False, reconnect_backoff=(0.02, 0.2))

        @ex.task("flaky", slots=2)
        def flaky(task: RunningTask) -> bytes:
            # The payload says how many attempts fail before one succeeds.
            failures = int(task.payload)
            with lock:
                seen.setdefault(task.task_id, []).append((task.attempt, time.monotonic()))
            if task.attempt <= failures:
                raise ValueError(f"flaky attempt {task.attempt}")
            return f"ok on attempt {task.attempt}".encode()

        @ex.function("double", retry_on_error=True, retry_backoff=0.05, max_attempts=2)
        def double(n: int) -> int:
            with lock:
                calls = seen.setdefault(f"double-{n}", [])
                calls.append((len(calls) + 1, time.monotonic()))
                first = len(calls) == 1
            if first:
                raise RuntimeError("first call fails")
            return n * 2

        ex.start()
        try:
            cluster.wait_executor("flaky")
            cluster.wait_executor("double")
            yield cluster, seen, double
        finally:
            ex.stop(drain_timeout=0.5)


def test_a_raised_error_is_final_without_retry_on_error(flaky_cluster) -> None:
    cluster, seen, _ = flaky_cluster
    with cluster.client() as client:
        (result,) = client.run(None, [Task("plain", "flaky", "1", max_attempts=3)], timeout=20)
    assert result.status == TaskStatus.FAILED and result.attempt == 1
    assert result.error == "ValueError: flaky attempt 1"
    assert [attempt for attempt, _ in seen["plain"]] == [1]


def test_retry_on_error_runs_again_after_a_doubling_backoff(flaky_cluster) -> None:
    cluster, seen, _ = flaky_cluster
    task = Task("recovers", "flaky", "2", max_attempts=3, retry_on_error=True, retry_backoff=0.3)
    with cluster.client() as client:
        (result,) = client.run(None, [task], timeout=20)
    assert result.status == TaskStatus.SUCCEEDED, result.error
    assert (result.attempt, result.output) == (3, b"ok on attempt 3")
    times = [at for _, at in seen["recovers"]]
    assert [attempt for attempt, _ in seen["recovers"]] == [1, 2, 3]
    # 0.3 s before the first retry, 0.6 s before the second (the scheduler
    # checks every 0.1 s, so each wait may run up to that much longer).
    first_wait, second_wait = times[1] - times[0], times[2] - times[1]
    assert 0.3 <= first_wait < 0.3 + 0.5, first_wait
    assert 0.6 <= second_wait < 0.6 + 0.5, second_wait


def test_retry_on_error_ends_failed_with_every_attempts_error(flaky_cluster) -> None:
    cluster, _, _ = flaky_cluster
    task = Task("hopeless", "flaky", "9", max_attempts=3, retry_on_error=True, retry_backoff=0.05)
    with cluster.client() as client:
        (result,) = client.run(None, [task], timeout=20)
    assert result.status == TaskStatus.FAILED and result.attempt == 3
    for attempt in (1, 2, 3):
        assert f"flaky attempt {attempt}" in result.error, result.error


def test_a_decorated_function_carries_its_retry_setting(flaky_cluster) -> None:
    cluster, seen, double = flaky_cluster
    with cluster.client() as client:
        assert double.submit(client, 21).result(timeout=20) == 42
    assert [call for call, _ in seen["double-21"]] == [1, 2], "the first call raised, the retry ran"


def test_retry_backoff_without_retry_on_error_is_refused() -> None:
    with pytest.raises(ValueError, match="retry_backoff needs retry_on_error=True"):
        Task("t", "flaky", retry_backoff=0.1).to_proto()
