"""The results of a job this client did not submit, or submitted and let go.

``Client.watch(job_id)`` asks the schedulers in turn (``WatchJob``) until one
runs the job or still keeps its finished results, then yields one
:class:`~passer.model.TaskResult` per task: the results so far, then the rest
as they end. A stream that breaks is reopened (skipping what was delivered)
until every scheduler says it does not know the job. Watching never cancels
the job; leaving a :class:`~passer.job.JobStream` unread (or closing it)
does not either, so "detach" is simply letting go of the stream.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Iterator, List, Optional, Set

import grpc

from ._backoff import Backoff
from .errors import JobTimeout, NotFound, PasserError, Unavailable, fatal_error
from .model import JobSummary, TaskResult
from .v1 import scheduler_pb2

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("passer.watch")

#: Reopenings of a broken watch in a row without a new result before giving up.
MAX_REOPENS_WITHOUT_PROGRESS = 8


class JobWatch:
    """Iterate for the watched job's results; ``summary`` counts them."""

    def __init__(self, client: "Client", job_id: str, timeout: Optional[float] = None) -> None:
        self._client = client
        self.job_id = job_id
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._index = 0
        self._delivered: Set[str] = set()
        self._call: Optional[grpc.Future] = None
        self._events: Optional[Iterator[scheduler_pb2.JobEvent]] = None
        self._pending: List[TaskResult] = []
        self._finished = False
        self._reopens = 0
        self._backoff = Backoff(client.initial_backoff, client.max_backoff)
        #: Tasks in the job as the serving scheduler counts them.
        self.task_count = 0
        #: The scheduler the results come from.
        self.scheduler = ""
        #: Counts of the results delivered so far.
        self.summary = JobSummary()
        self._open()

    def __iter__(self) -> "JobWatch":
        return self

    def __next__(self) -> TaskResult:
        while True:
            if self._pending:
                return self._pending.pop(0)
            if self._finished:
                raise StopIteration
            if self._events is None:
                self._reopen()
                continue
            try:
                event = next(self._events)
            except StopIteration:
                log.warning("job %s: watch stream from %s ended early, reopening", self.job_id, self.scheduler)
                self._events = None
                continue
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED and self._expired():
                    raise JobTimeout(f"job {self.job_id}: not finished within the timeout") from None
                log.warning("job %s: watch stream from %s broke (%s), reopening", self.job_id, self.scheduler, error.code())
                self._events = None
                continue
            self._on_event(event)

    def results(self) -> List[TaskResult]:
        """Every (remaining) result, once the job has finished."""
        return list(self)

    def close(self) -> None:
        """Stops watching; the job runs on."""
        self._finished = True
        call, self._call, self._events = self._call, None, None
        if call is not None:
            call.cancel()

    def __enter__(self) -> "JobWatch":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _on_event(self, event: scheduler_pb2.JobEvent) -> None:
        kind = event.WhichOneof("event")
        if kind == "results":
            for finished in event.results.tasks:
                if finished.task_id in self._delivered:
                    continue
                self._delivered.add(finished.task_id)
                result = TaskResult.from_proto(finished)
                self.summary.count(result)
                self._pending.append(result)
                self._reopens = 0
                self._backoff.reset()
        elif kind == "job_finished":
            self._finished = True
            self._events = None

    def _reopen(self) -> None:
        self._reopens += 1
        if self._reopens > MAX_REOPENS_WITHOUT_PROGRESS:
            raise Unavailable(f"the watch of job {self.job_id} kept breaking without new results")
        time.sleep(self._backoff.next_delay())
        self._open()

    def _open(self) -> None:
        addresses = self._client.schedulers
        answers: List[str] = []
        all_not_found = True
        for offset in range(len(addresses)):
            index = (self._index + offset) % len(addresses)
            address = addresses[index]
            request = scheduler_pb2.WatchJobRequest(job_id=self.job_id, skip_task_ids=sorted(self._delivered))
            try:
                call = self._client._stub(address).WatchJob(
                    request, metadata=self._client._metadata, timeout=self._time_left()
                )
                first = next(call)
            except StopIteration:
                all_not_found = False
                answers.append(f"{address}: stream ended before `accepted`")
                continue
            except grpc.RpcError as error:
                code, details = error.code(), error.details() or ""
                if code != grpc.StatusCode.NOT_FOUND:
                    fatal = fatal_error(code, details)
                    if fatal is not None:
                        raise fatal
                    all_not_found = False
                answers.append(f"{address}: {details or code.name}")
                continue
            if first.WhichOneof("event") != "accepted":
                raise PasserError(f"scheduler {address} sent {first.WhichOneof('event')} before `accepted`")
            self._index = index
            self._call = call
            self._events = call
            self.task_count = first.accepted.task_count
            self.scheduler = first.accepted.scheduler or address
            return
        joined = "; ".join(answers)
        if all_not_found:
            raise NotFound(f"no scheduler runs job {self.job_id} or keeps its results ({joined})", grpc.StatusCode.NOT_FOUND)
        raise Unavailable(f"cannot watch job {self.job_id}: {joined}")

    def _time_left(self) -> Optional[float]:
        if self._deadline is None:
            return None
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise JobTimeout(f"job {self.job_id}: not finished within the timeout")
        return left

    def _expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline
