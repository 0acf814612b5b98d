"""passer-bench's workloads on Dask distributed: a LocalCluster of `workers`
worker processes with one thread each."""

import time

import dask
from dask.distributed import Client, LocalCluster

import common


def noop(payload):
    return payload


def sleep_ms(millis):
    time.sleep(millis / 1000.0)
    return millis


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


if __name__ == "__main__":
    common.main(System())
