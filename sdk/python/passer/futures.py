"""Futures for tasks submitted from client code, and the error a failed
task raises through them.

A :class:`TaskFuture` is a :class:`concurrent.futures.Future` (``result()``,
``exception()``, ``add_done_callback()``, ``done()``) that is also
awaitable from asyncio code. It resolves to the task's decoded output, or
raises :class:`TaskError` when the task ended ``FAILED`` or ``CANCELLED``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Dict, Generator, Iterable, Optional

from .codecs import Codec
from .errors import PasserError
from .model import Task, TaskResult


class TaskError(PasserError):
    """A task ended ``FAILED`` or ``CANCELLED``; ``result`` says how."""

    def __init__(self, result: TaskResult) -> None:
        super().__init__(f"task {result.task_id} {result.status.name}: {result.error}")
        self.result = result


class TaskFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """The eventual output of one task; awaitable."""

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id
        #: The task's :class:`TaskResult` once it ended (with ``logs``).
        self.task_result: Optional[TaskResult] = None

    @property
    def logs(self) -> str:
        """What the task wrote (see :attr:`TaskResult.logs`); empty until it ended."""
        return self.task_result.logs if self.task_result is not None else ""

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.wrap_future(self).__await__()


def submit_in_background(
    client: Any,
    job_id: Optional[str],
    tasks: Iterable[Task],
    codec: Codec,
    **submit_options: Any,
) -> Dict[str, TaskFuture]:
    """Submits one job of ``tasks`` from a background thread and returns a
    future per task id, each resolved as its result arrives."""
    task_list = list(tasks)
    futures = {task.task_id: TaskFuture(task.task_id) for task in task_list}

    def run() -> None:
        try:
            for result in client.submit(job_id, task_list, **submit_options):
                future = futures.get(result.task_id)
                if future is None or future.done():
                    continue
                future.task_result = result
                if result.ok:
                    try:
                        future.set_result(codec.decode(result.output))
                    except Exception as error:  # a bad output fails its own future only
                        future.set_exception(error)
                else:
                    future.set_exception(TaskError(result))
        except BaseException as error:  # the job itself failed: every open future says why
            for future in futures.values():
                if not future.done():
                    future.set_exception(error)
            return
        for future in futures.values():
            if not future.done():
                future.set_exception(PasserError(f"task {future.task_id}: the job ended without its result"))

    threading.Thread(target=run, name="passer-futures", daemon=True).start()
    return futures
