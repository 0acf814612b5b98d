#!/usr/bin/env python3
"""Word count as a passer task graph: map over files, hash-partitioned reduce.

Two halves in one file:

- ``wordcount.py executor``: a Python executor serving ``wc-map`` and
  ``wc-reduce``; run it under each node monitor::

      passer-node-monitor --executor "python3 examples/python/wordcount.py executor"

- ``wordcount.py run``: writes ``--files`` generated text files (or takes
  ``--input`` files), then runs the graph::

      map     one wc-map task per file (payload: the file's path);
              output: {"<partition>": {"word": count, ...}, ...}, words
              assigned to one of --reducers partitions by CRC-32
      reduce  made from the map outputs once they are all in: one wc-reduce
              task per partition, its payload that partition's counts from
              every map task (the shuffle, in the client); output: the sums

      python3 examples/python/wordcount.py run --files 20 --reducers 4 --check

Only paths go to the map tasks (the files stay where they are, on storage
every node can read); the counts themselves are small and flow through the
client, which is what a graph's data path suits. Prints the top words; with
``--check`` also counts locally. Exits as ``passer`` commands do: 0 when
every task succeeded (and the check passed), 1 when the client could not
run the graph, 2 when tasks failed or were cancelled, or the counts differ.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import random
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Counter, Dict, List

import _venv  # noqa: F401  (re-execs under the repo's .venv if passer is missing)
from passer import Client, Executor, Graph, Inputs, PasserError, RunningTask, StageFinished, Task, TaskFailed

VOCABULARY = [
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
    "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they",
    "you", "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when",
    "will", "would", "who", "so", "no", "sparrow", "passer", "scheduler", "task", "graph", "stage",
]


def words_of(text: str) -> List[str]:
    return text.lower().split()


def partition_of(word: str, partitions: int) -> int:
    """The reduce partition of a word: stable across processes (unlike ``hash``)."""
    return zlib.crc32(word.encode("utf-8")) % partitions


# === the executor ===


def map_file(task: RunningTask) -> bytes:
    """``{"partitions": R, "path": P}`` -> counts of P's words, split into R partitions."""
    try:
        spec = json.loads(task.payload)
        path, partitions = spec["path"], int(spec["partitions"])
    except (ValueError, KeyError, TypeError) as error:
        raise TaskFailed(f"wc-map payload must be {{\"path\": ..., \"partitions\": N}}: {error}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise TaskFailed(f"read {path}: {error.strerror}")
    split: Dict[str, Counter[str]] = collections.defaultdict(collections.Counter)
    for word in words_of(text):
        split[str(partition_of(word, partitions))][word] += 1
    return json.dumps(split, separators=(",", ":")).encode()


def reduce_partition(task: RunningTask) -> bytes:
    """``[{"word": count}, ...]`` (one object per map task) -> the summed counts."""
    try:
        parts = json.loads(task.payload)
    except ValueError as error:
        raise TaskFailed(f"wc-reduce payload is not JSON: {error}")
    total: Counter[str] = collections.Counter()
    for part in parts:
        total.update(part)
    return json.dumps(dict(sorted(total.items())), separators=(",", ":")).encode()


def serve(args: argparse.Namespace) -> int:
    executor = Executor(attach=args.attach)
    executor.register("wc-map", map_file, slots=args.slots)
    executor.register("wc-reduce", reduce_partition, slots=args.slots)
    executor.run()
    return 0


# === the client ===


def generate_files(directory: Path, count: int, words_per_file: int, seed: int) -> List[Path]:
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(VOCABULARY))]  # Zipf-like
    paths = []
    for index in range(count):
        words = rng.choices(VOCABULARY, weights, k=words_per_file)
        lines = [" ".join(words[start:start + 12]) for start in range(0, len(words), 12)]
        path = directory / f"part-{index:04}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def build_graph(paths: List[Path], reducers: int) -> Graph:
    graph = Graph()
    map_tasks = [
        Task(f"m{index:04}", "wc-map", json.dumps({"path": str(path), "partitions": reducers}))
        for index, path in enumerate(paths)
    ]
    graph.stage("map", map_tasks)

    def shuffle(inputs: Inputs) -> List[Task]:
        per_partition: List[List[Dict[str, int]]] = [[] for _ in range(reducers)]
        for _task_id, output in inputs.node("map"):
            for partition, counts in json.loads(output).items():
                per_partition[int(partition)].append(counts)
        return [
            Task(f"r{partition:02}", "wc-reduce", json.dumps(parts, separators=(",", ":")))
            for partition, parts in enumerate(per_partition)
        ]

    graph.stage("reduce", generate=shuffle, after=["map"])
    return graph


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="passer-wordcount-") as scratch:
        if args.input:
            paths = [Path(path).resolve() for path in args.input]
        else:
            paths = generate_files(Path(args.dir or scratch).resolve(), args.files, args.words, args.seed)
        graph = build_graph(paths, args.reducers)
        started = time.monotonic()
        try:
            with Client(args.schedulers, token=args.token) as client:
                graph_run = client.run_graph(graph, timeout=args.timeout)
                for event in graph_run:
                    if isinstance(event, StageFinished):
                        print(f"stage {event.node}: {event.succeeded} succeeded, {event.failed} failed, "
                              f"{event.cancelled} cancelled", file=sys.stderr)
                outcome = graph_run.outcome()
        except PasserError as error:
            print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        seconds = time.monotonic() - started
        for node, task_id, error in outcome.failed + outcome.cancelled:
            print(f"{node}/{task_id}: {error}", file=sys.stderr)
        if not outcome.ok:
            return 2
        counts: Counter[str] = collections.Counter()
        for _task_id, output in outcome.results("reduce"):
            counts.update(json.loads(output))
        summary = {"files": len(paths), "reducers": args.reducers, "words": sum(counts.values()),
                   "distinct": len(counts), "seconds": round(seconds, 3), "top": counts.most_common(args.top)}
        if args.json:
            print(json.dumps(summary))
        else:
            print(f"{summary['words']} words ({summary['distinct']} distinct) in {len(paths)} files, "
                  f"{args.reducers} reducers, {seconds:.2f}s")
            for word, count in summary["top"]:
                print(f"{count:>10} {word}")
        if args.check:
            expected: Counter[str] = collections.Counter()
            for path in paths:
                expected.update(words_of(path.read_text(encoding="utf-8")))
            if expected != counts:
                print("check: the graph's counts differ from a local count", file=sys.stderr)
                return 2
            print("check: matches a local count", file=sys.stderr)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    executor = commands.add_parser("executor", help="serve wc-map and wc-reduce")
    executor.add_argument("--attach", help="node monitor address (default: $PASSER_ATTACH_ADDR)")
    executor.add_argument("--slots", type=int, default=int(os.environ.get("PASSER_SLOTS", "2")))
    client = commands.add_parser("run", help="generate files and run the graph")
    client.add_argument("--schedulers", default=os.environ.get("PASSER_SCHEDULERS", "127.0.0.1:20503"))
    client.add_argument("--token", default=None, help="shared token (default: $PASSER_TOKEN)")
    client.add_argument("--files", type=int, default=20, help="text files to generate")
    client.add_argument("--words", type=int, default=5000, help="words per generated file")
    client.add_argument("--seed", type=int, default=1)
    client.add_argument("--dir", help="where to write the generated files (default: a temporary directory)")
    client.add_argument("--input", nargs="*", help="count these files instead of generated ones")
    client.add_argument("--reducers", type=int, default=4, help="reduce partitions")
    client.add_argument("--top", type=int, default=10)
    client.add_argument("--timeout", type=float, default=None, help="seconds per stage")
    client.add_argument("--check", action="store_true", help="compare with a local count")
    client.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("PASSER_LOG_LEVEL", "WARNING").upper(), stream=sys.stderr)
    if args.command == "executor":
        return serve(args)
    if args.reducers < 1 or (not args.input and args.files < 1):
        parser.error("--reducers and --files must be at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
