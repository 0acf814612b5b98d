"""The one ``Scheduler.SubmitJobs`` stream a client keeps per scheduler.

Jobs go out on it tagged with a call id; a background reader thread hands
each response to its job's queue. A job's share of the stream is a
:class:`SharedCall`, which :class:`passer.job.JobStream` reads exactly like
the iterator of a ``SubmitJob`` call: ``next()`` gives the job's events,
raises :class:`StreamJobError` (a ``grpc.RpcError``, with the code, details
and ``retry-after-ms`` of the job's refusal) and ``StopIteration``; so
retries, failover and dedup are the same either way.

- A per-job refusal ends only that job's share; the stream goes on.
- A broken stream fails every job open on it with ``UNAVAILABLE``: each
  :class:`~passer.job.JobStream` resubmits (same job id, the scheduler
  re-attaches and replays what was not seen); the next job opens a new stream.
- An endpoint that cannot take jobs on a stream is marked per-call-only by
  the stream's reader, which sees its answer: ``UNIMPLEMENTED`` (a
  scheduler that predates ``SubmitJobs``, a node monitor), an answer that
  is not gRPC (an HTTP page, a wrong content type), or a refusal of the
  stream itself (``REFUSAL_CODES``: a missing token, a permission, a
  request it will not take). The jobs open on the stream are re-sent by
  ``SubmitJob`` at once, each getting that call's own clear answer, and
  later jobs go by ``SubmitJob`` too.
- A job whose stream broke twice before it was sent fails with
  ``UNAVAILABLE`` like a broken call (its caller retries or fails over);
  it is not sent by ``SubmitJob`` on the caller's guess.

Bounded: at most ``REQUEST_QUEUE`` jobs wait to be sent (a submitter then
waits: the scheduler is not reading); a job's queue holds its own events,
progress reports beyond a small allowance being dropped.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from typing import Dict, Iterator, List, Optional, Tuple, Union

import grpc

from passer.v1 import scheduler_pb2, scheduler_pb2_grpc

from ._reach import not_grpc

log = logging.getLogger("passer.client")

#: Jobs queued for a stream before a submitter waits.
REQUEST_QUEUE = 64
#: Queued progress reports a job may hold beyond its results.
PROGRESS_ROOM = 16
#: Stream ends that are the scheduler refusing the stream itself (a request
#: it would not take on it); any other end is a break on the way (the
#: scheduler went away), after which a new stream may work.
REFUSAL_CODES = {
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
}
_CODES = {code.value[0]: code for code in grpc.StatusCode}


class StreamJobError(grpc.RpcError):
    """A job's refusal on a shared stream, shaped like a failed ``SubmitJob`` call."""

    def __init__(self, code: grpc.StatusCode, details: str, retry_after_ms: int = 0) -> None:
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details
        self._retry_after_ms = retry_after_ms

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Tuple[Tuple[str, str], ...]:
        if self._retry_after_ms > 0:
            return (("retry-after-ms", str(self._retry_after_ms)),)
        return ()

    def initial_metadata(self) -> Tuple[Tuple[str, str], ...]:
        return ()


class _Fallback:
    """Tells a call its scheduler has no ``SubmitJobs``: re-send by ``SubmitJob``."""


_Item = Union[scheduler_pb2.JobEvent, StreamJobError, _Fallback, None]


