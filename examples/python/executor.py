#!/usr/bin/env python3
"""A ``python`` executor for passer: reverses and uppercases payloads.

Run it under a node monitor (which sets ``PASSER_ATTACH_ADDR``)::

    passer-node-monitor --executor "python3 examples/python/executor.py"

or by hand next to a running node monitor::

    python3 examples/python/executor.py --attach 127.0.0.1:20501

Payloads (UTF-8 text):

- ``sleep:<ms>``: sleeps that long (cancellable), outputs ``slept <ms>ms``;
- ``fail:<message>``: fails the task with ``<message>``;
- ``crash``: kills this executor process (to test the node monitor's recovery);
- anything else: outputs the text reversed and uppercased.

Every output ends with `` pid=<pid>`` so a client can see which process ran it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import _venv  # noqa: F401  (re-execs under the repo's .venv if passer is missing)
from passer import Executor, RunningTask, TaskFailed


def handle(task: RunningTask) -> str:
    """Runs one task; see the module docstring for the payload language."""
    text = task.payload.decode("utf-8", errors="replace")
    if text.startswith("sleep:"):
        millis = int(text[len("sleep:") :] or 0)
        task.progress(0.0, f"sleeping {millis}ms")
        if task.wait_cancelled(millis / 1000.0):
            raise TaskFailed(f"interrupted: {task.cancel_reason}")
        result = f"slept {millis}ms"
    elif text.startswith("fail:"):
        raise TaskFailed(text[len("fail:") :])
    elif text == "crash":
        logging.getLogger("example").warning("crashing on request (task %s)", task.task_id)
        os._exit(3)
    else:
        result = text[::-1].upper()
    return f"{result} pid={os.getpid()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attach", help="node monitor address (default: $PASSER_ATTACH_ADDR or 127.0.0.1:20501)")
    parser.add_argument("--executor", default=os.environ.get("PASSER_EXECUTOR_TYPE", "python"), help="executor type name")
    parser.add_argument("--slots", type=int, default=int(os.environ.get("PASSER_SLOTS", "4")), help="tasks at once")
    args = parser.parse_args()
    logging.basicConfig(
        level=os.environ.get("PASSER_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    executor = Executor(attach=args.attach)
    executor.register(args.executor, handle, slots=args.slots)
    executor.run()


if __name__ == "__main__":
    main()
