#!/usr/bin/env python3
"""Submits N tasks to passer schedulers and prints each result as it arrives.

    python3 examples/python/client.py -n 10
    python3 examples/python/client.py --schedulers 127.0.0.1:20503,127.0.0.1:20513 \\
        -n 100 --payload 'sleep:50' --json

Exits 0 when every task succeeded, 1 when some failed, 2 on a client error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid

import _venv  # noqa: F401  (re-execs under the repo's .venv if passer is missing)
from passer import Client, PasserError, Task, TaskResult


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--schedulers",
        default=os.environ.get("PASSER_SCHEDULERS", "127.0.0.1:20503"),
        help="comma-separated scheduler addresses",
    )
    parser.add_argument("-n", "--tasks", type=int, default=10, help="how many tasks")
    parser.add_argument(
        "--executor", default="python",
        help="executor type to run them on; a comma-separated list spreads the tasks round-robin",
    )
    parser.add_argument("--payload", default="hello {i}", help="payload template; {i} is the task number")
    parser.add_argument("--job-id", default=None, help="job id (default: random)")
    parser.add_argument("--tenant", default="")
    parser.add_argument("--priority", type=int, default=0)
    parser.add_argument("--task-timeout", type=float, default=None, help="seconds per attempt")
    parser.add_argument("--timeout", type=float, default=None, help="seconds for the whole job")
    parser.add_argument("--token", default=None, help="shared token (default: $PASSER_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    return parser.parse_args()


def show(result: TaskResult, executor: str, as_json: bool) -> None:
    text = result.output.decode("utf-8", errors="replace")
    if as_json:
        print(json.dumps({
            "task_id": result.task_id, "executor": executor, "status": result.status.name,
            "attempt": result.attempt,
            "node_id": result.node_id, "executor_id": result.executor_id, "output": text,
            "error": result.error, "queued_micros": result.queued_micros,
            "run_micros": result.run_micros, "total_micros": result.total_micros,
        }), flush=True)
        return
    detail = text if result.ok else result.error
    print(
        f"{result.task_id:>8} {result.status.name:<9} attempt={result.attempt} "
        f"node={result.node_id} {result.executor_id} {result.total_micros / 1000:.1f}ms  {detail}",
        flush=True,
    )


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    job_id = args.job_id or f"py-{uuid.uuid4().hex[:12]}"
    executors = [name.strip() for name in args.executor.split(",") if name.strip()]
    tasks = [
        Task(f"t{i}", executors[i % len(executors)], args.payload.format(i=i), timeout=args.task_timeout)
        for i in range(args.tasks)
    ]
    executor_of = {task.task_id: task.executor for task in tasks}
    started = time.monotonic()
    try:
        with Client(args.schedulers, token=args.token) as client:
            stream = client.submit(job_id, tasks, args.tenant, args.priority, timeout=args.timeout)
            for result in stream:
                show(result, executor_of.get(result.task_id, ""), args.json)
    except PasserError as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1  # as `passer`: 1 = the client could not run the job
    summary = stream.summary
    print(
        f"job {job_id}: {summary.succeeded} succeeded, {summary.failed} failed, "
        f"{summary.cancelled} cancelled in {time.monotonic() - started:.3f}s "
        f"(rejections={stream.rejections}, failovers={stream.failovers})",
        file=sys.stderr,
    )
    return 0 if summary.succeeded == len(tasks) else 2  # as `passer`: 2 = some tasks did not succeed


if __name__ == "__main__":
    sys.exit(main())
