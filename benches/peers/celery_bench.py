"""passer-bench's workloads on Celery: a private redis-server on a loopback
port as broker and result backend, and one prefork worker with
`workers` processes. Graphs in Celery's canvas: a chain of 1,000 `link`
signatures, a chord (a group of `fan_item`, then `count_inputs` over the
list of results); word count has 20 reduce tasks, which a chord body
(one task) cannot be, so it runs as two groups with the map outputs
passed through the client, as passer's frontend passes them.

Redis listens on a free loopback port (or PASSER_BENCH_REDIS_PORT), so a
server left by an earlier, killed run cannot serve this one; the worker and
Redis run in their own process groups, killed whole on stop."""

import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import celery
from celery import chain, chord, group

import common

HERE = os.path.dirname(os.path.abspath(__file__))


def settled(result, timeout=600):
    """The result of one AsyncResult, read by polling its state in Redis.

    `AsyncResult.get()` on the Redis backend waits for a pub/sub message;
    under load it sometimes never sees the message although the result is
    stored (a chord of 10,000 whose body finished in 50 s, a `get` still
    waiting at 170 s), so the wait asks Redis for the state every
    millisecond instead (`ready()` reads the stored result), then `get()`
    returns the stored value or raises the task's error."""
    deadline = time.monotonic() + timeout
    while not result.ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no result for {result.id} in {timeout} s")
        time.sleep(0.001)
    return result.get(timeout=10)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class System:
    name = "celery"

    def version(self):
        return celery.__version__

    def __init__(self):
        self._pending = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self, workers):
        # A port of our own: a redis-server (or worker) left behind by an
        # earlier, killed run must not serve this one.
        port = os.environ.get("PASSER_BENCH_REDIS_PORT") or str(free_port())
        os.environ["PASSER_BENCH_REDIS_PORT"] = port
        self.redis = subprocess.Popen(
            ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        import celery_tasks  # reads the port

        # After a restart, a fresh app: the old one's result consumer gave up on the old Redis.
        self.tasks = importlib.reload(celery_tasks) if getattr(self, "tasks", None) else celery_tasks
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celery_tasks", "worker", "--pool", "prefork",
             "--concurrency", str(workers), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.redis.poll() is not None:
                raise RuntimeError(f"redis-server on port {port} exited with {self.redis.returncode} (port in use?)")
            try:
                self.tasks.noop.apply_async(args=["ping"]).get(timeout=2)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def stop(self):
        self._stop.set()
        for process in (getattr(self, "worker", None), getattr(self, "redis", None)):
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
            # The prefork pool's children too, whatever state the worker was in.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def submit(self, kind, arg):
        if kind == "noop":
            # JSON is Celery's default serializer; it carries text, not bytes.
            return self.tasks.noop.apply_async(args=[arg.decode("latin-1")])
        return self.tasks.sleep_ms.apply_async(args=[arg])

    def result(self, handle):
        return handle.get(timeout=600)

    def gather(self, handles):
        return [handle.get(timeout=600) for handle in handles]

    def chain(self, links):
        return settled(chain(*[self.tasks.link.s(None)] + [self.tasks.link.s() for _ in range(links - 1)]).apply_async())

    def fan_out_in(self, width):
        header = group(self.tasks.fan_item.s(index) for index in range(width))
        return settled(chord(header)(self.tasks.count_inputs.s()))

    def word_count(self, paths, reducers):
        maps = group(self.tasks.wc_map.s(path, reducers) for path in paths).apply_async().get(timeout=600)
        reduces = group(self.tasks.wc_reduce.s([parts[j] for parts in maps]) for j in range(reducers))
        counts = {}
        for partial in reduces.apply_async().get(timeout=600):
            counts.update(partial)
        return counts

    def watch(self, handle, on_done):
        with self._lock:
            self._pending[self.tasks.app.backend.get_key_for_task(handle.id)] = on_done

    def _poll(self):
        """One MGET of every pending task's result key per half millisecond."""
        client = self.tasks.app.backend.client
        while not self._stop.is_set():
            with self._lock:
                keys = list(self._pending)
            if keys:
                for key, value in zip(keys, client.mget(keys)):
                    if value is not None:
                        with self._lock:
                            on_done = self._pending.pop(key)
                        on_done()
            time.sleep(0.0005)


if __name__ == "__main__":
    common.main(System())
