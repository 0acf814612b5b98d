"""Workloads shared by the peer benchmarks (Ray, Dask, Celery), so each
system runs exactly the same throughput, latency, makespan, load and task
graph workloads as passer-bench does, and prints one JSON object.

A peer module provides a `System` with: `name`, `version`, `start(workers)`,
`stop()`, `submit(kind, arg) -> handle` (kind "noop" or "sleep", arg a
payload or milliseconds), `result(handle)` (blocking), `gather(handles)`
and `watch(handle, on_done)` (calls `on_done()` from any thread once the
task's result is available at the client). For the graph workloads, each in
the system's own fastest documented idiom: `chain(links)` (each task after
the previous; returns the last output), `fan_out_in(width)` (width tasks,
then one over all their outputs; returns that task's output, the count of
inputs it saw) and `word_count(paths, reducers)` (a `wc_map` task per file,
then `reducers` `wc_reduce` tasks over the map outputs; returns the summed
counts).

The graph task bodies live here (`link`, `fan_item`, `count_inputs`,
`wc_map`, `wc_reduce`) so every peer runs the same code; passer's
executor (`passer-bench executor`) implements the same contract in Rust.

Each graph run has a deadline (`--workload-timeout`, seconds): a run past
it ends that workload, reported with `timed_out_after_seconds` and no
median, the system is restarted (`stop()` then `start(workers)`), and the
next workload runs.
"""

import argparse
import json
import math
import os
import random
import sys
import threading
import time
import zlib

import psutil


def summary(samples):
    """Nearest-rank percentiles, as passer-bench's stats module computes them."""
    if not samples:
        return {"count": 0, "min": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0, "mean": 0}
    ordered = sorted(samples)

    def rank(quantile):
        index = max(1, math.ceil(quantile * len(ordered)))
        return ordered[min(index, len(ordered)) - 1]

    return {
        "count": len(ordered),
        "min": ordered[0],
        "p50": rank(0.50),
        "p90": rank(0.90),
        "p99": rank(0.99),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
    }


class PeakRss:
    """Samples the summed RSS of this process and all its descendants."""

    def __init__(self, interval=0.2):
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = psutil.Process(os.getpid())
        while not self._stop.is_set():
            total = 0
            for process in [me] + me.children(recursive=True):
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


def throughput(system, tasks):
    started = time.perf_counter()
    handles = [system.submit("noop", b"x") for _ in range(tasks)]
    system.gather(handles)
    seconds = time.perf_counter() - started
    return {"tasks": tasks, "seconds": seconds, "tasks_per_second": tasks / seconds}


def latency(system, count):
    round_trips = []
    for _ in range(count):
        started = time.perf_counter()
        system.result(system.submit("noop", b"x"))
        round_trips.append((time.perf_counter() - started) * 1e6)
    return {"round_trip_us": summary(round_trips)}


def makespan(system, tasks, service_ms, slots):
    started = time.perf_counter()
    system.gather([system.submit("sleep", service_ms) for _ in range(tasks)])
    seconds = time.perf_counter() - started
    ideal = tasks * service_ms / 1000.0 / slots
    return {"tasks": tasks, "service_ms": service_ms, "slots": slots, "seconds": seconds,
            "ideal_seconds": ideal, "ratio_to_ideal": seconds / ideal}


def load_point(system, load, slots, service_ms, duration, max_tasks, seed):
    """Poisson arrivals of single sleep tasks at `load` of slot capacity."""
    rate = load * slots * 1000.0 / service_ms
    rng = random.Random(seed)
    responses = []
    lock = threading.Lock()
    done = threading.Semaphore(0)
    offered = 0
    started = time.perf_counter()
    next_arrival = started
    while offered < max_tasks and next_arrival - started < duration:
        pause = next_arrival - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        submitted = time.perf_counter()
        handle = system.submit("sleep", service_ms)
        offered += 1

        def on_done(submitted=submitted):
            elapsed = time.perf_counter() - submitted
            with lock:
                responses.append(elapsed)
            done.release()

        system.watch(handle, on_done)
        next_arrival += -math.log(1.0 - rng.random()) / rate
    finished = 0
    deadline = time.perf_counter() + duration + 60
    while finished < offered and done.acquire(timeout=max(0.0, deadline - time.perf_counter())):
        finished += 1
    service = service_ms / 1000.0
    return {
        "load": load, "offered_tasks_per_second": rate, "job_size": 1, "service_ms": service_ms,
        "tasks": offered, "failed": offered - finished,
        "response_ratio": summary([r / service for r in responses]),
        "response_ms": summary([r * 1000.0 for r in responses]),
    }


# === the task graph workloads ===


def link(previous=None):
    """A chain link: a no-op that waits for its predecessor's output."""
    return "x"


def fan_item(index):
    """A fan-out task: a no-op."""
    return "x"


def count_inputs(*outputs):
    """The fan-in task: sees every fan-out output, returns how many."""
    if len(outputs) == 1 and isinstance(outputs[0], list):
        outputs = outputs[0]
    return len(outputs)


def partition_of(word, reducers):
    """A word's reduce partition: CRC-32 of its UTF-8 bytes (as passer's executor does)."""
    return zlib.crc32(word.encode("utf-8")) % reducers


def wc_map(path, reducers):
    """Counts a file's words: one {word: count} per reduce partition."""
    parts = [{} for _ in range(reducers)]
    with open(path, encoding="utf-8") as text:
        for word in text.read().split():
            part = parts[partition_of(word, reducers)]
            part[word] = part.get(word, 0) + 1
    return parts


