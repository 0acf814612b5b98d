"""The Celery app the Celery benchmark's worker runs: Redis as broker and
result backend, at the loopback port in PASSER_BENCH_REDIS_PORT."""

import os
import time

from celery import Celery

import common

_port = os.environ.get("PASSER_BENCH_REDIS_PORT", "16379")
app = Celery("passer_bench", broker=f"redis://127.0.0.1:{_port}/0", backend=f"redis://127.0.0.1:{_port}/1")
app.conf.update(worker_hijack_root_logger=False)


@app.task
def noop(payload):
    return payload


@app.task
def sleep_ms(millis):
    time.sleep(millis / 1000.0)
    return millis


# The graph workloads' task bodies, shared with the other peers.
link = app.task(name="link")(common.link)
fan_item = app.task(name="fan_item")(common.fan_item)
count_inputs = app.task(name="count_inputs")(common.count_inputs)
wc_map = app.task(name="wc_map")(common.wc_map)
wc_reduce = app.task(name="wc_reduce")(common.wc_reduce)
