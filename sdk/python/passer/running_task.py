"""The task object an executor function receives: inputs, deadline, cancellation.

A :class:`RunningTask` is handed to the registered function. Long functions
may poll :meth:`RunningTask.cancelled` or :meth:`RunningTask.deadline_remaining`
and return early; the SDK reports cancellation and deadline expiry on its own,
without waiting for the function.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional, Tuple

from ._task_logs import TaskLog

TaskKey = Tuple[str, str, int]
ProgressSink = Callable[["RunningTask", float, str], None]


class RunningTask:
    """One attempt of one task, as the executor function sees it."""

    def __init__(
        self,
        job_id: str,
        task_id: str,
        attempt: int,
        payload: bytes,
        deadline_ms: int,
        progress_sink: Optional[ProgressSink] = None,
        task_log: Optional[TaskLog] = None,
    ) -> None:
        #: The job the task belongs to.
        self.job_id = job_id
        #: The task's id within its job.
        self.task_id = task_id
        #: 1 for the first attempt, 2 for the first retry, and so on.
        self.attempt = attempt
        #: The task's input.
        self.payload = payload
        #: The payload decoded by the codec the task type was registered
        #: with (``@ex.task(..., codec="json")``); ``None`` without one.
        self.value: object = None
        #: Milliseconds the attempt may run; 0 means no limit.
        self.deadline_ms = deadline_ms
        #: ``time.monotonic()`` when the executor received the task.
        self.received_at = time.monotonic()
        self._progress_sink = progress_sink
        self._log = task_log
        self._cancelled = threading.Event()
        self._cancel_reason = ""

    @property
    def key(self) -> TaskKey:
        """``(job_id, task_id, attempt)``: what identifies this attempt."""
        return (self.job_id, self.task_id, self.attempt)

    @property
    def deadline(self) -> Optional[float]:
        """The ``time.monotonic()`` instant the attempt expires, or ``None``."""
        if self.deadline_ms <= 0:
            return None
        return self.received_at + self.deadline_ms / 1000.0

    def deadline_remaining(self) -> Optional[float]:
        """Seconds left before the deadline (may be negative), or ``None`` if unlimited."""
        deadline = self.deadline
        if deadline is None:
            return None
        return deadline - time.monotonic()

    def cancelled(self) -> bool:
        """True once the task was cancelled, hit its deadline, or lost its stream."""
        return self._cancelled.is_set()

    @property
    def cancel_reason(self) -> str:
        """Why the task was cancelled; empty while it is not."""
        return self._cancel_reason

    def wait_cancelled(self, timeout: Optional[float] = None) -> bool:
        """Sleeps up to ``timeout`` seconds or until cancelled; True if cancelled.

        A cancellable ``time.sleep`` for functions that wait on something.
        """
        return self._cancelled.wait(timeout)

    def progress(self, fraction: float, message: str = "") -> None:
        """Reports progress (0.0 to 1.0) to the node monitor; informational only."""
        if self._progress_sink is not None and not self.cancelled():
            self._progress_sink(self, min(max(fraction, 0.0), 1.0), message)

    def log(self, text: str) -> None:
        """Appends ``text`` (one line) to this task's logs, sent with its result.

        ``print`` and ``logging`` inside the task function land there too;
        this also works from threads the function starts itself.
        """
        if self._log is not None:
            self._log.write(text if text.endswith("\n") else text + "\n")

    @property
    def logs(self) -> str:
        """The logs so far (the tail, at most the executor's ``max_log_bytes``)."""
        return self._log.text() if self._log is not None else ""

    def _cancel(self, reason: str) -> None:
        if not self._cancelled.is_set():
            self._cancel_reason = reason
            self._cancelled.set()

    def __repr__(self) -> str:
        return (
            f"RunningTask(job_id={self.job_id!r}, task_id={self.task_id!r}, "
            f"attempt={self.attempt}, payload={len(self.payload)} bytes)"
        )
