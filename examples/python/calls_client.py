#!/usr/bin/env python3
"""Calls the functions of ``calls.py`` on a cluster: futures from the
decorated functions, ``map`` as one job, ``await`` from asyncio, the
:class:`passer.AsyncClient`, and the JSON codec on a plain task.

    python3 examples/python/calls_client.py --scheduler 127.0.0.1:20503

Prints one JSON object with what came back; exits 0 when every answer is
right, 2 when some task failed, 1 when the client could not run at all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import _venv  # noqa: F401
from calls import add, slow_square
from passer import AsyncClient, Client, PasserError, Task, TaskError, codecs


async def with_asyncio(schedulers: list) -> dict:
    async with AsyncClient(schedulers) as client:
        squares = await asyncio.gather(*(slow_square.submit(client.client, float(x)) for x in range(8)))
        stream = await client.submit(None, [Task("stats", "word-stats", codecs.JSON.encode({"text": "to be or not"}))])
        (stats,) = [result async for result in stream]
        return {"squares": squares, "word_stats": codecs.JSON.decode(stats.output)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", default=os.environ.get("PASSER_SCHEDULERS", "127.0.0.1:20503"))
    args = parser.parse_args()
    schedulers = args.scheduler.split(",")
    began = time.monotonic()
    try:
        with Client(schedulers) as client:
            five = add.submit(client, 2, 3).result(timeout=60)
            sums = [future.result(timeout=60) for future in add.map(client, range(100), range(100))]
        report = {"add": five, "map_sum": sum(sums), **asyncio.run(with_asyncio(schedulers))}
    except TaskError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except PasserError as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    report["seconds"] = round(time.monotonic() - began, 3)
    print(json.dumps(report))
    right = (
        report["add"] == 5
        and report["map_sum"] == 2 * sum(range(100))
        and report["squares"] == [float(x * x) for x in range(8)]
        and report["word_stats"] == {"words": 4, "longest": "not"}
    )
    return 0 if right else 2


if __name__ == "__main__":
    sys.exit(main())
