"""The result stream of one submitted job, with retry, failover and dedup.

:class:`JobStream` is what :meth:`passer.Client.submit` returns. It drives a
small state machine over its submissions: on the client's shared
``Scheduler.SubmitJobs`` stream to a scheduler by default (see
:mod:`passer._submit_stream`), else (``Client(submit_stream=False)``, or a
scheduler that predates it) one ``Scheduler.SubmitJob`` call each; both
answer alike:

- ``RESOURCE_EXHAUSTED``: wait (capped exponential backoff with full jitter,
  at least the server's ``retry-after-ms``) and submit again, to the next
  scheduler; counted in :attr:`JobStream.rejections` and :attr:`JobStream.waited`.
- ``INVALID_ARGUMENT``, ``FAILED_PRECONDITION`` and other errors no retry can
  fix: raise the matching :class:`passer.PasserError`.
- a stream that breaks or ends before every task has a result: after a
  jittered backoff (growing while no new result arrives), resubmit the same
  job id to the next scheduler with ``skip_task_ids`` set to the tasks
  already delivered; counted in :attr:`JobStream.failovers`.
- ``ALREADY_EXISTS`` (another job runs under this id): raise
  :class:`passer.AlreadyExists`, never retried.
- a TLS certificate failure: raise :class:`passer.TlsError` naming the
  address and the reason, never retried.
- nothing serving at any address (refused, unresolvable, not a scheduler): once
  ``Client.connect_timeout`` would pass, or at once when every address is
  not a scheduler (a node monitor, an HTTP port), raise
  :class:`passer.Unavailable` naming each address and why.

Every task id is delivered exactly once; a repeated result is dropped.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import TYPE_CHECKING, Callable, Deque, Dict, Iterator, List, Optional, Set, Tuple, Union

import grpc

from passer.v1 import scheduler_pb2

from ._backoff import Backoff
from ._reach import Attempts, certificate_problem, transport_reason, wrong_server
from ._submit_stream import SharedCall
from .errors import JobTimeout, Overloaded, TlsError, Unavailable, fatal_error
from .model import JobSummary, TaskProgress, TaskResult

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("passer.client")

RETRY_AFTER_KEY = "retry-after-ms"


def retry_after_seconds(error: grpc.RpcError) -> float:
    """The server's ``retry-after-ms`` hint in seconds, 0 when absent."""
    entries: List[Tuple[str, str]] = []
    for getter in ("trailing_metadata", "initial_metadata"):
        method = getattr(error, getter, None)
        if method is not None:
            try:
                entries.extend(method() or ())
            except Exception:  # pragma: no cover - defensive: odd error objects
                pass
    for key, value in entries:
        if key.lower() == RETRY_AFTER_KEY:
            try:
                return max(float(value), 0.0) / 1000.0
            except (TypeError, ValueError):
                return 0.0
    return 0.0


