"""An elastic pool of daemon worker threads.

Idle workers are reused; a new worker is started only when none is idle.
Unlike ``concurrent.futures.ThreadPoolExecutor`` it has no hard cap, because
the node monitor already bounds how many tasks run at once, and a function
still running past its deadline (already reported failed, its slot freed)
must not keep the next task from starting. Workers are daemon threads, so a
stuck function cannot keep the process from exiting.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, Optional, Tuple

log = logging.getLogger("passer.executor")

WorkItem = Optional[Tuple[Callable[..., None], Tuple[object, ...]]]


class WorkerPool:
    """Runs callables on reusable daemon threads."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: "queue.SimpleQueue[WorkItem]" = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads = 0

    @property
    def threads(self) -> int:
        """How many worker threads exist (busy or idle)."""
        with self._lock:
            return self._threads

    def submit(self, function: Callable[..., None], *args: object) -> None:
        """Runs ``function(*args)`` on an idle worker, or on a new one."""
        self._queue.put((function, args))
        if self._idle.acquire(blocking=False):
            return
        with self._lock:
            self._threads += 1
            number = self._threads
        worker = threading.Thread(
            target=self._work, name=f"{self._name}-{number}", daemon=True
        )
        worker.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            function, args = item
            try:
                function(*args)
            except BaseException:  # the callables report their own errors
                log.exception("worker callable raised")
            del item, function, args
            self._idle.release()
