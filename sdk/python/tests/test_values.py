"""Python values, async handlers, called functions, futures and the asyncio
client, against the fake node monitor and the fake scheduler."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Iterator, List, Tuple

import pytest

from fakes import WAIT, FakeNodeMonitor, FakeScheduler, accepted, finished, job_finished, results, run_task, start_server
from passer import AsyncClient, Client, Executor, RunningTask, TaskError, codecs
from passer.v1 import executor_pb2_grpc, scheduler_pb2_grpc


@pytest.fixture
def node_monitor() -> Iterator[Tuple[FakeNodeMonitor, int]]:
    fake = FakeNodeMonitor()
    server, port = start_server(lambda s: executor_pb2_grpc.add_ExecutorsServicer_to_server(fake, s))
    yield fake, port
    server.stop(0)


@pytest.fixture
def started() -> Iterator[List[Executor]]:
    executors: List[Executor] = []
    yield executors
    for executor in executors:
        executor.stop(drain_timeout=0.5)


def make_executor(port: int) -> Executor:
    return Executor(attach=f"http://127.0.0.1:{port}", exit_with_parent=False, reconnect_backoff=(0.02, 0.2))


def call_payload(*args: object, **kwargs: object) -> bytes:
    return json.dumps({"args": list(args), "kwargs": kwargs}).encode()


# === codecs ===


def test_codecs_round_trip_and_refuse_what_they_cannot_carry() -> None:
    value = {"n": 3, "words": ["a", "é"], "ok": True, "none": None}
    assert codecs.JSON.decode(codecs.JSON.encode(value)) == value
    assert codecs.BYTES.encode("hé") == "hé".encode()
    with pytest.raises(TypeError, match="codec='json'"):
        codecs.BYTES.encode({"a": 1})
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        codecs.JSON.encode({1, 2})
    with pytest.raises(ValueError, match="not JSON"):
        codecs.JSON.decode(b"\xff")


def test_pickle_needs_an_explicit_trust_decision() -> None:
    with pytest.raises(ValueError, match="trusted=True"):
        codecs.pickle_codec()
    with pytest.raises(ValueError, match="not chosen by name"):
        codecs.resolve("pickle")
    pickled = codecs.pickle_codec(trusted=True)
    assert pickled.decode(pickled.encode({1, 2, 3})) == {1, 2, 3}


# === executor side ===


def test_json_handler_returns_a_dict(node_monitor, started) -> None:
    fake, port = node_monitor
    ex = make_executor(port)

    @ex.task("stats", codec="json")
    def stats(task: RunningTask) -> object:
        numbers = task.value["numbers"]
        return {"sum": sum(numbers), "count": len(numbers)}

    started.append(ex)
    ex.start()
    conn = fake.next_connection()
    conn.run(run_task("t", json.dumps({"numbers": [1, 2, 3]}).encode()), run_task("bad", b"{not json"))
    by_id = {r.task_id: r for r in conn.results(2)}
    assert by_id["t"].ok and json.loads(by_id["t"].output) == {"sum": 6, "count": 3}
    assert not by_id["bad"].ok and "not JSON" in by_id["bad"].error


def test_async_handlers_run_concurrently_within_their_slots(node_monitor, started) -> None:
    fake, port = node_monitor
    ex = make_executor(port)
    running = []
    peak = [0]
    lock = threading.Lock()

    @ex.task("aio", slots=3)
    async def handle(task: RunningTask) -> bytes:
        with lock:
            running.append(task.task_id)
            peak[0] = max(peak[0], len(running))
        await asyncio.sleep(0.2)
        with lock:
            running.remove(task.task_id)
        return task.payload.upper()

    started.append(ex)
    ex.start()
    conn = fake.next_connection()
    began = time.monotonic()
    conn.run(*(run_task(f"t{i}", f"x{i}".encode()) for i in range(6)))
    done = conn.results(6)
    elapsed = time.monotonic() - began
    assert all(r.ok for r in done), [r.error for r in done]
    assert sorted(r.output for r in done) == [f"X{i}".encode() for i in range(6)]
    assert peak[0] == 3, "three slots run three coroutines at once, no more"
    assert 0.35 < elapsed < 1.5, elapsed  # two waves of 0.2 s, not six


def test_async_handler_is_cancelled_with_its_task(node_monitor, started) -> None:
    fake, port = node_monitor
    ex = make_executor(port)
    cancelled = threading.Event()
    began = threading.Event()

    @ex.task("aio")
    async def handle(task: RunningTask) -> bytes:
        began.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return b"never"

    started.append(ex)
    ex.start()
    conn = fake.next_connection()
    conn.run(run_task("slow", b""))
    assert began.wait(WAIT)
    conn.cancel("job", "slow", "job cancelled")
    (result,) = conn.results(1)
    assert not result.ok
    assert cancelled.wait(WAIT), "the coroutine was not cancelled"


def test_function_handler_takes_arguments_and_returns_values(node_monitor, started) -> None:
    fake, port = node_monitor
    ex = make_executor(port)

    @ex.function(slots=2)
    def add(x: int, y: int = 0) -> int:
        return x + y

    @ex.function("mean")
    async def mean(values: List[float]) -> float:
        await asyncio.sleep(0)
        return sum(values) / len(values)

    assert add(2, 3) == 5, "still callable locally"
    assert add.executor == "add" and mean.executor == "mean"
    started.append(ex)
    ex.start()
    conns = {c.hello.executor: c for c in (fake.next_connection(), fake.next_connection())}
    conns["add"].run(run_task("a", call_payload(2, y=40)), run_task("b", b'{"args": "nope"}'))
    by_id = {r.task_id: r for r in conns["add"].results(2)}
    assert by_id["a"].ok and json.loads(by_id["a"].output) == 42
    assert not by_id["b"].ok and "args" in by_id["b"].error
    conns["mean"].run(run_task("m", call_payload([1.0, 2.0, 6.0])))
    (m,) = conns["mean"].results(1)
    assert m.ok and json.loads(m.output) == 3.0


# === client side ===


def evaluate_calls(request, context):
    """A scheduler whose cluster adds the call's arguments (fails on 13)."""
    yield accepted(request)
    ends = []
    for task in request.tasks:
        call = json.loads(task.payload)
        total = sum(call["args"]) + sum(call["kwargs"].values())
        if total == 13:
            ends.append(finished(task.task_id, ok=False, error="unlucky"))
        else:
            ends.append(finished(task.task_id, json.dumps(total).encode()))
    yield results(*ends)
    yield job_finished(succeeded=len(ends))


