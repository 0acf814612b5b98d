"""The examples in ``examples/python/`` as real processes, against the fakes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

from fakes import WAIT, FakeNodeMonitor, FakeScheduler, run_task, start_server
from passer.v1 import executor_pb2_grpc, scheduler_pb2_grpc

SDK_DIR = Path(__file__).resolve().parent.parent
EXAMPLES = SDK_DIR.parent.parent / "examples" / "python"

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="examples/python not present")


def example_env(**extra: str) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SDK_DIR)  # the same passer the tests import
    env.update(extra)
    return env


@pytest.fixture
def node_monitor() -> Iterator[Tuple[FakeNodeMonitor, int]]:
    fake = FakeNodeMonitor()
    server, port = start_server(lambda s: executor_pb2_grpc.add_ExecutorsServicer_to_server(fake, s))
    yield fake, port
    server.stop(0)


def test_executor_example_runs_tasks_and_drains_on_sigterm(node_monitor) -> None:
    fake, port = node_monitor
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "executor.py"), "--slots", "2"],
        env=example_env(PASSER_ATTACH_ADDR=f"http://127.0.0.1:{port}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        conn = fake.next_connection(timeout=15)
        assert (conn.hello.executor, conn.hello.slots, conn.hello.pid) == ("python", 2, process.pid)
        conn.run(run_task("a", b"abc"), run_task("b", b"fail:boom"))
        by_id = {r.task_id: r for r in conn.results(2)}
        assert by_id["a"].ok and by_id["a"].output == f"CBA pid={process.pid}".encode()
        assert not by_id["b"].ok and by_id["b"].error == "boom"
        conn.run(run_task("slow", b"sleep:300"))
        assert conn.next_message().WhichOneof("message") == "progress"  # it started
        process.send_signal(signal.SIGTERM)  # drains: the running task still reports
        (slow,) = conn.results(1)
        assert slow.ok and slow.output.startswith(b"slept 300ms")
        assert process.wait(timeout=WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=WAIT)
        if process.stderr is not None:
            process.stderr.close()


def test_client_example_prints_results() -> None:
    fake = FakeScheduler()
    server, port = start_server(lambda s: scheduler_pb2_grpc.add_SchedulerServicer_to_server(fake, s))
    try:
        completed = subprocess.run(
            [sys.executable, str(EXAMPLES / "client.py"), "-n", "3", "--json", "--job-id", "ex"],
            env=example_env(PASSER_SCHEDULERS=f"http://127.0.0.1:{port}"),
            capture_output=True,
            text=True,
            timeout=20,
        )
    finally:
        server.stop(0)
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert sorted(line["task_id"] for line in lines) == ["t0", "t1", "t2"]
    assert {line["status"] for line in lines} == {"SUCCEEDED"}
    assert fake.requests[0].job_id == "ex"


def test_wordcount_example_counts_generated_files_on_a_real_cluster() -> None:
    from cluster import Cluster, python_executor_command

    executor = python_executor_command("wordcount.py", "executor", "--slots", "2")
    with Cluster(schedulers=1, node_monitors=2, node_args=["--executor", executor]) as cluster:
        cluster.wait_executor("wc-map")
        cluster.wait_executor("wc-reduce")
        completed = subprocess.run(
            [sys.executable, str(EXAMPLES / "wordcount.py"), "run", "--files", "12", "--words", "800",
             "--reducers", "3", "--check", "--json", "--timeout", "20"],
            env=example_env(PASSER_SCHEDULERS=",".join(cluster.scheduler_addrs)),
            capture_output=True,
            text=True,
            timeout=25,
        )
    assert completed.returncode == 0, completed.stderr
    assert "check: matches a local count" in completed.stderr
    assert "stage map: 12 succeeded" in completed.stderr and "stage reduce: 3 succeeded" in completed.stderr
    summary = json.loads(completed.stdout)
    assert (summary["files"], summary["words"]) == (12, 12 * 800)
    assert summary["top"][0][0] == "the"


def _fail_odd_tasks(request, context):
    from fakes import accepted, finished, job_finished, results

    yield accepted(request)
    ends = [finished(t.task_id, b"x", ok=int(t.task_id[1:]) % 2 == 0, error="odd") for t in request.tasks]
    yield results(*ends)
    failed = sum(1 for end in ends if end.error)
    yield job_finished(succeeded=len(ends) - failed, failed=failed)


def test_client_example_exit_codes_match_passer_cli() -> None:
    """2 when tasks did not succeed, 1 when the client could not run the job (as `passer submit`)."""
    fake = FakeScheduler(_fail_odd_tasks)
    server, port = start_server(lambda s: scheduler_pb2_grpc.add_SchedulerServicer_to_server(fake, s))
    try:
        failed_tasks = subprocess.run(
            [sys.executable, str(EXAMPLES / "client.py"), "-n", "3", "--json"],
            env=example_env(PASSER_SCHEDULERS=f"http://127.0.0.1:{port}"),
            capture_output=True, text=True, timeout=20,
        )
    finally:
        server.stop(0)
    assert failed_tasks.returncode == 2, failed_tasks.stderr
    unreachable = subprocess.run(
        [sys.executable, str(EXAMPLES / "client.py"), "-n", "1", "--timeout", "3"],
        env=example_env(PASSER_SCHEDULERS="http://127.0.0.1:1"),
        capture_output=True, text=True, timeout=60,
    )
    assert unreachable.returncode == 1, unreachable.stderr
