"""A real passer cluster for the SDK tests: the release binaries
(``passer-scheduler``, ``passer-node-monitor``) as child processes on
loopback, each logging to a file shown when a wait fails.

The binaries come from ``$PASSER_BIN_DIR``, else the repository's
``${CARGO_TARGET_DIR:-target}/release`` (``.ci/run`` builds them before the
Python tests). Without them the tests that need a cluster are skipped,
except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import pytest

from passer import Client, PasserError

SDK_DIR = Path(__file__).resolve().parent.parent
REPO = SDK_DIR.parent.parent
#: The longest a cluster may take to come up or a test may wait for one thing.
WAIT = 20.0
WAIT_READY = 20.0  # the longest a server may take to bind its listeners


def bin_dir() -> Path:
    """Where the release binaries are."""
    explicit = os.environ.get("PASSER_BIN_DIR")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    if not target.is_absolute():
        target = REPO / target
    return target / "release"


def require_binaries() -> Path:
    """The binaries' directory; skips the test (fails under CI) when they are missing."""
    directory = bin_dir()
    missing = [name for name in ("passer-scheduler", "passer-node-monitor") if not (directory / name).exists()]
    if missing:
        message = f"no {', '.join(missing)} in {directory}: cargo build --release (or set PASSER_BIN_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return directory


def python_executor_command(script: str, *args: str) -> str:
    """A ``--executor`` command line running ``examples/python/<script>`` with this Python."""
    path = REPO / "examples" / "python" / script
    return " ".join([sys.executable, str(path), *args])


class Process:
    """One child process with its log file."""

    def __init__(self, name: str, argv: Sequence[str], env: dict, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(list(argv), env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, ready_file: Path) -> Dict[str, str]:
        """Waits for the ``--ready-file`` the server writes once its listeners
        are bound; returns listener name -> ``host:port``. Fails naming the
        process and its log if it exits first or takes longer than WAIT_READY."""
        deadline = time.monotonic() + WAIT_READY
        while not ready_file.exists():
            if self.popen.poll() is not None:
                pytest.fail(f"{self.name} exited ({self.popen.returncode}) before it was ready\n{self.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} wrote no ready file within {WAIT_READY}s\n{self.log_tail()}")
            time.sleep(0.01)
        lines = ready_file.read_text().splitlines()
        return dict(line.split(" ", 1) for line in lines if " " in line)

    def kill(self) -> None:
        """SIGKILL, then reap."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=WAIT)
        self._log.close()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"  {self.name}: {line}" for line in text[-lines:])


class Cluster:
    """``schedulers`` schedulers sampling ``node_monitors`` node monitors."""

    def __init__(
        self,
        schedulers: int = 1,
        node_monitors: int = 2,
        node_args: Sequence[str] = (),
        scheduler_args: Sequence[str] = (),
    ) -> None:
        directory = require_binaries()
        self._tmp = tempfile.TemporaryDirectory(prefix="passer-pytest-")
        log_dir = Path(self._tmp.name)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SDK_DIR), env.get("PYTHONPATH")]))
        env.setdefault("RUST_LOG", "warn")
        self.processes: List[Process] = []
        self.node_addrs: List[str] = []
        self.scheduler_addrs: List[str] = []
        #: Status page addresses of schedulers started with ``--http-listen``.
        self.scheduler_http_addrs: List[str] = []
        try:
            # Port 0 everywhere: each server reports the port it bound.
            for index in range(node_monitors):
                ready = log_dir / f"node{index}.ready"
                argv = [
                    str(directory / "passer-node-monitor"), "--listen", "127.0.0.1:0",
                    "--ready-file", str(ready), *node_args,
                ]
                self.processes.append(Process(f"node{index}", argv, env, log_dir))
                self.node_addrs.append(self.processes[-1].wait_ready(ready)["grpc"])
            for index in range(schedulers):
                ready = log_dir / f"scheduler{index}.ready"
                argv = [
                    str(directory / "passer-scheduler"), "--listen", "127.0.0.1:0", "--ready-file", str(ready),
                    "--node-monitors", ",".join(self.node_addrs), *scheduler_args,
                ]
                self.processes.append(Process(f"scheduler{index}", argv, env, log_dir))
                bound = self.processes[-1].wait_ready(ready)
                self.scheduler_addrs.append(bound["grpc"])
                if "http" in bound:
                    self.scheduler_http_addrs.append(bound["http"])
        except BaseException:
            self.stop()
            raise
        self.schedulers = self.processes[node_monitors:]

    def client(self, **kwargs: object) -> Client:
        """A client of every scheduler, with quick retries."""
        kwargs.setdefault("initial_backoff", 0.02)
        kwargs.setdefault("max_backoff", 0.2)
        return Client(self.scheduler_addrs, **kwargs)  # type: ignore[arg-type]

    def wait_executor(self, executor: str, nodes: Optional[int] = None) -> None:
        """Waits until every scheduler sees ``nodes`` (default: all) node monitors offering ``executor``."""
        wanted = len(self.node_addrs) if nodes is None else nodes
        with Client(self.scheduler_addrs) as client:
            for address in self.scheduler_addrs:
                self.wait_for(
                    f"{wanted} node monitors offering {executor!r} at scheduler {address}",
                    lambda: _offering(client, address, executor) >= wanted,
                )

    def wait_for(self, what: str, condition: Callable[[], bool], limit: float = WAIT) -> None:
        """Polls ``condition`` until true; fails naming ``what`` and the logs after ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while not condition():
            if time.monotonic() > deadline:
                logs = "\n".join(process.log_tail() for process in self.processes)
                pytest.fail(f"waited {limit}s for {what}\n{logs}")
            time.sleep(0.05)

    def kill_scheduler(self, address: str) -> None:
        """SIGKILLs the scheduler at ``address``."""
        self.schedulers[self.scheduler_addrs.index(address)].kill()

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
        self._tmp.cleanup()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _offering(client: Client, address: str, executor: str) -> int:
    try:
        stats = client.stats(address)
    except PasserError:
        return 0
    return sum(1 for node in stats.nodes if executor in node.executors)
