"""The client API: submit jobs to passer schedulers and stream their results.

Example::

    from passer import Client, Task

    with Client(["127.0.0.1:20503"]) as client:
        tasks = [Task(f"t{i}", "python", f"hello {i}") for i in range(10)]
        for result in client.submit(None, tasks):  # None: a fresh unique job id
            print(result.task_id, result.status.name, result.output)

Retries on overload, failover between schedulers and exactly-once delivery
per task id are described in :mod:`passer.job`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import uuid
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import grpc

from passer.v1 import scheduler_pb2, scheduler_pb2_grpc

from ._channel import TlsConfig, auth_metadata, open_channel, parse_address, resolve_token
from ._submit_stream import SubmitStreams
from .errors import InvalidArgument, NotFound, PasserError, Unavailable, fatal_error
from .graph import Graph
from .graph_run import GraphRun
from .job import JobStream
from .model import Task, TaskProgress, TaskResult
from .watch import JobWatch

log = logging.getLogger("passer.client")

#: The scheduler address used when none is given and ``$PASSER_SCHEDULERS`` is unset.
DEFAULT_SCHEDULER_ADDR = "127.0.0.1:20503"


def _split_addresses(schedulers: Union[str, Sequence[str], None]) -> List[str]:
    if schedulers is None:
        schedulers = os.environ.get("PASSER_SCHEDULERS") or DEFAULT_SCHEDULER_ADDR
    if isinstance(schedulers, str):
        schedulers = schedulers.split(",")
    addresses = [address.strip() for address in schedulers if address.strip()]
    if not addresses:
        raise ValueError("at least one scheduler address is needed")
    for address in addresses:
        parse_address(address)  # fail early on a malformed address
    return addresses


class Client:
    """Submits jobs to one or more schedulers; thread-safe, reuses connections."""

    def __init__(
        self,
        schedulers: Union[str, Sequence[str], None] = None,
        token: Optional[str] = None,
        *,
        initial_backoff: float = 0.05,
        max_backoff: float = 5.0,
        max_rejections: Optional[int] = None,
        max_unavailable: int = 10,
        connect_timeout: float = 10.0,
        channel_options: Optional[Sequence[Tuple[str, object]]] = None,
        rng: Optional[random.Random] = None,
        tls: Optional[TlsConfig] = None,
        submit_stream: bool = True,
    ) -> None:
        """Configures the client; connections open lazily.

        Args:
            schedulers: Scheduler addresses (``host:port``, ``http(s)://``),
                a list or a comma-separated string; defaults to
                ``$PASSER_SCHEDULERS``, else ``127.0.0.1:20503``.
            token: Shared token sent as ``authorization: Bearer``; defaults
                to ``$PASSER_TOKEN``.
            initial_backoff: First retry delay ceiling in seconds.
            max_backoff: Cap on any one retry delay in seconds.
            max_rejections: Give up (:class:`passer.errors.Overloaded`) after this
                many RESOURCE_EXHAUSTED answers for one job; ``None`` retries forever.
            max_unavailable: Give up (:class:`passer.errors.Unavailable`) once
                this many submissions in a row broke or could not connect
                with no new result in between.
            connect_timeout: Seconds a new job's submission keeps trying while
                no scheduler answers at all, before it raises
                :class:`passer.errors.Unavailable` naming each address and
                why. Certificate errors raise :class:`passer.errors.TlsError`
                at once; addresses that are no scheduler (a node monitor, an
                HTTP port) are not retried.
            channel_options: Extra gRPC channel options.
            rng: Random source for jitter (seed it in tests).
            tls: CA, client certificate and key for TLS; defaults to
                ``$PASSER_TLS_CA`` / ``_CERT`` / ``_KEY`` / ``_DOMAIN`` if set.
            submit_stream: Submit jobs on one long-lived ``SubmitJobs``
                stream per scheduler (a background thread reads it) rather
                than one ``SubmitJob`` call each. Results are the same either
                way; a scheduler without ``SubmitJobs`` gets ``SubmitJob`` calls.
        """
        #: The scheduler addresses, tried in turn.
        self.schedulers = _split_addresses(schedulers)
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_rejections = max_rejections
        self.max_unavailable = max_unavailable
        if connect_timeout <= 0:
            raise ValueError("connect_timeout must be above zero")
        self.connect_timeout = connect_timeout
        self._metadata = auth_metadata(resolve_token(token))
        self._channel_options = channel_options
        self._tls = tls if tls is not None else TlsConfig.from_env()
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._channels: Dict[str, grpc.Channel] = {}
        self._stubs: Dict[str, scheduler_pb2_grpc.SchedulerStub] = {}
        self._round_robin = 0
        #: Whether jobs go on the shared ``SubmitJobs`` streams.
        self.submit_stream = submit_stream
        self._submit_streams = SubmitStreams()

    # === jobs ===

    def submit(
        self,
        job_id: Optional[str],
        tasks: Iterable[Task],
        tenant: str = "",
        priority: int = 0,
        *,
        constraints: Sequence[str] = (),
        timeout: Optional[float] = None,
        on_progress: Optional[Callable[[TaskProgress], None]] = None,
    ) -> JobStream:
        """Submits a job and returns its results as they arrive.

        Blocks until a scheduler admits the job, retrying transparently while
        admission is full. Iterate the returned :class:`passer.job.JobStream`
        for one :class:`TaskResult` per task, in completion order.

        Args:
            job_id: The idempotency key; ``None`` picks a random one.
            tasks: The tasks; ids must be unique.
            tenant: The tenant the job is accounted to.
            priority: Higher runs first, up to the tenant's cap on each node monitor.
            constraints: Job-wide placement constraints, each a ``key=value``
                label the node must have or a node id; they add to each task's own.
            timeout: Seconds for the whole job, retries included; ``None`` waits forever.
            on_progress: Called (on the iterating thread) with each
                :class:`TaskProgress` a running task reports; the latest per
                task is also in ``stream.progress``.

        Raises:
            InvalidArgument: A bad spec, found here or by the scheduler.
            FailedPrecondition: No node offers a needed executor, or the like.
            PasserError: Any other error that retrying could not fix.
        """
        request = self._build_request(job_id, tasks, tenant, priority, constraints)
        stream = JobStream(self, request, timeout, on_progress)
        stream._wait_accepted()
        return stream

    def run(
        self,
        job_id: Optional[str],
        tasks: Iterable[Task],
        tenant: str = "",
        priority: int = 0,
        *,
        constraints: Sequence[str] = (),
        timeout: Optional[float] = None,
    ) -> List[TaskResult]:
        """Like :meth:`submit`, but waits for every result and returns them as a list."""
        with self.submit(job_id, tasks, tenant, priority, constraints=constraints, timeout=timeout) as stream:
            return stream.results()

    def run_graph(
        self,
        graph: Graph,
        tenant: str = "",
        priority: int = 0,
        *,
        timeout: Optional[float] = None,
    ) -> GraphRun:
        """Validates a task graph and starts it (see :mod:`passer.graph`).

        Every node with nothing to wait for is submitted at once, each as job
        ``<graph id>.<node>``; iterate the returned :class:`passer.graph_run.GraphRun`
        for events, or call its ``outcome()``.

        Args:
            graph: The graph.
            tenant: The tenant every stage's job is accounted to.
            priority: Every stage's priority.
            timeout: Seconds for each stage's job, retries included; ``None`` waits forever.

        Raises:
            GraphError: The graph cannot run; the message names the node.
        """
        return GraphRun(self, graph, tenant=tenant, priority=priority, timeout=timeout)

    def watch(self, job_id: str, *, timeout: Optional[float] = None) -> JobWatch:
        """Streams the results of ``job_id``, a job submitted by any client
        (this one after letting its stream go, or another process): the
        results so far, then the rest as they end. A finished job's results
        come back while a scheduler keeps them (``--keep-results-secs``).

        Raises:
            NotFound: No scheduler runs the job or keeps its results.
            JobTimeout: ``timeout`` seconds passed before the job finished.
        """
        return JobWatch(self, job_id, timeout)

    def logs(
        self, job_id: str, task_id: Optional[str] = None, *, timeout: Optional[float] = None
    ) -> Union[Dict[str, str], str]:
        """What the tasks of ``job_id`` wrote, fetched as :meth:`watch` does
        (waiting for running tasks to end): a dict of task id to logs, or
        with ``task_id`` that task's logs alone.

        Raises:
            NotFound: No scheduler knows the job, or it has no task ``task_id``.
        """
        collected: Dict[str, str] = {}
        for result in self.watch(job_id, timeout=timeout):
            if task_id is not None and result.task_id == task_id:
                return result.logs
            collected[result.task_id] = result.logs
        if task_id is not None:
            raise NotFound(f"job {job_id} has no task {task_id!r}")
        return collected

    def cancel(self, job_id: str, scheduler: Optional[str] = None) -> bool:
        """Cancels a job; True if a scheduler was running it.

        Asks ``scheduler`` if given, else each scheduler until one knows the job.
        """
        addresses = [scheduler] if scheduler else self.schedulers
        request = scheduler_pb2.CancelJobRequest(job_id=job_id)
        last_error: Optional[grpc.RpcError] = None
        for address in addresses:
            try:
                response = self._stub(address).CancelJob(
                    request, metadata=self._metadata, timeout=10.0
                )
            except grpc.RpcError as error:
                fatal = fatal_error(error.code(), error.details() or "")
                if fatal is not None:
                    raise fatal
                last_error = error
                continue
            if response.found:
                return True
        if last_error is not None and len(addresses) == 1:
            raise Unavailable(f"cancel {job_id}: {last_error.details()}", last_error.code())
        return False

    def stats(self, scheduler: Optional[str] = None) -> scheduler_pb2.SchedulerStats:
        """Returns a scheduler's counters (the first scheduler unless named)."""
        address = scheduler or self.schedulers[0]
        try:
            return self._stub(address).GetStats(
                scheduler_pb2.GetStatsRequest(), metadata=self._metadata, timeout=10.0
            )
        except grpc.RpcError as error:
            fatal = fatal_error(error.code(), error.details() or "")
            raise fatal or PasserError(f"stats from {address}: {error.details()}", error.code())

    # === connections ===

    def close(self) -> None:
        """Closes every connection."""
        self._submit_streams.close()
        with self._lock:
            channels = list(self._channels.values())
            self._channels.clear()
            self._stubs.clear()
        for channel in channels:
            channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _channel(self, address: str) -> grpc.Channel:
        """The channel to ``address`` (opened with its stub on first use)."""
        self._stub(address)
        with self._lock:
            return self._channels[address]

    def _stub(self, address: str) -> scheduler_pb2_grpc.SchedulerStub:
        with self._lock:
            stub = self._stubs.get(address)
            if stub is None:
                channel = open_channel(address, self._channel_options, self._tls)
                stub = scheduler_pb2_grpc.SchedulerStub(channel)
                self._channels[address] = channel
                self._stubs[address] = stub
            return stub

    def _next_scheduler_index(self) -> int:
        """Spreads jobs over schedulers round-robin, starting with the first."""
        with self._lock:
            index = self._round_robin % len(self.schedulers)
            self._round_robin += 1
            return index

    @staticmethod
    def _build_request(
        job_id: Optional[str],
        tasks: Iterable[Task],
        tenant: str,
        priority: int,
        constraints: Sequence[str] = (),
    ) -> scheduler_pb2.SubmitJobRequest:
        specs = [task.to_proto() for task in tasks]
        if not specs:
            raise InvalidArgument("tasks: a job needs at least one task")
        seen = set()
        for spec in specs:
            if not spec.task_id:
                raise InvalidArgument("tasks.task_id: must not be empty")
            if spec.task_id in seen:
                raise InvalidArgument(f"tasks.task_id: {spec.task_id!r} appears twice")
            seen.add(spec.task_id)
        return scheduler_pb2.SubmitJobRequest(
            job_id=job_id or uuid.uuid4().hex,
            tenant=tenant,
            priority=priority,
            tasks=specs,
            constraints=list(constraints),
        )
