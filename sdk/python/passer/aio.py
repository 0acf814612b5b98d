"""An asyncio client: the same jobs, retries and failover as
:class:`passer.Client`, awaited instead of blocking::

    async with AsyncClient(["127.0.0.1:20503"]) as client:
        stream = await client.submit(None, tasks)
        async for result in stream:
            print(result.task_id, result.status.name)
        results = await client.run(None, tasks)

It drives the synchronous client from worker threads (``asyncio.to_thread``),
so the event loop never blocks on the network, and it keeps every guarantee
of the synchronous client (one result per task, transparent retry on
overload, failover between schedulers).
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Iterable, List, Optional

from .client import Client
from .job import JobStream
from .model import Task, TaskResult

_END = object()


class AsyncJobStream(AsyncIterator[TaskResult]):
    """The results of one job, as an async iterator."""

    def __init__(self, stream: JobStream) -> None:
        self._stream = stream

    @property
    def stream(self) -> JobStream:
        """The synchronous stream underneath (summary, rejections, failovers)."""
        return self._stream

    def __aiter__(self) -> "AsyncJobStream":
        return self

    async def __anext__(self) -> TaskResult:
        result = await asyncio.to_thread(next, self._stream, _END)
        if result is _END:
            raise StopAsyncIteration
        return result  # type: ignore[return-value]

    async def results(self) -> List[TaskResult]:
        """Waits for every remaining result."""
        return [result async for result in self]

    async def cancel(self) -> bool:
        """Cancels the job; True if a scheduler was running it."""
        return await asyncio.to_thread(self._stream.cancel)

    async def close(self) -> None:
        await asyncio.to_thread(self._stream.close)


class AsyncClient:
    """:class:`passer.Client` for asyncio code; takes the same arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._client = Client(*args, **kwargs)

    @property
    def client(self) -> Client:
        """The synchronous client underneath."""
        return self._client

    async def submit(self, job_id: Optional[str], tasks: Iterable[Task], *args: Any, **kwargs: Any) -> AsyncJobStream:
        """Submits a job (waits until a scheduler admits it) and returns its results stream."""
        task_list = list(tasks)
        stream = await asyncio.to_thread(self._client.submit, job_id, task_list, *args, **kwargs)
        return AsyncJobStream(stream)

    async def run(self, job_id: Optional[str], tasks: Iterable[Task], *args: Any, **kwargs: Any) -> List[TaskResult]:
        """Submits a job and returns every result."""
        task_list = list(tasks)
        return await asyncio.to_thread(self._client.run, job_id, task_list, *args, **kwargs)

    async def cancel(self, job_id: str, scheduler: Optional[str] = None) -> bool:
        """Cancels a job; True if a scheduler was running it."""
        return await asyncio.to_thread(self._client.cancel, job_id, scheduler)

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
