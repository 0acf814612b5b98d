"""One ``Executors.Attach`` stream: tasks in, batched results and heartbeats out.

A session lives as long as its stream. Tasks arrive in ``RunTasks``; each is
run on the worker pool and reported exactly once, by whichever comes first:
the function returning or raising, its deadline passing, or a ``CancelTask``.
The request generator that gRPC drains on its own thread is the only writer
to the stream: it batches every finished result it finds waiting into one
``TaskResults`` message, expires deadlines, and sends a heartbeat after
``heartbeat_interval`` seconds of silence.
"""

from __future__ import annotations

import collections
import heapq
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Deque, Dict, Iterator, List, Optional, Set, Tuple, Union

from passer.errors import TaskFailed
from passer.running_task import RunningTask, TaskKey
from passer.v1 import executor_pb2 as pb

from ._pool import WorkerPool
from ._task_logs import DEFAULT_MAX_LOG_BYTES, TaskLog, capturing, real_stderr

log = logging.getLogger("passer.executor")

TaskFunction = Callable[[RunningTask], object]

DEADLINE_EXCEEDED = "deadline exceeded"


class _Close:
    """Outbox sentinel: flush and end the request stream."""


class _Wake:
    """Outbox sentinel: recompute the next deadline."""


OutboxItem = Union[pb.TaskResult, pb.ExecutorMessage.Progress, _Close, _Wake]


@dataclass(frozen=True)
class SessionConfig:
    """What a session needs to know about its executor type."""

    executor: str
    slots: int
    function: TaskFunction
    hello: pb.ExecutorMessage.Hello
    heartbeat_interval: float
    #: The most bytes of one attempt's logs sent with its result.
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    #: Also write what tasks log to the process's stderr.
    echo_logs: bool = False


