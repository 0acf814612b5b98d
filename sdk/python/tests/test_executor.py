"""Executor tests against a fake in-process node monitor."""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Iterator, List, Tuple

import pytest

from fakes import WAIT, FakeNodeMonitor, reserved_port, run_task, start_server
from passer import Executor, RunningTask, TaskFailed
from passer.v1 import executor_pb2_grpc


@pytest.fixture
def node_monitor() -> Iterator[Tuple[FakeNodeMonitor, int]]:
    fake = FakeNodeMonitor()
    server, port = start_server(lambda s: executor_pb2_grpc.add_ExecutorsServicer_to_server(fake, s))
    yield fake, port
    server.stop(0)


def make_executor(port: int, **kwargs: object) -> Executor:
    kwargs.setdefault("reconnect_backoff", (0.02, 0.2))
    kwargs.setdefault("drain_timeout", 2.0)
    return Executor(attach=f"http://127.0.0.1:{port}", exit_with_parent=False, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def started() -> Iterator[List[Executor]]:
    """Executors a test starts; stopped at teardown."""
    executors: List[Executor] = []
    yield executors
    for executor in executors:
        executor.stop(drain_timeout=0.5)


def test_hello_names_type_slots_and_pid(node_monitor, started) -> None:
    fake, port = node_monitor
    ex = make_executor(port, name="tester", token="s3cret")
    ex.register("python", lambda task: task.payload, slots=4)
    started.append(ex)
    ex.start()
    conn = fake.next_connection()
    assert conn.hello.executor == "python"
    assert conn.hello.slots == 4
    assert conn.hello.pid == os.getpid()
    assert conn.hello.name == "tester"
    assert conn.metadata["authorization"] == "Bearer s3cret"
    assert ex.wait_attached(WAIT)


def test_runs_tasks_and_reports_outputs(node_monitor, started) -> None:
    fake, port = node_monitor
    ex = make_executor(port)

    @ex.task("python", slots=2)
    def handle(task: RunningTask) -> object:
        if task.task_id == "text":
            return task.payload.decode().upper()  # str is sent as UTF-8
        return task.payload[::-1]

    started.append(ex)
    ex.start()
    conn = fake.next_connection()
    conn.run(run_task("bytes", b"abc"), run_task("text", b"h\xc3\xa9"))
    by_id = {r.task_id: r for r in conn.results(2)}
    assert by_id["bytes"].ok and by_id["bytes"].output == b"cba"
    assert by_id["text"].ok and by_id["text"].output == "HÉ".encode()
    assert by_id["bytes"].job_id == "job" and by_id["bytes"].attempt == 1


def test_runs_up_to_slots_tasks_at_once(node_monitor, started) -> None:
    fake, port = node_monitor
    slots = 3
    barrier = threading.Barrier(slots, timeout=WAIT)
    lock = threading.Lock()
    running, peak = [0], [0]
    release = threading.Event()

    def handle(task: RunningTask) -> bytes:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            if task.task_id.startswith("b"):
                barrier.wait()  # passes only if `slots` tasks run at once
            release.wait(WAIT)
            return b"ok"
        finally:
            with lock:
                running[0] -= 1

    ex = make_executor(port)
    ex.register("python", handle, slots=slots)
    started.append(ex)
    ex.start()
    conn = fake.next_connection()
    conn.run(*(run_task(f"b{i}") for i in range(slots)), *(run_task(f"x{i}") for i in range(2)))
    deadline = time.monotonic() + WAIT
    while peak[0] < slots and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # give an over-eager executor the chance to start a 4th
    assert peak[0] == slots
    release.set()
    results = conn.results(slots + 2)
    assert all(r.ok for r in results), [r.error for r in results]
    assert peak[0] == slots


def test_exception_becomes_failure_message(node_monitor, started) -> None:
    fake, port = node_monitor
    ex = make_executor(port)

    @ex.task("python")
    def handle(task: RunningTask) -> bytes:
        if task.task_id == "typed":
            raise TaskFailed("exit status 3", output=b"partial")
        raise ValueError("bad input")

    started.append(ex)
    ex.start()
    conn = fake.next_connection()
    conn.run(run_task("plain"), run_task("typed"))
    by_id = {r.task_id: r for r in conn.results(2)}
    assert not by_id["plain"].ok and by_id["plain"].error == "ValueError: bad input"
    assert not by_id["typed"].ok and by_id["typed"].error == "exit status 3"
    assert by_id["typed"].output == b"partial"


def test_deadline_is_reported_while_function_still_runs(node_monitor, started) -> None:
    fake, port = node_monitor
    saw_cancel = threading.Event()
    unblock = threading.Event()

    def handle(task: RunningTask) -> bytes:
        assert task.deadline_remaining() is not None
        unblock.wait(WAIT)  # ignores cancellation on purpose
        if task.cancelled():
            saw_cancel.set()
        return b"too late"

    ex = make_executor(port)
    ex.register("python", handle, slots=1)
    started.append(ex)
    ex.start()
    conn = fake.next_connection()
    began = time.monotonic()
    conn.run(run_task("slow", deadline_ms=150))
    (result,) = conn.results(1)
    elapsed = time.monotonic() - began
    assert not result.ok and result.error == "deadline exceeded"
    assert 0.1 <= elapsed < 2.0
    # The slot is free again: a new task runs while the old function is stuck.
    conn.run(run_task("next", deadline_ms=5000))
    unblock.set()
    results = conn.results(1)
    assert results[0].task_id == "next" and results[0].ok
    assert saw_cancel.wait(WAIT)


def test_cancel_reports_promptly_and_flags_the_task(node_monitor, started) -> None:
    fake, port = node_monitor
    observed = threading.Event()
    started_event = threading.Event()
    release = threading.Event()

    def handle(task: RunningTask) -> bytes:
        started_event.set()
        if task.wait_cancelled(WAIT):
            observed.set()
        release.wait(WAIT)  # slow cleanup must not delay the report
        return b"done"

    ex = make_executor(port)
    ex.register("python", handle, slots=1)
    started.append(ex)
    ex.start()
    conn = fake.next_connection()
    conn.run(run_task("t1"))
    assert started_event.wait(WAIT)
    conn.cancel("job", "t1", "job cancelled")
    (result,) = conn.results(1)  # arrives while the function is still blocked
    assert not result.ok and result.error == "cancelled: job cancelled"
    assert observed.wait(WAIT)
    release.set()
    with pytest.raises(queue.Empty):
        conn.results(1, timeout=0.5)  # no second result once the function returns


def test_heartbeats_when_idle(node_monitor, started) -> None:
    fake, port = node_monitor
    ex = make_executor(port, heartbeat_interval=0.1)
    ex.register("python", lambda task: b"")
    started.append(ex)
    ex.start()
    conn = fake.next_connection()
    kinds = {conn.next_message().WhichOneof("message") for _ in range(3)}
    assert kinds == {"heartbeat"}


def test_reattaches_when_node_monitor_comes_up_late() -> None:
    held = reserved_port()  # refuses connections until the server takes it
    port = held.getsockname()[1]
    ex = make_executor(port)
    ex.register("python", lambda task: task.payload)
    ex.start()
    try:
        time.sleep(0.3)  # several refused attempts
        held.close()
        fake = FakeNodeMonitor()
        server, _ = start_server(
            lambda s: executor_pb2_grpc.add_ExecutorsServicer_to_server(fake, s), port=port
        )
        try:
            conn = fake.next_connection()
            conn.run(run_task("late", b"x"))
            assert conn.results(1)[0].output == b"x"
        finally:
            ex.stop(drain_timeout=0.5)
            server.stop(0)
    finally:
        ex.stop(drain_timeout=0.5)


def test_reattaches_after_stream_ends(node_monitor, started) -> None:
    fake, port = node_monitor
    ex = make_executor(port)
    ex.register("python", lambda task: task.payload)
    started.append(ex)
    ex.start()
    first = fake.next_connection()
    first.end()
    second = fake.next_connection()
    assert second.hello.executor == "python"
    second.run(run_task("again", b"y"))
    assert second.results(1)[0].output == b"y"


def test_shutdown_finishes_running_tasks_then_exits(node_monitor) -> None:
    fake, port = node_monitor
    started_event = threading.Event()

    def handle(task: RunningTask) -> bytes:
        started_event.set()
        time.sleep(0.2)
        return b"finished"

    ex = make_executor(port)
    ex.register("python", handle)
    ex.start()
    conn = fake.next_connection()
    conn.run(run_task("t"))
    assert started_event.wait(WAIT)
    conn.shutdown()
    (result,) = conn.results(1)
    assert result.ok and result.output == b"finished"
    assert ex.wait(WAIT)
    assert conn.wait_closed()


def test_two_types_attach_separately(node_monitor, started) -> None:
    fake, port = node_monitor
    ex = make_executor(port)
    ex.register("upper", lambda task: task.payload.upper(), slots=2)
    ex.register("lower", lambda task: task.payload.lower(), slots=1)
    started.append(ex)
    ex.start()
    conns = {c.hello.executor: c for c in (fake.next_connection(), fake.next_connection())}
    assert conns["upper"].hello.slots == 2 and conns["lower"].hello.slots == 1
    conns["lower"].run(run_task("t", b"MiX"))
    assert conns["lower"].results(1)[0].output == b"mix"


def test_registration_errors() -> None:
    ex = Executor(attach="127.0.0.1:1", exit_with_parent=False)
    with pytest.raises(ValueError):
        ex.register("python", lambda t: b"", slots=0)
    ex.register("python", lambda t: b"")
    with pytest.raises(ValueError):
        ex.register("python", lambda t: b"")
