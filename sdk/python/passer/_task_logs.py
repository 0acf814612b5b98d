"""Per-task log capture: what a task function writes with ``print``,
``sys.stdout``/``sys.stderr`` or ``logging`` goes into that task's logs,
sent with its result (``TaskResult.logs``), and not to the process's output.

A :class:`TaskLog` keeps the tail of one attempt's logs, at most
``max_bytes`` (a ``[... N bytes earlier dropped]`` line first when cut).
The task running in the current thread, or the current asyncio task, is
found through a :class:`contextvars.ContextVar`, so tasks in concurrent
slot threads and ``async def`` tasks on the shared event loop never mix.
Writes outside any task (and from threads a task starts itself) go to the
real streams. :func:`install` puts the routing streams in ``sys.stdout``
and ``sys.stderr`` and a handler on the root logger while an executor runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import threading
from typing import Any, Awaitable, Iterator, Optional, TextIO

#: The default cap on one attempt's logs: 64 KiB.
DEFAULT_MAX_LOG_BYTES = 64 * 1024

_CURRENT: contextvars.ContextVar[Optional["TaskLog"]] = contextvars.ContextVar(
    "passer_task_log", default=None
)


def dropped_marker(dropped: int) -> str:
    """The first line of logs that were cut."""
    return f"[... {dropped} bytes earlier dropped]\n"


class TaskLog:
    """The bounded tail of one task attempt's logs; safe across threads."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_LOG_BYTES, echo: Optional[TextIO] = None) -> None:
        self.max_bytes = max(0, max_bytes)
        self._echo = echo
        self._kept = bytearray()
        self._dropped = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        """Appends ``text``, dropping the oldest bytes beyond twice the cap."""
        data = text.encode("utf-8", "replace")
        with self._lock:
            self._kept += data
            if len(self._kept) > 2 * self.max_bytes:
                self._cut(self.max_bytes)
        if self._echo is not None:
            self._echo.write(text)

    def text(self) -> str:
        """What was kept: at most ``max_bytes``, with the marker when cut."""
        with self._lock:
            if len(self._kept) > self.max_bytes:
                self._cut(self.max_bytes)
            if self._dropped == 0:
                return self._kept.decode("utf-8", "replace")
            marker = dropped_marker(self._dropped + len(self._kept))
            budget = max(0, self.max_bytes - len(marker))
            kept = bytes(self._kept[max(0, len(self._kept) - budget) :]) if budget else b""
            start = 0
            while start < min(3, len(kept)) and kept[start] & 0xC0 == 0x80:
                start += 1
            dropped = self._dropped + len(self._kept) - len(kept) + start
            return dropped_marker(dropped) + kept[start:].decode("utf-8", "replace")

    def _cut(self, keep: int) -> None:
        cut = len(self._kept) - keep
        if cut > 0:
            del self._kept[:cut]
            self._dropped += cut


def current() -> Optional[TaskLog]:
    """The log of the task running here, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def capturing(task_log: Optional[TaskLog]) -> Iterator[None]:
    """Routes this thread's (or asyncio task's) writes to ``task_log``."""
    token = _CURRENT.set(task_log)
    try:
        yield
    finally:
        _CURRENT.reset(token)


async def run_capturing(awaitable: Awaitable[Any], task_log: Optional[TaskLog]) -> Any:
    """Awaits ``awaitable`` with ``task_log`` current in this asyncio task only."""
    _CURRENT.set(task_log)  # this coroutine runs in a task of its own context
    return await awaitable


class _RoutingStream:
    """Stands in for ``sys.stdout``/``sys.stderr``: the current task's log,
    else the real stream."""

    def __init__(self, real: TextIO) -> None:
        self.real = real

    def write(self, text: str) -> int:
        task_log = _CURRENT.get()
        if task_log is None:
            return self.real.write(text)
        task_log.write(text)
        return len(text)

    def flush(self) -> None:
        if _CURRENT.get() is None:
            self.real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class _TaskLogHandler(logging.Handler):
    """Sends records logged inside a task to its log as ``LEVEL name: message``."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        task_log = _CURRENT.get()
        if task_log is None:
            return
        try:
            task_log.write(self.format(record) + "\n")
        except Exception:  # a bad record must not fail the task
            self.handleError(record)


_install_lock = threading.Lock()
_installed = 0
_handler = _TaskLogHandler()


def install() -> None:
    """Starts routing (counted: each call needs one :func:`uninstall`)."""
    global _installed
    with _install_lock:
        _installed += 1
        if _installed > 1:
            return
        if not isinstance(sys.stdout, _RoutingStream):
            sys.stdout = _RoutingStream(sys.stdout)  # type: ignore[assignment]
        if not isinstance(sys.stderr, _RoutingStream):
            sys.stderr = _RoutingStream(sys.stderr)  # type: ignore[assignment]
        logging.getLogger().addHandler(_handler)


def uninstall() -> None:
    """Undoes one :func:`install`; the last one restores the real streams."""
    global _installed
    with _install_lock:
        if _installed == 0:
            return
        _installed -= 1
        if _installed > 0:
            return
        if isinstance(sys.stdout, _RoutingStream):
            sys.stdout = sys.stdout.real  # type: ignore[assignment]
        if isinstance(sys.stderr, _RoutingStream):
            sys.stderr = sys.stderr.real  # type: ignore[assignment]
        logging.getLogger().removeHandler(_handler)


def real_stderr() -> TextIO:
    """The process's stderr behind any routing stream (for ``echo_logs``)."""
    stream = sys.stderr
    return stream.real if isinstance(stream, _RoutingStream) else stream  # type: ignore[return-value]
