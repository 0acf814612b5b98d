"""passer-bench's workloads on Ray: a local Ray instance with `workers` CPUs
(one worker process each), tasks as remote functions."""

import time
from concurrent.futures import ThreadPoolExecutor

import ray

import common


@ray.remote
def noop(payload):
    return payload


@ray.remote
def sleep_ms(millis):
    time.sleep(millis / 1000.0)
    return millis


class System:
    name = "ray"

    def version(self):
        return ray.__version__

    def start(self, workers):
        ray.init(num_cpus=workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        self.waiters = ThreadPoolExecutor(max_workers=64)

    def stop(self):
        self.waiters.shutdown(wait=False)
        ray.shutdown()

    def submit(self, kind, arg):
        return noop.remote(arg) if kind == "noop" else sleep_ms.remote(arg)

    def result(self, handle):
        return ray.get(handle)

    def gather(self, handles):
        return ray.get(handles)

    def watch(self, handle, on_done):
        self.waiters.submit(lambda: (ray.get(handle), on_done()))


if __name__ == "__main__":
    common.main(System())