class SharedCall(Iterator[scheduler_pb2.JobEvent]):
    """One job's events on a shared stream (or, after a fallback, its own call)."""

    def __init__(
        self,
        stream: "SubmitStream",
        call_id: int,
        request: scheduler_pb2.SubmitJobRequest,
        timeout: Optional[float],
    ) -> None:
        self._stream = stream
        self._call_id = call_id
        self._request = request
        self._timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._items: "queue.Queue[_Item]" = queue.Queue()
        self._reserved = len(request.tasks) + 3
        self._ended = False
        self._own_call: Optional[grpc.Call] = None

    def __iter__(self) -> "SharedCall":
        return self

    def __next__(self) -> scheduler_pb2.JobEvent:
        if self._own_call is not None:
            return next(self._own_call)
        if self._ended:
            raise StopIteration
        wait = None if self._deadline is None else max(self._deadline - time.monotonic(), 0.0)
        try:
            item = self._items.get(timeout=wait)
        except queue.Empty:
            self.cancel()
            raise StreamJobError(grpc.StatusCode.DEADLINE_EXCEEDED, "job deadline passed") from None
        if isinstance(item, _Fallback):
            left = None if self._deadline is None else max(self._deadline - time.monotonic(), 0.001)
            self._own_call = self._stream.submit_job_call(self._request, left)
            return next(self._own_call)
        if item is None:
            self._ended = True
            raise StopIteration
        if isinstance(item, StreamJobError):
            self._ended = True
            raise item
        if item.WhichOneof("event") == "job_finished":
            self._ended = True
            self._items.put(None)
        return item

    def cancel(self) -> bool:
        """Stops listening; the job keeps running (like a cancelled ``SubmitJob``)."""
        self._stream.forget(self._call_id)
        if self._own_call is not None:
            return self._own_call.cancel()
        self._items.put(StreamJobError(grpc.StatusCode.CANCELLED, "closed by the client"))
        return True

    def done(self) -> bool:
        if self._own_call is not None:
            return self._own_call.done()
        return self._ended

    # === the reader's side ===

    def put(self, item: _Item) -> None:
        """Queues ``item``; progress only while room for the results is kept."""
        if isinstance(item, scheduler_pb2.JobEvent) and item.WhichOneof("event") == "progress":
            if self._items.qsize() >= self._reserved + PROGRESS_ROOM:
                return
        self._items.put(item)


class SubmitStream:
    """One ``SubmitJobs`` call to one scheduler, and the jobs open on it."""

    def __init__(self, address: str, stub: scheduler_pb2_grpc.SchedulerStub, metadata: object, owner: "SubmitStreams") -> None:
        self.address = address
        self._stub = stub
        self._metadata = metadata
        self._owner = owner
        self._lock = threading.Lock()
        self._calls: Dict[int, SharedCall] = {}
        self._call_ids = itertools.count(1)
        self._outbox: "queue.Queue[Optional[scheduler_pb2.SubmitJobsRequest]]" = queue.Queue(REQUEST_QUEUE)
        self.broken = False
        self._responses = stub.SubmitJobs(self._requests(), metadata=metadata)
        self._reader = threading.Thread(target=self._read, name=f"passer-submit-{address}", daemon=True)
        self._reader.start()

    def submit(self, request: scheduler_pb2.SubmitJobRequest, timeout: Optional[float]) -> Optional[SharedCall]:
        """Sends ``request``; ``None`` when the stream broke before it was sent."""
        with self._lock:
            if self.broken:
                return None
            call_id = next(self._call_ids)
            call = SharedCall(self, call_id, request, timeout)
            self._calls[call_id] = call
        message = scheduler_pb2.SubmitJobsRequest(call_id=call_id, job=request)
        while True:
            try:
                self._outbox.put(message, timeout=0.1)
                return call
            except queue.Full:
                if self.broken:
                    # The reader failed the call already (or will): it retries.
                    return call

    def submit_job_call(self, request: scheduler_pb2.SubmitJobRequest, timeout: Optional[float]) -> grpc.Call:
        """The job's own ``SubmitJob`` call (after a fallback)."""
        return self._stub.SubmitJob(request, metadata=self._metadata, timeout=timeout)

    def forget(self, call_id: int) -> None:
        with self._lock:
            self._calls.pop(call_id, None)

    def close(self) -> None:
        """Half-closes the stream; the scheduler ends it once its jobs finish."""
        try:
            self._outbox.put_nowait(None)
        except queue.Full:
            self._responses.cancel()

    def _requests(self) -> Iterator[scheduler_pb2.SubmitJobsRequest]:
        while True:
            message = self._outbox.get()
            if message is None:
                return
            yield message

    def _read(self) -> None:
        end: Optional[grpc.RpcError] = None
        try:
            for response in self._responses:
                self._deliver(response)
        except grpc.RpcError as error:
            end = error
        code = end.code() if end is not None else grpc.StatusCode.UNAVAILABLE
        details = (end.details() if end is not None else "") or "the scheduler ended the submit stream"
        takes_no_stream = code == grpc.StatusCode.UNIMPLEMENTED or not_grpc(details)
        # Marked per-call-only before the stream reads as broken, so a
        # submitter that finds it broken then finds the mark too.
        self._owner.dropped(self, code, takes_no_stream, details)
        with self._lock:
            self.broken = True
            calls: List[SharedCall] = list(self._calls.values())
            self._calls.clear()
        if takes_no_stream or code in REFUSAL_CODES:
            # The endpoint will not take jobs on a stream from us: each open
            # job goes by its own call, which gives its own clear answer
            # (a missing token is UNAUTHENTICATED there, not a broken stream).
            for call in calls:
                call.put(_Fallback())
            return
        log.debug("submit stream to %s ended: %s: %s", self.address, code.name, details)
        broke = StreamJobError(grpc.StatusCode.UNAVAILABLE, f"submit stream to {self.address} broke: {details}")
        for call in calls:
            call.put(broke)

    def _deliver(self, response: scheduler_pb2.SubmitJobsResponse) -> None:
        with self._lock:
            call = self._calls.get(response.call_id)
            if call is None:
                return
            kind = response.WhichOneof("outcome")
            if kind == "error":
                error = response.error
                code = _CODES.get(error.code, grpc.StatusCode.UNKNOWN)
                call.put(StreamJobError(code, error.message, error.retry_after_ms))
                del self._calls[response.call_id]
            elif kind == "event":
                call.put(response.event)
                if response.event.WhichOneof("event") == "job_finished":
                    del self._calls[response.call_id]