@pytest.fixture
def calc_scheduler() -> Iterator[Tuple[FakeScheduler, str]]:
    fake = FakeScheduler(evaluate_calls)
    server, port = start_server(lambda s: scheduler_pb2_grpc.add_SchedulerServicer_to_server(fake, s))
    yield fake, f"http://127.0.0.1:{port}"
    server.stop(0)


def test_futures_from_a_decorated_function(calc_scheduler) -> None:
    fake, address = calc_scheduler
    ex = Executor(attach="127.0.0.1:1", exit_with_parent=False)

    @ex.function()
    def add(x: int, y: int) -> int:
        return x + y

    with Client([address]) as client:
        future = add.submit(client, 2, 3)
        assert future.result(timeout=WAIT) == 5
        seen = []
        futures = add.map(client, [1, 10, 100], [2, 3, 4])
        futures[0].add_done_callback(lambda f: seen.append(f.result()))
        assert futures[0].result(timeout=WAIT) == 3
        assert futures[2].result(timeout=WAIT) == 104
        error = futures[1].exception(timeout=WAIT)
        assert isinstance(error, TaskError) and "unlucky" in str(error) and error.result.task_id == "add-1"
        assert seen == [3]
    assert fake.requests[1].tasks[0].executor == "add"
    assert len(fake.requests[1].tasks) == 3, "map submits one job"

    async def awaited() -> int:
        with Client([address]) as client:
            return await add.submit(client, 20, 22)

    assert asyncio.run(awaited()) == 42


def test_async_client_submits_streams_and_runs(calc_scheduler) -> None:
    fake, address = calc_scheduler
    ex = Executor(attach="127.0.0.1:1", exit_with_parent=False)

    @ex.function()
    def add(x: int, y: int) -> int:
        return x + y

    async def main() -> Tuple[List[int], int]:
        async with AsyncClient([address]) as client:
            stream = await client.submit(None, [add.task(1, 2, task_id="a"), add.task(3, 4, task_id="b")])
            streamed = sorted([json.loads(result.output) async for result in stream])
            (only,) = await client.run(None, [add.task(5, 5, task_id="c")])
            return streamed, json.loads(only.output)

    streamed, ran = asyncio.run(main())
    assert streamed == [3, 7]
    assert ran == 10
