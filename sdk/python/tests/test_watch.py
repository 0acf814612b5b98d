"""Detach and re-attach from Python on a real cluster: a job whose stream
the client let go runs on; ``Client.watch`` from another client streams its
results while it runs and again after it finished (the scheduler keeps
them); an unknown id raises ``NotFound`` naming the job."""

from __future__ import annotations

from typing import Iterator

import pytest

from cluster import Cluster
from passer import NotFound, Task, TaskStatus


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with Cluster(schedulers=2, node_monitors=1, node_args=["--slots", "2"]) as running:
        running.wait_executor("sleep")
        yield running


def test_a_detached_job_runs_on_and_another_client_watches_it(cluster: Cluster) -> None:
    tasks = [Task(f"t{i}", "sleep", "300") for i in range(4)]
    with cluster.client() as submitter:
        stream = submitter.submit("detached-py", tasks)
        stream.close()  # detach: the job runs on
    with cluster.client() as watcher:
        with watcher.watch("detached-py", timeout=20) as watch:
            results = watch.results()
            assert watch.task_count == 4
        assert sorted(r.task_id for r in results) == ["t0", "t1", "t2", "t3"]
        assert all(r.status == TaskStatus.SUCCEEDED for r in results)
        assert watch.summary.succeeded == 4
        # Finished: kept by the scheduler, so a second watch replays every result.
        again = watcher.watch("detached-py", timeout=20).results()
        assert sorted(r.task_id for r in again) == ["t0", "t1", "t2", "t3"]


def test_watching_an_unknown_job_names_it(cluster: Cluster) -> None:
    with cluster.client() as client:
        with pytest.raises(NotFound, match="no-such-job"):
            client.watch("no-such-job")
