"""Client tests against fake in-process schedulers."""

from __future__ import annotations

import random
import threading
from typing import Callable, Iterator, List, Tuple

import grpc
import pytest

from fakes import DEAD_ADDRESS, FakeScheduler, accepted, finished, job_finished, results, start_server
from passer import (
    Client,
    FailedPrecondition,
    InvalidArgument,
    JobTimeout,
    Overloaded,
    Task,
    TaskStatus,
    Unavailable,
)
from passer.v1 import scheduler_pb2_grpc

Started = Callable[..., Tuple[FakeScheduler, str]]


@pytest.fixture
def scheduler() -> Iterator[Started]:
    """Starts fake schedulers on demand; stops them at teardown."""
    servers: List[grpc.Server] = []

    def start(script=None) -> Tuple[FakeScheduler, str]:
        fake = FakeScheduler(script)
        server, port = start_server(lambda s: scheduler_pb2_grpc.add_SchedulerServicer_to_server(fake, s))
        servers.append(server)
        return fake, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(0)


def make_client(addresses: List[str], **kwargs: object) -> Client:
    kwargs.setdefault("initial_backoff", 0.01)
    kwargs.setdefault("max_backoff", 0.05)
    return Client(addresses, rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


def tasks(count: int) -> List[Task]:
    return [Task(f"t{i}", "python", f"payload-{i}") for i in range(count)]


def test_submit_streams_every_result(scheduler) -> None:
    fake, address = scheduler()
    with make_client([address], token="tok") as client:
        stream = client.submit("job-1", tasks(5), tenant="acme", priority=3, constraints=["zone=a"])
        assert stream.accepted
        got = list(stream)
    assert sorted(r.task_id for r in got) == [f"t{i}" for i in range(5)]
    first = next(r for r in got if r.task_id == "t0")
    assert first.status is TaskStatus.SUCCEEDED and first.ok
    assert first.output == b"0-daolyap"
    assert (first.queued_micros, first.run_micros, first.total_micros) == (10, 20, 40)
    assert first.node_id == "node-1" and first.executor_id == "pid:1" and first.attempt == 1
    assert stream.summary.succeeded == 5 and stream.done
    (request,) = fake.requests
    assert request.job_id == "job-1" and request.tenant == "acme" and request.priority == 3
    assert list(request.constraints) == ["zone=a"]
    assert request.tasks[1].payload == b"payload-1" and request.tasks[1].executor == "python"
    assert fake.metadata[0]["authorization"] == "Bearer tok"


def test_task_spec_fields_reach_the_wire(scheduler) -> None:
    fake, address = scheduler()
    spec = Task("a", "echo", b"\x00", constraints=("zone=eu",), timeout=1.5, max_attempts=2)
    with make_client([address]) as client:
        assert len(client.run("job", [spec])) == 1
    wire = fake.requests[0].tasks[0]
    assert list(wire.constraints) == ["zone=eu"]
    assert wire.timeout_ms == 1500 and wire.max_attempts == 2


def test_retries_resource_exhausted_honouring_retry_after(scheduler) -> None:
    refusals = [2]

    def script(request, context):
        if refusals[0] > 0:
            refusals[0] -= 1
            context.set_trailing_metadata((("retry-after-ms", "60"),))
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "admission full")
        yield accepted(request)
        yield results(*(finished(t.task_id) for t in request.tasks))
        yield job_finished(succeeded=len(request.tasks))

    fake, address = scheduler(script)
    with make_client([address]) as client:
        stream = client.submit("job-2", tasks(3))
        assert len(stream.results()) == 3
    assert stream.rejections == 2
    assert stream.waited >= 0.12  # two waits of at least the 60 ms hint
    assert len(fake.requests) == 3


def test_gives_up_after_max_rejections(scheduler) -> None:
    def script(request, context):
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "admission full")
        yield  # pragma: no cover

    _, address = scheduler(script)
    with make_client([address], max_rejections=2) as client:
        with pytest.raises(Overloaded):
            client.submit("job", tasks(1))


@pytest.mark.parametrize(
    "code, error_class",
    [
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgument),
        (grpc.StatusCode.FAILED_PRECONDITION, FailedPrecondition),
    ],
)
def test_raises_on_bad_job(scheduler, code, error_class) -> None:
    def script(request, context):
        context.abort(code, "tasks[0].executor: no node offers \"nope\"")
        yield  # pragma: no cover

    fake, address = scheduler(script)
    with make_client([address]) as client:
        with pytest.raises(error_class) as info:
            client.submit("job", tasks(1))
    assert "tasks[0].executor" in info.value.message
    assert info.value.code == code
    assert len(fake.requests) == 1  # not retried


