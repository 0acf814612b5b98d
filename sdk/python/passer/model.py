"""Plain data types of the client API: task specs, results and job summaries.

These mirror ``TaskSpec``, ``TaskFinished`` and ``JobFinished`` from
``passer/v1/scheduler.proto`` and ``common.proto`` without exposing protobuf.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from passer.v1 import common_pb2, scheduler_pb2


class TaskStatus(enum.IntEnum):
    """How a task ended (``passer.v1.TaskStatus``)."""

    UNSPECIFIED = 0
    SUCCEEDED = 1
    FAILED = 2
    CANCELLED = 3

    @classmethod
    def from_proto(cls, value: int) -> "TaskStatus":
        """Maps a wire value to a status; unknown values become UNSPECIFIED."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNSPECIFIED


@dataclass(frozen=True)
class Task:
    """One task of a job, as the client describes it."""

    #: Unique within its job (max 128 bytes).
    task_id: str
    #: The executor type that runs it, such as ``"python"`` or ``"echo"``.
    executor: str
    #: The task's input; ``str`` is sent as UTF-8.
    payload: Union[bytes, str] = b""
    #: Node ids or ``key=value`` labels the task may run on; empty means any.
    constraints: Sequence[str] = ()
    #: Run-time limit per attempt in seconds; ``None`` means the scheduler's default.
    timeout: Optional[float] = None
    #: How many times the task may be started; ``None`` means the scheduler's default.
    max_attempts: Optional[int] = None
    #: Retry the task when its own code fails (the handler raised or returned
    #: an error, a command exited non-zero), up to ``max_attempts``, after a
    #: backoff (like Celery's ``autoretry_for`` or Ray's ``retry_exceptions``).
    #: Without it such a failure is final; crashes and deadlines are retried
    #: either way.
    retry_on_error: bool = False
    #: With ``retry_on_error``: seconds before the first retry, doubling for
    #: each later one (capped at 60 s); ``None`` means the scheduler's default
    #: (0.2 s).
    retry_backoff: Optional[float] = None

    def to_proto(self) -> common_pb2.TaskSpec:
        """The wire form of this task."""
        payload = self.payload.encode("utf-8") if isinstance(self.payload, str) else self.payload
        timeout_ms = 0
        if self.timeout is not None:
            if self.timeout <= 0:
                raise ValueError(f"task {self.task_id!r}: timeout must be positive")
            timeout_ms = max(1, int(round(self.timeout * 1000)))
        backoff_ms = 0
        if self.retry_backoff is not None:
            if not self.retry_on_error:
                raise ValueError(f"task {self.task_id!r}: retry_backoff needs retry_on_error=True")
            if self.retry_backoff <= 0:
                raise ValueError(f"task {self.task_id!r}: retry_backoff must be positive")
            backoff_ms = max(1, int(round(self.retry_backoff * 1000)))
        return common_pb2.TaskSpec(
            task_id=self.task_id,
            executor=self.executor,
            payload=bytes(payload),
            constraints=list(self.constraints),
            timeout_ms=timeout_ms,
            max_attempts=self.max_attempts or 0,
            retry_on_error=self.retry_on_error,
            retry_backoff_ms=backoff_ms,
        )


@dataclass(frozen=True)
class TaskResult:
    """The terminal result of one task (``passer.v1.TaskFinished``)."""

    task_id: str
    #: The attempt that produced this result (1 for the first).
    attempt: int
    #: The node monitor that ran it; empty if it never ran.
    node_id: str
    status: TaskStatus
    #: The executor's output.
    output: bytes
    #: Why it failed; empty on success.
    error: str
    #: Microseconds from the job's acceptance until this attempt was launched.
    queued_micros: int
    #: Microseconds the executor spent running it.
    run_micros: int
    #: Microseconds from the job's acceptance until the scheduler had the result.
    total_micros: int
    #: The executor process that ran it, such as ``"pid:4242"``.
    executor_id: str
    #: The tail of what the attempt wrote (``print``, ``logging``, a
    #: command's stderr), at most 64 KiB by default; begins with
    #: ``[... N bytes earlier dropped]`` when cut.
    logs: str = ""

    @property
    def ok(self) -> bool:
        """True if the task succeeded."""
        return self.status == TaskStatus.SUCCEEDED

    @classmethod
    def from_proto(cls, finished: scheduler_pb2.TaskFinished) -> "TaskResult":
        """Builds a result from its wire form."""
        return cls(
            task_id=finished.task_id,
            attempt=finished.attempt,
            node_id=finished.node_id,
            status=TaskStatus.from_proto(finished.status),
            output=finished.output,
            error=finished.error,
            queued_micros=finished.queued_micros,
            run_micros=finished.run_micros,
            total_micros=finished.total_micros,
            executor_id=finished.executor_id,
            logs=finished.logs,
        )


@dataclass(frozen=True)
class TaskProgress:
    """How far a running task has got (``passer.v1.TaskProgress``), as its
    executor said with :meth:`passer.RunningTask.progress`. Informational:
    reports may be coalesced or dropped on the way."""

    task_id: str
    #: The attempt it is about.
    attempt: int
    #: 0.0 to 1.0.
    fraction: float
    #: Short human text.
    message: str

    @classmethod
    def from_proto(cls, progress: common_pb2.TaskProgress) -> "TaskProgress":
        """Converts the wire message."""
        return cls(progress.task_id, progress.attempt, progress.fraction, progress.message)


@dataclass
class JobSummary:
    """Counts over the results delivered so far, by status."""

    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    #: Results whose status was none of the above (a newer server's).
    other: int = field(default=0)

    def count(self, result: TaskResult) -> None:
        """Adds one result to the counts."""
        if result.status == TaskStatus.SUCCEEDED:
            self.succeeded += 1
        elif result.status == TaskStatus.FAILED:
            self.failed += 1
        elif result.status == TaskStatus.CANCELLED:
            self.cancelled += 1
        else:
            self.other += 1
