"""The executor process of ``test_task_logs.py``, run by the node monitor
(``--executor``) as a real executor is: its tasks print, write to
``sys.stderr`` and log, two at a time, in threads and as ``async def``."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading

from passer import Executor, RunningTask

#: The executor's ``max_log_bytes`` in the test.
CAP = 1000

both_running = threading.Barrier(2, timeout=10)


def chatty(task: RunningTask) -> bytes:
    name = task.payload.decode()
    print(f"print from {name}")
    both_running.wait()  # the other task is writing at the same time
    logging.getLogger("chatty").warning("log from %s", name)
    sys.stderr.write(f"stderr from {name}\n")
    task.log(f"explicit from {name}")
    return b"ok"


async def achatty(task: RunningTask) -> bytes:
    name = task.payload.decode()
    for step in range(3):
        print(f"async {name} step {step}")
        await asyncio.sleep(0.01)  # lets the other coroutine write
    logging.getLogger("achatty").error("async log from %s", name)
    return b"ok"


def flood(task: RunningTask) -> bytes:
    for line in range(500):
        print(f"line {line:04d}")
    return b"ok"


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    executor = Executor(max_log_bytes=CAP)
    executor.register("chatty", chatty, slots=2)
    executor.register("achatty", achatty, slots=2)
    executor.register("flood", flood, slots=1)
    print("outside any task: the process's own stdout")
    executor.run()


if __name__ == "__main__":
    main()
