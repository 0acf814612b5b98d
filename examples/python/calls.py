#!/usr/bin/env python3
"""Functions served as executor types and called from client code, as a
Celery or Ray user would write them (see ``calls_client.py``).

Run it as the executor under a node monitor::

    passer-node-monitor --executor "python3 examples/python/calls.py"

Client code imports this module for the decorated functions and submits
them: ``add.submit(client, 2, 3).result() == 5``.
"""

from __future__ import annotations

import asyncio
from typing import Dict, List

import _venv  # noqa: F401  (re-execs under the repo's .venv if passer is missing)
from passer import Executor, RunningTask

ex = Executor()


@ex.function(slots=4)
def add(x: int, y: int) -> int:
    """Executor type ``add``: arguments and result travel as JSON."""
    return x + y


@ex.function(slots=8)
async def slow_square(x: float, delay: float = 0.05) -> float:
    """An ``async def`` function: eight of them wait at once on one event loop."""
    await asyncio.sleep(delay)
    return x * x


@ex.task("word-stats", slots=2, codec="json")
def word_stats(task: RunningTask) -> Dict[str, object]:
    """A task handler with the JSON codec: ``task.value`` in, a dict out."""
    words: List[str] = task.value["text"].split()
    return {"words": len(words), "longest": max(words, key=len) if words else ""}


if __name__ == "__main__":
    ex.run()