class JobStream(Iterator[TaskResult]):
    """Iterates a job's results as they arrive, one per task id."""

    def __init__(
        self,
        client: "Client",
        request: scheduler_pb2.SubmitJobRequest,
        timeout: Optional[float],
        on_progress: Optional[Callable[[TaskProgress], None]] = None,
    ) -> None:
        self._client = client
        self._request = request
        #: The job's id (the idempotency key).
        self.job_id: str = request.job_id
        #: Every task id of the job.
        self.task_ids = frozenset(task.task_id for task in request.tasks)
        #: Times admission refused the job (RESOURCE_EXHAUSTED).
        self.rejections = 0
        #: Seconds spent waiting before retries (rejections and failovers).
        self.waited = 0.0
        #: Times the job was resubmitted after a stream broke.
        self.failovers = 0
        #: Repeated results that were dropped.
        self.duplicates = 0
        #: The scheduler address currently (or last) serving the job.
        self.scheduler: Optional[str] = None
        #: Counts of delivered results by status.
        self.summary = JobSummary()
        #: The latest progress each task reported (``RunningTask.progress()``
        #: in its executor), by task id, as far as the stream has been read.
        self.progress: Dict[str, TaskProgress] = {}
        self._on_progress = on_progress
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._delivered: Set[str] = set()
        self._pending: Deque[TaskResult] = collections.deque()
        self._index = client._next_scheduler_index()
        self._call: Optional[Union[grpc.Call, SharedCall]] = None
        self._finished_event = False
        self._accepted = False
        self._done = False
        self._closed = threading.Event()
        self._unavailable = Backoff(client.initial_backoff, client.max_backoff, client._rng)
        self._overloaded = Backoff(client.initial_backoff, client.max_backoff, client._rng)
        self._unavailable_in_a_row = 0
        #: True once any scheduler answered (accepted, refused, any event) or
        #: an address accepted the connection and stayed silent (perhaps a
        #: frozen scheduler): from then on ``connect_timeout`` no longer applies.
        self._answered = False
        self._first_submit: Optional[float] = None
        self._attempts = Attempts(client.schedulers)

    # === iteration ===

    def __iter__(self) -> "JobStream":
        return self

    def __next__(self) -> TaskResult:
        while not self._pending:
            if self._done:
                raise StopIteration
            self._step()
        return self._pending.popleft()

    def results(self) -> List[TaskResult]:
        """Waits for every remaining result and returns them in arrival order."""
        return list(self)

    @property
    def accepted(self) -> bool:
        """True once a scheduler admitted the job."""
        return self._accepted

    @property
    def done(self) -> bool:
        """True when every task has its result (or the stream was closed)."""
        return self._done and not self._pending

    def remaining(self) -> int:
        """Tasks that have no result yet."""
        return len(self.task_ids) - len(self._delivered)

    def _wait_accepted(self) -> None:
        """Submits and blocks until a scheduler admits the job (or raises)."""
        while not self._accepted and not self._done and not self._pending:
            self._step()

    # === control ===

    def cancel(self) -> bool:
        """Asks the serving scheduler to cancel the job; results keep coming (CANCELLED)."""
        address = self.scheduler or self._client.schedulers[self._index]
        return self._client.cancel(self.job_id, scheduler=address)

    def close(self) -> None:
        """Stops listening (the job keeps running); iteration ends."""
        self._closed.set()
        self._done = True
        call = self._call
        if call is not None:
            call.cancel()

    def __enter__(self) -> "JobStream":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # === the state machine ===

    def _step(self) -> None:
        """Reads one event (submitting first if needed) and acts on it."""
        if self._call is None:
            self._submit()
        assert self._call is not None
        try:
            event = next(self._call)
        except StopIteration:
            self._on_stream_end(None)
            return
        except grpc.RpcError as error:
            self._on_stream_end(error)
            return
        self._on_event(event)

    def _submit(self) -> None:
        remaining = self._time_left()
        address = self._client.schedulers[self._index]
        request = scheduler_pb2.SubmitJobRequest()
        request.CopyFrom(self._request)
        request.skip_task_ids.extend(sorted(self._delivered))
        stub = self._client._stub(address)
        log.debug("submitting job %s to %s (%d skipped)", self.job_id, address, len(self._delivered))
        self.scheduler = address
        if self._first_submit is None:
            self._first_submit = time.monotonic()
        self._finished_event = False
        shared = None
        if self._client.submit_stream:
            shared = self._client._submit_streams.submit(
                address, stub, self._client._metadata, request, remaining
            )
        if shared is not None:
            self._call = shared
        else:
            self._call = stub.SubmitJob(
                request, metadata=self._client._metadata, timeout=remaining
            )

    def _on_event(self, event: scheduler_pb2.JobEvent) -> None:
        self._answered = True
        kind = event.WhichOneof("event")
        if kind == "accepted":
            self._accepted = True
            self._overloaded.reset()
            if event.accepted.scheduler:
                log.debug("job %s accepted by %s", self.job_id, event.accepted.scheduler)
        elif kind == "results":
            before = len(self._delivered)
            for finished in event.results.tasks:
                self._deliver(TaskResult.from_proto(finished))
            if len(self._delivered) > before:  # progress: failures start over
                self._unavailable_in_a_row = 0
                self._unavailable.reset()
        elif kind == "progress":
            task_id = event.progress.task_id
            if task_id in self.task_ids and task_id not in self._delivered:
                progress = TaskProgress.from_proto(event.progress)
                self.progress[task_id] = progress
                if self._on_progress is not None:
                    self._on_progress(progress)
        elif kind == "job_finished":
            self._finished_event = True
            if self.remaining() == 0:
                self._finish()
            else:  # the stream ends next; _on_stream_end resubmits the rest
                log.warning(
                    "job %s: scheduler finished with %d tasks unreported",
                    self.job_id, self.remaining(),
                )

    def _deliver(self, result: TaskResult) -> None:
        if result.task_id not in self.task_ids:
            log.warning("job %s: dropping result for unknown task %r", self.job_id, result.task_id)
            return
        if result.task_id in self._delivered:
            self.duplicates += 1
            return
        self._delivered.add(result.task_id)
        self.summary.count(result)
        self._pending.append(result)

    def _finish(self) -> None:
        self._done = True
        call, self._call = self._call, None
        if call is not None and not call.done():
            call.cancel()

    def _on_stream_end(self, error: Optional[grpc.RpcError]) -> None:
        self._call = None
        if self._closed.is_set():
            self._done = True
            return
        if self.remaining() == 0:
            self._done = True
            return
        if error is None:
            reason = "stream ended before every task had a result"
            code = grpc.StatusCode.UNAVAILABLE
        else:
            code = error.code()
            details = error.details() or ""
            reason = f"{code.name}: {details}" if code else str(error)
            problem = certificate_problem(details)
            if problem is not None:
                raise TlsError(f"{self.scheduler}: TLS handshake failed: {problem}", code)
            assert self.scheduler is not None
            wrong = wrong_server(error, self._client._channel(self.scheduler))
            if wrong is not None:
                self._attempts.record(self.scheduler, wrong)
                self._fail_over(wrong.reason, code)
                return
            fatal = fatal_error(code, details) if code else None
            if fatal is not None:
                raise fatal
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                self._answered = True
                self._retry_after_rejection(error)
                return
            if code == grpc.StatusCode.DEADLINE_EXCEEDED and self._expired():
                raise JobTimeout(f"job {self.job_id} did not finish in time", code)
            if not self._answered:
                unreached = transport_reason(code, details)
                self._attempts.record(self.scheduler, unreached)
                if not unreached.absent:
                    # Something listens there and may be a frozen scheduler:
                    # wait for it as for an overloaded one.
                    self._answered = True
        self._fail_over(reason, code)

    def _retry_after_rejection(self, error: grpc.RpcError) -> None:
        self.rejections += 1
        limit = self._client.max_rejections
        if limit is not None and self.rejections > limit:
            raise Overloaded(
                f"job {self.job_id} refused {self.rejections} times: {error.details()}",
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )
        delay = self._overloaded.next_delay(floor=retry_after_seconds(error))
        log.debug("job %s refused (%s); retrying in %.3fs", self.job_id, error.details(), delay)
        self._sleep(delay)
        self._rotate()

    def _fail_over(self, reason: str, code: grpc.StatusCode) -> None:
        if self._attempts.all_permanent():
            raise Unavailable(f"no scheduler at the addresses given: {self._attempts.describe()}", code)
        self._unavailable_in_a_row += 1
        if self._unavailable_in_a_row >= self._client.max_unavailable:
            if not self._answered:
                raise Unavailable(
                    f"no scheduler answered after {self._unavailable_in_a_row} tries: "
                    f"{self._attempts.describe()}",
                    code,
                )
            raise Unavailable(
                f"job {self.job_id}: no scheduler available after "
                f"{self._unavailable_in_a_row} tries, last: {reason}",
                code,
            )
        self.failovers += 1
        log.info(
            "job %s: %s from %s; resubmitting %d tasks",
            self.job_id, reason, self.scheduler, self.remaining(),
        )
        self._rotate()
        # Capped exponential backoff with full jitter on every failover
        # (reset by each new result): a stream that keeps breaking, or a
        # scheduler that keeps ending it, is never resubmitted in a tight loop.
        delay = self._unavailable.next_delay()
        if not self._answered and self._first_submit is not None:
            # Give up before connect_timeout passes rather than after it.
            if time.monotonic() + delay - self._first_submit >= self._client.connect_timeout:
                raise Unavailable(
                    f"no scheduler answered within {self._client.connect_timeout:g}s: "
                    f"{self._attempts.describe()}",
                    code,
                )
        self._sleep(delay)

    def _rotate(self) -> None:
        self._index = (self._index + 1) % len(self._client.schedulers)

    def _time_left(self) -> Optional[float]:
        if self._deadline is None:
            return None
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise JobTimeout(f"job {self.job_id} did not finish in time")
        return remaining

    def _expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _sleep(self, delay: float) -> None:
        remaining = self._time_left()
        if remaining is not None:
            delay = min(delay, remaining)
        self.waited += delay
        self._closed.wait(delay)  # close() cuts the wait short; __next__ then stops