def to_output(value: object) -> bytes:
    """Converts a function's return value to output bytes."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"task function returned {type(value).__name__}, expected bytes or str")


def describe_exception(error: BaseException) -> str:
    """``"ExceptionType: message"``, or just the type when there is no message."""
    text = str(error)
    name = type(error).__name__
    return f"{name}: {text}" if text else name


class Session:
    """The state of one Attach stream; see the module docstring."""

    def __init__(self, config: SessionConfig, pool: WorkerPool) -> None:
        self._config = config
        self._pool = pool
        self._outbox: "queue.SimpleQueue[OutboxItem]" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active: Dict[TaskKey, RunningTask] = {}
        self._started: Set[TaskKey] = set()
        self._backlog: Deque[RunningTask] = collections.deque()
        self._deadlines: List[Tuple[float, TaskKey]] = []
        self._draining = False
        self._ended = False
        #: Set when the node monitor sent ``Shutdown``.
        self.shutdown_requested = False

    # === the stream's outgoing side ===

    def requests(self) -> Iterator[pb.ExecutorMessage]:
        """The request stream: ``hello``, then results, progress and heartbeats."""
        yield pb.ExecutorMessage(hello=self._config.hello)
        # A heartbeat at once tells the node monitor this executor sends
        # them: from then on, silence past its limit means a hung executor.
        yield pb.ExecutorMessage(heartbeat=pb.ExecutorMessage.Heartbeat())
        last_sent = time.monotonic()
        while True:
            timeout = self._next_wakeup(last_sent) - time.monotonic()
            items: List[OutboxItem] = []
            try:
                items.append(self._outbox.get(timeout=max(timeout, 0.0)))
            except queue.Empty:
                pass
            items.extend(self._drain_outbox())
            results = [item for item in items if isinstance(item, pb.TaskResult)]
            results.extend(self._expire_deadlines())
            messages = [
                pb.ExecutorMessage(progress=item)
                for item in items
                if isinstance(item, pb.ExecutorMessage.Progress)
            ]
            if results:
                messages.append(
                    pb.ExecutorMessage(results=pb.ExecutorMessage.TaskResults(results=results))
                )
            if not messages and time.monotonic() - last_sent >= self._config.heartbeat_interval:
                messages.append(pb.ExecutorMessage(heartbeat=pb.ExecutorMessage.Heartbeat()))
            for message in messages:
                yield message
            if messages:
                last_sent = time.monotonic()
            if any(isinstance(item, _Close) for item in items):
                return

    def _drain_outbox(self) -> List[OutboxItem]:
        items: List[OutboxItem] = []
        while True:
            try:
                items.append(self._outbox.get_nowait())
            except queue.Empty:
                return items

    def _next_wakeup(self, last_sent: float) -> float:
        wakeup = last_sent + self._config.heartbeat_interval
        with self._lock:
            if self._deadlines:
                wakeup = min(wakeup, self._deadlines[0][0])
        return wakeup

    def _expire_deadlines(self) -> List[pb.TaskResult]:
        now = time.monotonic()
        expired: List[RunningTask] = []
        with self._lock:
            while self._deadlines and self._deadlines[0][0] <= now:
                _, key = heapq.heappop(self._deadlines)
                task = self._active.get(key)
                if task is not None:
                    expired.append(task)
        results = []
        for task in expired:
            result = self._finish(task, False, b"", DEADLINE_EXCEEDED, send=False)
            if result is not None:
                log.warning("task %s/%s exceeded its deadline", task.job_id, task.task_id)
                results.append(result)
        return results

    # === the stream's incoming side ===

    def handle(self, message: pb.NodeMessage) -> None:
        """Acts on one message from the node monitor."""
        kind = message.WhichOneof("message")
        if kind == "run":
            for run_task in message.run.tasks:
                self._start(run_task)
        elif kind == "cancel":
            self._cancel(message.cancel)
        elif kind == "shutdown":
            log.info("node monitor asked %s executor to shut down", self._config.executor)
            self.shutdown_requested = True
        else:
            log.debug("ignoring unknown node message %r", kind)

    def _start(self, run_task: pb.RunTask) -> None:
        task = RunningTask(
            run_task.job_id,
            run_task.task_id,
            run_task.attempt,
            run_task.payload,
            run_task.deadline_ms,
            progress_sink=self._send_progress,
            task_log=TaskLog(
                self._config.max_log_bytes, real_stderr() if self._config.echo_logs else None
            ),
        )
        with self._lock:
            refused = self._draining or self._ended
            duplicate = task.key in self._active
            if not refused and not duplicate:
                self._active[task.key] = task
                if task.deadline is not None:
                    heapq.heappush(self._deadlines, (task.deadline, task.key))
                start_now = len(self._started) < self._config.slots
                if start_now:
                    self._started.add(task.key)
                else:
                    self._backlog.append(task)
        if duplicate:
            log.warning("ignoring duplicate task %s/%s attempt %d", *task.key)
            return
        if refused:
            # Not run and not reported: when the stream closes, the node
            # monitor fails it as it would for a crashed executor (retryable).
            log.warning("draining: leaving task %s/%s attempt %d to the node monitor", *task.key)
            return
        self._outbox.put(_Wake())
        if start_now:
            self._pool.submit(self._execute, task)

    def _cancel(self, cancel: pb.NodeMessage.CancelTask) -> None:
        with self._lock:
            matches = [
                task
                for key, task in self._active.items()
                if key[0] == cancel.job_id and key[1] == cancel.task_id
            ]
        reason = cancel.reason or "cancelled by node monitor"
        for task in matches:
            self._finish(task, False, b"", f"cancelled: {reason}", cancel_reason=reason)

    # === running tasks ===

    def _execute(self, task: RunningTask) -> None:
        if task.cancelled():
            return
        try:
            with capturing(task._log):
                output = to_output(self._config.function(task))
        except TaskFailed as failure:
            self._finish(task, False, failure.output, failure.message)
        except BaseException as error:  # report everything, even SystemExit
            log.debug("task %s/%s raised", task.job_id, task.task_id, exc_info=True)
            self._finish(task, False, b"", describe_exception(error))
        else:
            self._finish(task, True, output, "")

    def _pop_backlog(self) -> Optional[RunningTask]:
        """The oldest backlogged task still unreported, marked started; lock held."""
        while self._backlog:
            candidate = self._backlog.popleft()
            if self._active.get(candidate.key) is candidate:
                self._started.add(candidate.key)
                return candidate
        return None

    def _finish(
        self,
        task: RunningTask,
        ok: bool,
        output: bytes,
        error: str,
        send: bool = True,
        cancel_reason: Optional[str] = None,
    ) -> Optional[pb.TaskResult]:
        """Reports ``task`` once; later calls for the same attempt do nothing.

        Reporting frees the task's slot (the node monitor frees it too), so a
        backlogged task starts even if this one's function is still running.
        """
        next_task = None
        with self._lock:
            if self._active.get(task.key) is not task:
                return None
            del self._active[task.key]
            if task.key in self._started:
                self._started.discard(task.key)
                next_task = self._pop_backlog()
            if not self._active:
                self._idle.notify_all()
        if next_task is not None:
            self._pool.submit(self._execute, next_task)
        if not ok:
            task._cancel(cancel_reason or error)
        result = self._result(task, ok, output, error)
        if send:
            self._outbox.put(result)
        return result

    @staticmethod
    def _result(task: RunningTask, ok: bool, output: bytes, error: str) -> pb.TaskResult:
        return pb.TaskResult(
            job_id=task.job_id,
            task_id=task.task_id,
            attempt=task.attempt,
            ok=ok,
            output=output,
            error=error,
            logs=task.logs,
        )

    def _send_progress(self, task: RunningTask, fraction: float, message: str) -> None:
        with self._lock:
            if self._active.get(task.key) is not task:
                return
        self._outbox.put(
            pb.ExecutorMessage.Progress(
                job_id=task.job_id, task_id=task.task_id, fraction=fraction, message=message
            )
        )

    # === lifecycle ===

    def active_count(self) -> int:
        """Tasks received and not yet reported."""
        with self._lock:
            return len(self._active)

    def begin_drain(self) -> None:
        """Leaves new tasks unrun and unreported from now on; running ones go on."""
        with self._lock:
            self._draining = True

    def wait_idle(self, timeout: float) -> bool:
        """Waits until every task is reported; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                # Wake now and then: deadlines expire on the sender's thread.
                self._idle.wait(min(remaining, 0.1))
            return True

    def close(self) -> None:
        """Flushes pending results and ends the request stream."""
        self._outbox.put(_Close())

    def abandon(self, reason: str) -> None:
        """The stream is gone: tell running functions to stop, report nothing."""
        with self._lock:
            self._ended = True
            tasks = list(self._active.values())
            self._active.clear()
            self._started.clear()
            self._backlog.clear()
            self._deadlines.clear()
            self._idle.notify_all()
        for task in tasks:
            task._cancel(reason)
        self._outbox.put(_Close())
