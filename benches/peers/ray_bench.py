"""passer-bench's workloads on Ray: a local Ray instance with `workers` CPUs
(one worker process each), tasks as remote functions. Graphs pass object
refs as arguments (Ray resolves them before the task runs; no `ray.get`
inside a task), and a word count map returns one object per partition
(`num_returns`), Ray's documented shuffle idiom."""

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


link = ray.remote(common.link)
fan_item = ray.remote(common.fan_item)
count_inputs = ray.remote(common.count_inputs)
wc_reduce_parts = ray.remote(lambda *parts: common.wc_reduce(parts))


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

    def chain(self, links):
        ref = link.remote(None)
        for _ in range(links - 1):
            ref = link.remote(ref)
        return ray.get(ref)

    def fan_out_in(self, width):
        refs = [fan_item.remote(index) for index in range(width)]
        return ray.get(count_inputs.remote(*refs))

    def word_count(self, paths, reducers):
        wc_map = ray.remote(num_returns=reducers)(common.wc_map)
        maps = [wc_map.remote(path, reducers) for path in paths]
        if reducers == 1:
            maps = [[ref] for ref in maps]
        reduces = [wc_reduce_parts.remote(*[parts[j] for parts in maps]) for j in range(reducers)]
        counts = {}
        for partial in ray.get(reduces):
            counts.update(partial)
        return counts


if __name__ == "__main__":
    common.main(System())