class SubmitStreams:
    """The client's shared streams, one per scheduler address, opened on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: Dict[str, SubmitStream] = {}
        self._per_call_only: set = set()

    def submit(
        self,
        address: str,
        stub: scheduler_pb2_grpc.SchedulerStub,
        metadata: object,
        request: scheduler_pb2.SubmitJobRequest,
        timeout: Optional[float],
    ) -> Optional[SharedCall]:
        """Sends ``request`` on ``address``'s stream; ``None`` when that
        endpoint takes jobs by ``SubmitJob`` only. A job whose stream broke
        twice before it was sent gets a call that fails ``UNAVAILABLE``."""
        for _ in range(2):
            with self._lock:
                if address in self._per_call_only:
                    return None
                stream = self._streams.get(address)
                if stream is None or stream.broken:
                    stream = SubmitStream(address, stub, metadata, self)
                    self._streams[address] = stream
            call = stream.submit(request, timeout)
            if call is not None:
                return call
        with self._lock:
            if address in self._per_call_only:
                return None
        unsent = SharedCall(stream, 0, request, timeout)
        unsent.put(StreamJobError(grpc.StatusCode.UNAVAILABLE, f"submit stream to {address} broke before the job was sent"))
        return unsent

    def dropped(self, stream: SubmitStream, code: grpc.StatusCode, takes_no_stream: bool, details: str) -> None:
        """Forgets a stream that ended; remembers an endpoint that takes no
        stream or refused it."""
        with self._lock:
            if self._streams.get(stream.address) is stream:
                del self._streams[stream.address]
            if takes_no_stream:
                log.info("no SubmitJobs at %s (%s: %s); one call per job", stream.address, code.name, details)
                self._per_call_only.add(stream.address)
            elif code in REFUSAL_CODES:
                log.warning("submit stream to %s refused (%s); one call per job from now on", stream.address, code.name)
                self._per_call_only.add(stream.address)

    def close(self) -> None:
        with self._lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for stream in streams:
            stream.close()
