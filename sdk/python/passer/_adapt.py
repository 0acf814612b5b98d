"""Adapts what a user registers into the plain ``RunningTask -> bytes``
function the executor's session runs: ``async def`` handlers run on one
event loop per executor (in a background thread, within the type's slots),
and a codec decodes the payload into ``task.value`` and encodes the return
value."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from typing import Any, Awaitable, Callable, Optional

from .codecs import Codec
from .errors import TaskFailed
from ._task_logs import run_capturing
from .running_task import RunningTask

#: How often a waiting slot checks whether its async task was cancelled.
CANCEL_POLL_SECONDS = 0.02


class EventLoopThread:
    """One asyncio event loop in a daemon thread, started on first use."""

    def __init__(self, name: str = "passer-async") -> None:
        self._name = name
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop = loop
            return self._loop

    def run(self, coroutine: Awaitable[Any], task: RunningTask) -> Any:
        """Runs ``coroutine`` on the loop and waits for it in this (slot) thread;
        cancels it when the task is cancelled (deadline or job cancelled)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop())  # type: ignore[arg-type]
        while True:
            try:
                return future.result(timeout=CANCEL_POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                if task.cancelled():
                    future.cancel()
                    raise TaskFailed(task.cancel_reason or "cancelled") from None
            except concurrent.futures.CancelledError:
                raise TaskFailed(task.cancel_reason or "cancelled") from None

    def stop(self) -> None:
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._loop = None


def adapt(
    function: Callable[..., Any],
    codec: Optional[Codec],
    loop_thread: EventLoopThread,
) -> Callable[[RunningTask], Any]:
    """The session-ready form of ``function``."""
    is_async = inspect.iscoroutinefunction(function)

    def call(task: RunningTask) -> Any:
        if codec is not None:
            task.value = codec.decode(task.payload)
        # The slot thread's own writes go to the task's log through the
        # session; a coroutine runs in an asyncio task with a context of its
        # own, so it sets the log there.
        if is_async:
            result = loop_thread.run(run_capturing(function(task), task._log), task)
        else:
            result = function(task)
        if inspect.isawaitable(result):  # a sync function returning an awaitable
            result = loop_thread.run(run_capturing(result, task._log), task)
        return codec.encode(result) if codec is not None else result

    call.__name__ = getattr(function, "__name__", "task")
    call.__doc__ = getattr(function, "__doc__", None)
    return call
