"""In-process fake passer servers for the SDK tests.

``FakeNodeMonitor`` serves ``Executors.Attach`` and hands each executor
stream to the test as a :class:`Conn`; ``FakeScheduler`` serves
``Scheduler`` with a per-test script. Both bind ``127.0.0.1:0``.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from concurrent import futures
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import grpc

from passer.v1 import common_pb2, executor_pb2 as epb, executor_pb2_grpc
from passer.v1 import scheduler_pb2 as spb, scheduler_pb2_grpc

WAIT = 5.0  # the longest any single expectation may take


#: An address where nothing listens (port 1: no ephemeral port lands there).
DEAD_ADDRESS = "127.0.0.1:1"


def reserved_port() -> "socket.socket":
    """A loopback socket bound to a free port but not listening: connections
    to the port are refused while it is held, and no other process can take
    the port. Close it just before a server binds the port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def start_server(register: Callable[[grpc.Server], None], port: int = 0) -> Tuple[grpc.Server, int]:
    """Starts a gRPC server on 127.0.0.1 (``port`` 0 picks one)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    register(server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    assert bound, "could not bind"
    server.start()
    return server, bound


# === node monitor ===


class Conn:
    """One executor's Attach stream, as the fake node monitor sees it."""

    _END = object()

    def __init__(self, metadata: Sequence[Tuple[str, str]]) -> None:
        self.metadata = dict(metadata)
        self.inbox: "queue.Queue[object]" = queue.Queue()
        self.outbox: "queue.Queue[object]" = queue.Queue()
        self.hello: Optional[epb.ExecutorMessage.Hello] = None
        self.closed = threading.Event()

    def send(self, message: epb.NodeMessage) -> None:
        self.outbox.put(message)

    def run(self, *tasks: epb.RunTask) -> None:
        self.send(epb.NodeMessage(run=epb.NodeMessage.RunTasks(tasks=list(tasks))))

    def cancel(self, job_id: str, task_id: str, reason: str) -> None:
        self.send(
            epb.NodeMessage(
                cancel=epb.NodeMessage.CancelTask(job_id=job_id, task_id=task_id, reason=reason)
            )
        )

    def shutdown(self) -> None:
        self.send(epb.NodeMessage(shutdown=epb.NodeMessage.Shutdown()))

    def end(self) -> None:
        """Ends the stream from the node monitor's side (status OK)."""
        self.outbox.put(self._END)

    def next_message(self, timeout: float = WAIT) -> epb.ExecutorMessage:
        item = self.inbox.get(timeout=timeout)
        assert item is not self._END, "executor closed the stream"
        return item  # type: ignore[return-value]

    def results(self, count: int, timeout: float = WAIT) -> List[epb.TaskResult]:
        """Collects ``count`` task results (across batches), skipping other messages."""
        deadline = time.monotonic() + timeout
        collected: List[epb.TaskResult] = []
        while len(collected) < count:
            message = self.next_message(max(deadline - time.monotonic(), 0.001))
            if message.WhichOneof("message") == "results":
                collected.extend(message.results.results)
        return collected

    def wait_closed(self, timeout: float = WAIT) -> bool:
        return self.closed.wait(timeout)


class FakeNodeMonitor(executor_pb2_grpc.ExecutorsServicer):
    """Accepts executor streams and queues them for the test."""

    def __init__(self) -> None:
        self.connections: "queue.Queue[Conn]" = queue.Queue()

    def Attach(self, request_iterator: Iterator[epb.ExecutorMessage], context: grpc.ServicerContext):
        conn = Conn(context.invocation_metadata())
        first = next(request_iterator)
        assert first.WhichOneof("message") == "hello"
        conn.hello = first.hello
        context.send_initial_metadata(())  # as tonic does when the handler returns

        def read() -> None:
            try:
                for message in request_iterator:
                    conn.inbox.put(message)
            except grpc.RpcError:
                pass
            finally:
                conn.inbox.put(Conn._END)
                conn.closed.set()
                conn.outbox.put(Conn._END)

        threading.Thread(target=read, daemon=True).start()
        self.connections.put(conn)
        while True:
            item = conn.outbox.get()
            if item is Conn._END:
                return
            yield item

    def next_connection(self, timeout: float = WAIT) -> Conn:
        return self.connections.get(timeout=timeout)


def run_task(task_id: str, payload: bytes = b"", deadline_ms: int = 0, job_id: str = "job") -> epb.RunTask:
    return epb.RunTask(job_id=job_id, task_id=task_id, attempt=1, payload=payload, deadline_ms=deadline_ms)


# === scheduler ===

Script = Callable[[spb.SubmitJobRequest, grpc.ServicerContext], Iterable[spb.JobEvent]]


class FakeScheduler(scheduler_pb2_grpc.SchedulerServicer):
    """Answers SubmitJob with ``script``; records every request."""

    def __init__(self, script: Optional[Script] = None) -> None:
        self.script = script or succeed_all
        self.requests: List[spb.SubmitJobRequest] = []
        self.metadata: List[dict] = []
        self.cancelled: List[str] = []

    def SubmitJob(self, request: spb.SubmitJobRequest, context: grpc.ServicerContext):
        self.requests.append(request)
        self.metadata.append(dict(context.invocation_metadata()))
        yield from self.script(request, context)

    def CancelJob(self, request: spb.CancelJobRequest, context: grpc.ServicerContext):
        self.cancelled.append(request.job_id)
        return spb.CancelJobResponse(found=True)

    def GetStats(self, request: spb.GetStatsRequest, context: grpc.ServicerContext):
        return spb.SchedulerStats(jobs_accepted=len(self.requests))


def accepted(request: spb.SubmitJobRequest) -> spb.JobEvent:
    count = len(request.tasks) - len(request.skip_task_ids)
    return spb.JobEvent(accepted=spb.JobAccepted(job_id=request.job_id, task_count=count, scheduler="fake"))


def finished(task_id: str, output: bytes = b"", ok: bool = True, error: str = "") -> spb.TaskFinished:
    status = common_pb2.TASK_STATUS_SUCCEEDED if ok else common_pb2.TASK_STATUS_FAILED
    return spb.TaskFinished(
        task_id=task_id, attempt=1, node_id="node-1", status=status, output=output,
        error=error, queued_micros=10, run_micros=20, total_micros=40, executor_id="pid:1",
    )


def results(*tasks: spb.TaskFinished) -> spb.JobEvent:
    return spb.JobEvent(results=spb.TaskResults(tasks=list(tasks)))


def job_finished(succeeded: int = 0, failed: int = 0) -> spb.JobEvent:
    return spb.JobEvent(job_finished=spb.JobFinished(succeeded=succeeded, failed=failed))


def succeed_all(request: spb.SubmitJobRequest, context: grpc.ServicerContext) -> Iterator[spb.JobEvent]:
    """Accepts, returns each unskipped task's payload reversed, in batches of two."""
    yield accepted(request)
    todo = [t for t in request.tasks if t.task_id not in set(request.skip_task_ids)]
    for start in range(0, len(todo), 2):
        yield results(*(finished(t.task_id, t.payload[::-1]) for t in todo[start : start + 2]))
    yield job_finished(succeeded=len(todo))
