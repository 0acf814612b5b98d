"""Jobs on the client's shared ``SubmitJobs`` stream, on a real cluster:
every result exactly once from many threads, per-job refusals beside
successes, a killed scheduler, the fallback to ``SubmitJob`` against a
scheduler without the call (and, decided in the stream's reader, against an
endpoint whose answer is not gRPC), a stream refused for a missing token,
and the protocol spoken by a raw grpcio client that uses only the generated
stubs."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List

import grpc
import pytest

from cluster import WAIT, Cluster
from passer import FailedPrecondition, Task, TaskResult, Unauthenticated
from passer._submit_stream import SubmitStreams
from passer.v1 import common_pb2, scheduler_pb2, scheduler_pb2_grpc


def echo_tasks(count: int) -> List[Task]:
    return [Task(f"t{i}", "echo", f"p{i}".encode()) for i in range(count)]


def assert_one_result_each(job_id: str, results: List[TaskResult], count: int) -> None:
    assert len(results) == count, f"{job_id}: one result per task"
    assert len({r.task_id for r in results}) == count, f"{job_id}: no task got two results"
    assert all(r.ok for r in results), f"{job_id}: {[r.error for r in results if not r.ok]}"


def test_many_jobs_from_many_threads_share_one_stream() -> None:
    with Cluster(schedulers=1, node_monitors=2) as cluster, cluster.client() as client:
        cluster.wait_executor("echo")

        def run(i: int) -> List[TaskResult]:
            return client.run(f"py-many-{i}", echo_tasks(1 + i % 4), timeout=WAIT)

        with ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = list(pool.map(run, range(120)))
        for i, results in enumerate(outcomes):
            assert_one_result_each(f"py-many-{i}", results, 1 + i % 4)
        streams = client._submit_streams
        assert list(streams._streams) == cluster.scheduler_addrs, "one stream to the one scheduler"
        assert not streams._per_call_only


def test_refusals_on_the_stream_leave_the_other_jobs_running() -> None:
    with Cluster(schedulers=1, node_monitors=1, scheduler_args=["--max-jobs-per-stream", "2"]) as cluster:
        cluster.wait_executor("sleep")
        with cluster.client() as client:
            streams = [client.submit(f"py-capped-{i}", [Task("t", "sleep", b"500")], timeout=WAIT) for i in range(6)]
            with pytest.raises(FailedPrecondition, match="no-such-executor"):
                client.submit("py-bad", [Task("t", "no-such-executor", b"")], timeout=WAIT)
            for stream in streams:
                assert_one_result_each(stream.job_id, stream.results(), 1)
            # Submitted one after another, each waiting for its acceptance,
            # while the first two still run: the third is refused by the
            # stream's cap and retried until one of them finishes.
            assert sum(stream.rejections for stream in streams) >= 1


def test_a_killed_scheduler_breaks_the_stream_and_loses_nothing() -> None:
    with Cluster(schedulers=2, node_monitors=2, node_args=["--slots", "4"]) as cluster:
        cluster.wait_executor("sleep")
        with cluster.client() as client:
            streams = [
                client.submit(f"py-kill-{i}", [Task(f"t{j}", "sleep", b"150") for j in range(4)], timeout=60)
                for i in range(10)
            ]
            victim = cluster.scheduler_addrs[0]
            collected: Dict[str, List[TaskResult]] = {stream.job_id: [] for stream in streams}
            collected[streams[0].job_id].append(next(streams[0]))
            cluster.kill_scheduler(victim)
            for stream in streams:
                collected[stream.job_id].extend(stream)
            for job_id, results in collected.items():
                assert_one_result_each(job_id, results, 4)
            assert sum(stream.failovers for stream in streams) > 0, "jobs on the killed scheduler's stream failed over"


def test_a_scheduler_without_submit_jobs_gets_one_call_per_job() -> None:
    with Cluster(schedulers=1, node_monitors=1, scheduler_args=["--disable-submit-stream"]) as cluster:
        cluster.wait_executor("echo")
        for submit_stream in (True, False):
            with cluster.client(submit_stream=submit_stream) as client:
                for i in range(5):
                    job_id = f"py-old-{submit_stream}-{i}"
                    assert_one_result_each(job_id, client.run(job_id, echo_tasks(3), timeout=WAIT), 3)
                if submit_stream:
                    assert client._submit_streams._per_call_only == set(cluster.scheduler_addrs)


class _HtmlAnswer(grpc.RpcError):
    """What grpcio raises when an HTTP server answers with a web page."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        return 'Received unexpected content-type "text/html; charset=utf-8"'


