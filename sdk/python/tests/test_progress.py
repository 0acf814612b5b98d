"""Progress on a real cluster: what a Python handler reports with
``RunningTask.progress()`` goes through the node monitor and the scheduler
to the client's stream (``on_progress`` and ``stream.progress``) and to the
status page's running jobs, and never stands in for a result."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Iterator, List, Tuple

import pytest

from cluster import Cluster
from passer import Executor, RunningTask, Task, TaskProgress, TaskStatus


@pytest.fixture(scope="module")
def cluster() -> Iterator[Tuple[Cluster, threading.Event, str]]:
    release = threading.Event()
    with Cluster(schedulers=1, node_monitors=1, scheduler_args=["--http-listen", "127.0.0.1:0"]) as running:
        status_url = f"http://{running.scheduler_http_addrs[0]}/api/status"
        ex = Executor(attach=f"http://{running.node_addrs[0]}", exit_with_parent=False, reconnect_backoff=(0.02, 0.2))

        @ex.task("steps", slots=2)
        def steps(task: RunningTask) -> bytes:
            task.progress(0.25, "loading")
            # Hold the task until the client has seen the first report, so
            # the test does not depend on timing.
            release.wait(timeout=10)
            task.progress(1.0, "done")
            return b"finished " + task.payload

        ex.start()
        try:
            running.wait_executor("steps")
            yield running, release, status_url
        finally:
            release.set()
            ex.stop(drain_timeout=0.5)


def test_a_handlers_progress_reaches_the_client(cluster) -> None:
    running, release, status_url = cluster
    seen: List[TaskProgress] = []
    shown: List[str] = []

    def on_progress(progress: TaskProgress) -> None:
        seen.append(progress)
        if progress.fraction < 1.0 and not release.is_set():
            # The task is held: the status page shows its progress now.
            with urllib.request.urlopen(status_url, timeout=5) as response:
                status = json.load(response)
            shown.extend(job.get("progress", "") for job in status["jobs"]["running"])
            release.set()

    with running.client() as client:
        tasks = [Task("t1", "steps", "a"), Task("t2", "steps", "b")]
        stream = client.submit("with-progress", tasks, on_progress=on_progress, timeout=20)
        results = sorted(stream, key=lambda r: r.task_id)
    assert [r.output for r in results] == [b"finished a", b"finished b"]
    assert all(r.status == TaskStatus.SUCCEEDED for r in results)
    assert any(text.endswith("25% loading") for text in shown), shown
    assert seen, "no progress reached the client"
    assert (seen[0].attempt, seen[0].fraction, seen[0].message) == (1, 0.25, "loading")
    assert seen[0].task_id in ("t1", "t2")
    assert stream.progress[seen[-1].task_id] == seen[-1]
    assert all(p.fraction in (0.25, 1.0) for p in seen)