def wc_reduce(parts):
    """Sums one partition's counts from every map task."""
    total = {}
    for part in parts:
        for word, count in part.items():
            total[word] = total.get(word, 0) + count
    return total


def local_word_count(paths):
    counts = {}
    for path in paths:
        with open(path, encoding="utf-8") as text:
            for word in text.read().split():
                counts[word] = counts.get(word, 0) + 1
    return counts


class WorkloadTimeout(Exception):
    """A graph run did not finish within the workload timeout."""


def repeated(runs, measure, system, timeout):
    """Runs `measure()` (returning seconds) `runs` times: every time and the
    median. A run that takes longer than `timeout` seconds ends the workload:
    it is reported as not finished (`timed_out_after_seconds`, no median)
    with the runs before it, and the system is restarted for what follows."""
    times = []
    for _ in range(runs):
        try:
            times.append(within(timeout, measure))
        except WorkloadTimeout:
            print(f"{system.name}: a run did not finish in {timeout:g} s; restarting {system.name}",
                  file=sys.stderr, flush=True)
            restart(system)
            return {"runs": times, "median_seconds": None, "timed_out_after_seconds": timeout}
    return {"runs": times, "median_seconds": sorted(times)[(len(times) - 1) // 2]}


def within(timeout, action):
    """`action()`'s result, or WorkloadTimeout once `timeout` seconds pass
    (the action goes on in a daemon thread until the restart ends it)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = action()
        except BaseException as error:  # handed to the caller
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise WorkloadTimeout()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def restart(system):
    """Stops and starts `system` so a stalled run leaves nothing queued behind."""
    try:
        system.stop()
    except Exception as error:  # a stalled system may not stop cleanly; start anew anyway
        print(f"{system.name}: stop after a timeout failed: {error!r}", file=sys.stderr, flush=True)
    system.start(system.workers)


def timed(action, check):
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    check(result)
    return seconds


def chain(system, links, runs, timeout):
    def check(result):
        assert result == "x", f"chain ended with {result!r}"

    report = repeated(runs, lambda: timed(lambda: system.chain(links), check), system, timeout)
    median = report["median_seconds"]
    report.update(links=links, per_link_us=None if median is None else median / links * 1e6)
    return report


def fan_out_in(system, width, runs, timeout):
    def check(result):
        assert result == width, f"fan-in saw {result} inputs of {width}"

    report = repeated(runs, lambda: timed(lambda: system.fan_out_in(width), check), system, timeout)
    report.update(tasks=width)
    return report


def word_count(system, directory, reducers, runs, timeout):
    paths = sorted(os.path.join(directory, name) for name in os.listdir(directory) if name.endswith(".txt"))
    expected = local_word_count(paths)

    def check(result):
        assert result == expected, "word counts differ from a local count"

    report = repeated(runs, lambda: timed(lambda: system.word_count(paths, reducers), check), system, timeout)
    report.update(maps=len(paths), reducers=reducers, words=sum(expected.values()))
    return report


def main(system):
    parser = argparse.ArgumentParser(description=f"benchmark {system.name} like passer-bench")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--throughput-tasks", type=int, default=10000)
    parser.add_argument("--latency-count", type=int, default=1000)
    parser.add_argument("--makespan-tasks", type=int, default=2000)
    parser.add_argument("--service-ms", type=int, default=10)
    parser.add_argument("--loads", default="0.5,0.8,0.95")
    parser.add_argument("--load-seconds", type=float, default=10.0)
    parser.add_argument("--load-max-tasks", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chain-links", type=int, default=1000)
    parser.add_argument("--fan-out-tasks", type=int, default=10000)
    parser.add_argument("--wordcount-dir", default="", help="the generated text files (passer-bench writes them)")
    parser.add_argument("--wordcount-reducers", type=int, default=20)
    parser.add_argument("--graph-runs", type=int, default=3, help="repetitions of each graph workload")
    parser.add_argument("--workload-timeout", type=float, default=120.0,
                        help="seconds one graph run may take; a run past it is reported as not finished")
    parser.add_argument("--workloads", default="throughput,latency,makespan,load",
                        help="comma-separated: throughput, latency, makespan, load, chain, fan-out, wordcount")
    args = parser.parse_args()
    workloads = set(args.workloads.split(","))
    report = {"system": system.name, "version": system.version(), "workers": args.workers}
    with PeakRss() as rss:
        try:
            system.workers = args.workers
            system.start(args.workers)
            system.gather([system.submit("noop", b"warm") for _ in range(20)])
            if "throughput" in workloads:
                report["throughput"] = throughput(system, args.throughput_tasks)
            if "latency" in workloads:
                report["latency"] = latency(system, args.latency_count)
            if "makespan" in workloads:
                report["makespan"] = makespan(system, args.makespan_tasks, args.service_ms, args.workers)
            if "load" in workloads:
                report["load"] = [
                    load_point(system, float(load), args.workers, args.service_ms, args.load_seconds,
                               args.load_max_tasks, args.seed)
                    for load in args.loads.split(",")
                ]
            if "chain" in workloads:
                report["chain"] = chain(system, args.chain_links, args.graph_runs, args.workload_timeout)
            if "fan-out" in workloads:
                report["fan_out"] = fan_out_in(system, args.fan_out_tasks, args.graph_runs, args.workload_timeout)
            if "wordcount" in workloads:
                report["word_count"] = word_count(system, args.wordcount_dir, args.wordcount_reducers,
                                                  args.graph_runs, args.workload_timeout)
        finally:
            system.stop()
    report["peak_rss_mib"] = rss.peak_bytes / (1024 * 1024)
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
