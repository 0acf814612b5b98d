"""passer-bench's workloads on Dask distributed: a LocalCluster of `workers`
worker processes with one thread each. Graphs pass futures to `submit`
(the scheduler runs a task once its argument futures are done, on the
workers' side), fan-out is `client.map` then one `submit` over the list."""

import time

import dask
from dask.distributed import Client, LocalCluster

import common


def noop(payload):
    return payload


def sleep_ms(millis):
    time.sleep(millis / 1000.0)
    return millis


def wc_reduce_partition(maps, partition):
    return common.wc_reduce([parts[partition] for parts in maps])


class System:
    name = "dask"

    def version(self):
        return dask.__version__

    def start(self, workers):
        self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=40)
        self.client = Client(self.cluster)

    def stop(self):
        self.client.close()
        self.cluster.close()

    def submit(self, kind, arg):
        function = noop if kind == "noop" else sleep_ms
        return self.client.submit(function, arg, pure=False)

    def result(self, handle):
        return handle.result()

    def gather(self, handles):
        return self.client.gather(handles)

    def watch(self, handle, on_done):
        handle.add_done_callback(lambda _future: on_done())

    def chain(self, links):
        future = self.client.submit(common.link, None, pure=False)
        for _ in range(links - 1):
            future = self.client.submit(common.link, future, pure=False)
        return future.result()

    def fan_out_in(self, width):
        futures = self.client.map(common.fan_item, range(width), pure=False)
        return self.client.submit(common.count_inputs, futures, pure=False).result()

    def word_count(self, paths, reducers):
        maps = self.client.map(common.wc_map, paths, reducers=reducers, pure=False)
        reduces = [self.client.submit(wc_reduce_partition, maps, j, pure=False) for j in range(reducers)]
        counts = {}
        for partial in self.client.gather(reduces):
            counts.update(partial)
        return counts


if __name__ == "__main__":
    common.main(System())