def test_rejects_bad_specs_locally() -> None:
    client = make_client(["127.0.0.1:1"])
    with pytest.raises(InvalidArgument):
        client.submit("job", [])
    with pytest.raises(InvalidArgument):
        client.submit("job", [Task("a", "x"), Task("a", "x")])


def test_fails_over_with_skip_task_ids_and_drops_duplicates(scheduler) -> None:
    def crashing(request, context):
        yield accepted(request)
        yield results(finished("t0"), finished("t1"))
        context.abort(grpc.StatusCode.UNAVAILABLE, "scheduler going away")

    def healthy(request, context):
        yield accepted(request)
        yield results(finished("t1", b"dup"), finished("t2"))  # t1 again: dropped
        yield results(finished("t3"))
        yield job_finished(succeeded=2)

    first, first_address = scheduler(crashing)
    second, second_address = scheduler(healthy)
    with make_client([first_address, second_address]) as client:
        stream = client.submit("job-3", tasks(4))
        got = stream.results()
    assert sorted(r.task_id for r in got) == ["t0", "t1", "t2", "t3"]
    assert next(r for r in got if r.task_id == "t1").output == b""
    assert stream.failovers == 1 and stream.duplicates == 1
    assert stream.scheduler == second_address
    (resubmitted,) = second.requests
    assert resubmitted.job_id == "job-3"
    assert sorted(resubmitted.skip_task_ids) == ["t0", "t1"]
    assert len(resubmitted.tasks) == 4


def test_fails_over_when_scheduler_process_dies(scheduler) -> None:
    gate = threading.Event()

    def hanging(request, context):
        yield accepted(request)
        yield results(finished("t0"))
        gate.wait(10)

    fake_a = FakeScheduler(hanging)
    server_a, port_a = start_server(lambda s: scheduler_pb2_grpc.add_SchedulerServicer_to_server(fake_a, s))
    fake_b, address_b = scheduler()
    try:
        with make_client([f"127.0.0.1:{port_a}", address_b]) as client:
            stream = client.submit("job-4", tasks(3))
            assert next(stream).task_id == "t0"
            server_a.stop(0)  # the scheduler vanishes mid-job
            rest = stream.results()
        assert sorted(r.task_id for r in rest) == ["t1", "t2"]
        assert list(fake_b.requests[0].skip_task_ids) == ["t0"]
    finally:
        gate.set()
        server_a.stop(0)


def test_skips_a_dead_scheduler(scheduler) -> None:
    fake, address = scheduler()
    with make_client([DEAD_ADDRESS, address]) as client:
        assert len(client.run("job", tasks(2))) == 2
    assert len(fake.requests) == 1


def test_raises_unavailable_when_no_scheduler_answers() -> None:
    client = make_client([DEAD_ADDRESS, "127.0.0.1:2"], max_unavailable=4)
    with pytest.raises(Unavailable):
        client.submit("job", tasks(1))


def test_job_timeout(scheduler) -> None:
    gate = threading.Event()

    def stuck(request, context):
        yield accepted(request)
        gate.wait(5)

    _, address = scheduler(stuck)
    try:
        with make_client([address]) as client:
            with pytest.raises(JobTimeout):
                client.run("job", tasks(1), timeout=0.3)
    finally:
        gate.set()


def test_cancel_and_stats(scheduler) -> None:
    fake, address = scheduler()
    with make_client([address]) as client:
        assert client.cancel("job-9")
        assert client.stats().jobs_accepted == 0
    assert fake.cancelled == ["job-9"]


def test_accepts_url_and_comma_separated_addresses(scheduler) -> None:
    fake, address = scheduler()
    with Client(f"http://{address}/, 127.0.0.1:1") as client:
        assert client.schedulers == [f"http://{address}/", "127.0.0.1:1"]
        assert len(client.run("job", tasks(1))) == 1


def test_gives_up_on_a_scheduler_that_never_delivers(scheduler) -> None:
    def empty(request, context):
        yield accepted(request)  # and the stream ends with no result

    fake, address = scheduler(empty)
    with make_client([address], max_unavailable=3) as client:
        stream = client.submit("job", tasks(1))
        with pytest.raises(Unavailable):
            stream.results()
    assert len(fake.requests) == 3


def test_close_stops_iteration(scheduler) -> None:
    gate = threading.Event()

    def slow(request, context):
        yield accepted(request)
        yield results(finished("t0"))
        gate.wait(5)

    _, address = scheduler(slow)
    try:
        with make_client([address]) as client:
            stream = client.submit("job", tasks(2))
            assert next(stream).task_id == "t0"
            threading.Timer(0.1, stream.close).start()
            assert list(stream) == []
            assert stream.remaining() == 1
    finally:
        gate.set()