class _WebPageStub:
    """A stub whose ``SubmitJobs`` answer is a web page, read once released;
    its ``SubmitJob`` answers one event."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.calls = 0
        self.event = scheduler_pb2.JobEvent(accepted=scheduler_pb2.JobAccepted(job_id="j"))

    def SubmitJobs(self, requests: Iterator[scheduler_pb2.SubmitJobsRequest], metadata: object = None) -> "_WebPage":
        return _WebPage(self.released)

    def SubmitJob(self, request: object, metadata: object = None, timeout: object = None) -> Iterator:
        self.calls += 1
        return iter([self.event])


class _WebPage:
    def __init__(self, released: threading.Event) -> None:
        self._released = released

    def __iter__(self) -> "_WebPage":
        return self

    def __next__(self) -> scheduler_pb2.SubmitJobsResponse:
        self._released.wait(WAIT)
        raise _HtmlAnswer()

    def cancel(self) -> bool:
        return True


def test_a_non_grpc_answer_makes_the_reader_mark_the_endpoint_per_call_only() -> None:
    streams = SubmitStreams()
    stub = _WebPageStub()
    request = scheduler_pb2.SubmitJobRequest(job_id="j")
    call = streams.submit("web:80", stub, (), request, timeout=WAIT)
    assert call is not None, "the first job goes on the stream, whose answer is not read yet"
    stub.released.set()
    assert next(call) == stub.event, "the open job was re-sent by its own call"
    assert stub.calls == 1
    assert streams._per_call_only == {"web:80"}, "marked by the reader, not guessed by the caller"
    assert streams.submit("web:80", stub, (), request, timeout=WAIT) is None, "later jobs go by SubmitJob"


def test_jobs_open_on_a_refused_stream_get_the_refusal_not_a_broken_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSER_TOKEN", "s3cret-token")
    with Cluster(schedulers=1, node_monitors=1) as cluster:
        cluster.wait_executor("echo")
        monkeypatch.delenv("PASSER_TOKEN")
        with cluster.client(max_unavailable=1) as client:

            def run(i: int) -> str:
                try:
                    client.run(f"py-no-token-{i}", echo_tasks(1), timeout=WAIT)
                except Unauthenticated as error:
                    return f"refused: {error}"
                return "ran"

            with ThreadPoolExecutor(8) as pool:
                outcomes = list(pool.map(run, range(16)))
        assert all(outcome.startswith("refused") for outcome in outcomes), outcomes
        with cluster.client(token="s3cret-token") as client:
            assert_one_result_each("py-token", client.run("py-token", echo_tasks(2), timeout=WAIT), 2)


def raw_job(job_id: str, tasks: int) -> scheduler_pb2.SubmitJobRequest:
    return scheduler_pb2.SubmitJobRequest(
        job_id=job_id,
        tasks=[common_pb2.TaskSpec(task_id=f"t{i}", executor="echo", payload=b"raw") for i in range(tasks)],
    )


def test_a_raw_grpcio_client_speaks_submit_jobs() -> None:
    with Cluster(schedulers=1, node_monitors=1) as cluster:
        cluster.wait_executor("echo")
        requests = [
            scheduler_pb2.SubmitJobsRequest(call_id=10, job=raw_job("raw-py-a", 3)),
            scheduler_pb2.SubmitJobsRequest(call_id=11),  # no job: refused alone
            scheduler_pb2.SubmitJobsRequest(call_id=12, job=raw_job("raw-py-b", 2)),
        ]
        with grpc.insecure_channel(cluster.scheduler_addrs[0]) as channel:
            stub = scheduler_pb2_grpc.SchedulerStub(channel)
            # The request iterator ends after three jobs: the scheduler ends
            # the call once both accepted jobs have finished.
            responses = list(stub.SubmitJobs(iter(requests), timeout=WAIT))
        by_call: Dict[int, List[scheduler_pb2.SubmitJobsResponse]] = {}
        for response in responses:
            by_call.setdefault(response.call_id, []).append(response)
        assert set(by_call) == {10, 11, 12}
        (refusal,) = by_call[11]
        assert refusal.WhichOneof("outcome") == "error"
        assert refusal.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "job" in refusal.error.message
        for call_id, tasks in ((10, 3), (12, 2)):
            events = [r.event for r in by_call[call_id]]
            assert events[0].WhichOneof("event") == "accepted"
            assert events[-1].WhichOneof("event") == "job_finished"
            assert events[-1].job_finished.succeeded == tasks
            results = [t for e in events if e.WhichOneof("event") == "results" for t in e.results.tasks]
            assert sorted(t.task_id for t in results) == [f"t{i}" for i in range(tasks)]
