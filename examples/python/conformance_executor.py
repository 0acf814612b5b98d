#!/usr/bin/env python3
"""The Python SDK's side of passer's executor conformance suite.

``tests/tests/conformance.rs`` runs the same scenarios against this executor
and the Rust SDK's ``passer-conformance-executor``; both speak the payload
language below (UTF-8 text), documented in ``tests/src/conformance.rs``:

- ``echo:<text>``: outputs ``<text>``;
- ``fail:<message>``: fails the task with ``<message>``;
- ``crash``: the process exits at once with status 3;
- ``sleep:<ms>``: sleeps (cancellable), outputs ``slept``;
- ``barrier:<key>:<n>``: returns ``<n>`` once ``n`` tasks with ``key`` have
  reached this process; fails after 3 s otherwise (proves ``n`` slots run at once);
- ``whoami``: outputs ``python pid=<pid>``.

    passer-node-monitor --builtin "" \\
        --executor "python3 examples/python/conformance_executor.py --slots 4"
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import Dict

import _venv  # noqa: F401  (re-execs under the repo's .venv if passer is missing)
from passer import Executor, RunningTask, TaskFailed

CRASH_STATUS = 3
BARRIER_LIMIT_SECONDS = 3.0

_arrivals: Dict[str, int] = {}
_arrived = threading.Condition()


def barrier(argument: str) -> str:
    """Waits until ``n`` tasks with the same key are running in this process."""
    key, _, count = argument.partition(":")
    wanted = int(count)
    with _arrived:
        _arrivals[key] = _arrivals.get(key, 0) + 1
        _arrived.notify_all()
        if not _arrived.wait_for(lambda: _arrivals[key] >= wanted, BARRIER_LIMIT_SECONDS):
            raise TaskFailed(f"barrier {key}: fewer than {wanted} tasks ran at once")
    return str(wanted)


def handle(task: RunningTask) -> str:
    """Runs one conformance payload; see the module docstring."""
    text = task.payload.decode("utf-8", errors="replace")
    verb, _, argument = text.partition(":")
    if verb == "echo":
        return argument
    if verb == "fail":
        raise TaskFailed(argument)
    if verb == "crash":
        os._exit(CRASH_STATUS)
    if verb == "sleep":
        if task.wait_cancelled(int(argument) / 1000.0):
            raise TaskFailed(f"interrupted: {task.cancel_reason}")
        return "slept"
    if verb == "barrier":
        return barrier(argument)
    if verb == "whoami":
        return f"python pid={os.getpid()}"
    if verb == "log":
        logging.getLogger("conformance").warning("%s", argument)  # into the task's logs
        return "logged"
    raise TaskFailed(f"unknown conformance payload {text!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor-type", default="conformance", help="executor type name")
    parser.add_argument("--slots", type=int, default=4, help="tasks at once")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    executor = Executor()
    executor.register(args.executor_type, handle, slots=args.slots)
    executor.run()


if __name__ == "__main__":
    main()
