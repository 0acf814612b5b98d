"""Tasks called from client code by the function that implements them, as
Celery's ``add.delay(2, 3)`` and Ray's ``f.remote(x)``.

Executor side, the function takes and returns ordinary values::

    ex = Executor()

    @ex.function(slots=4)            # executor type "add"; JSON by default
    def add(x, y):
        return x + y

Client side, the same module is imported and the function submitted::

    from tasks import add
    with Client() as client:
        future = add.submit(client, 2, 3)      # one job of one task
        assert future.result() == 5            # or: await future
        futures = add.map(client, [1, 2], [3, 4])   # one job, a task per call

On the wire the payload is the codec's encoding of
``{"args": [...], "kwargs": {...}}`` and the output the encoding of the
return value, so an executor in another language can serve the same type.
"""

from __future__ import annotations

import inspect
import uuid
from typing import Any, Callable, Dict, Generic, Iterable, List, Optional, TypeVar

from .codecs import Codec
from .futures import TaskFuture, submit_in_background
from .model import Task
from .running_task import RunningTask

R = TypeVar("R")


class RemoteFunction(Generic[R]):
    """A function served as an executor type, callable locally and remotely."""

    def __init__(
        self,
        function: Callable[..., R],
        executor: str,
        codec: Codec,
        *,
        timeout: Optional[float] = None,
        max_attempts: Optional[int] = None,
        retry_on_error: bool = False,
        retry_backoff: Optional[float] = None,
    ) -> None:
        self.function = function
        self.executor = executor
        self.codec = codec
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.retry_on_error = retry_on_error
        self.retry_backoff = retry_backoff
        self.is_async = inspect.iscoroutinefunction(function)
        self.__name__ = getattr(function, "__name__", executor)
        self.__doc__ = getattr(function, "__doc__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        """Calls the function here, in this process."""
        return self.function(*args, **kwargs)

    def task(self, *args: Any, task_id: Optional[str] = None, **kwargs: Any) -> Task:
        """The :class:`Task` that calls the function with these arguments
        (for :meth:`Client.submit` or a graph)."""
        payload = self.codec.encode({"args": list(args), "kwargs": kwargs})
        return Task(
            task_id or f"{self.executor}-{uuid.uuid4().hex[:12]}",
            self.executor,
            payload,
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            retry_on_error=self.retry_on_error,
            retry_backoff=self.retry_backoff,
        )

    def submit(self, client: Any, *args: Any, **kwargs: Any) -> TaskFuture:
        """Runs the function on the cluster with these arguments; returns its future."""
        task = self.task(*args, **kwargs)
        return submit_in_background(client, None, [task], self.codec)[task.task_id]

    def map(self, client: Any, *iterables: Iterable[Any]) -> List[TaskFuture]:
        """One call per element (of several iterables zipped), as one job;
        the futures in the order of the calls."""
        tasks = [self.task(*call, task_id=f"{self.executor}-{index}") for index, call in enumerate(zip(*iterables))]
        if not tasks:
            return []
        futures = submit_in_background(client, None, tasks, self.codec)
        return [futures[task.task_id] for task in tasks]

    def handler(self) -> Callable[[RunningTask], Any]:
        """The executor-side function: decode the call, run, return the value
        (encoded by the executor with :attr:`codec`)."""

        def call(task: RunningTask) -> Any:
            request = task.value
            if not isinstance(request, dict) or not isinstance(request.get("args", []), list):
                raise ValueError(f"{self.executor}: payload must be {{'args': [...], 'kwargs': {{...}}}}")
            kwargs: Dict[str, Any] = request.get("kwargs") or {}
            return self.function(*request.get("args", []), **kwargs)

        if self.is_async:

            async def call_async(task: RunningTask) -> Any:
                request = task.value
                if not isinstance(request, dict):
                    raise ValueError(f"{self.executor}: payload must be {{'args': [...], 'kwargs': {{...}}}}")
                return await self.function(*request.get("args", []), **(request.get("kwargs") or {}))  # type: ignore[misc]

            return call_async
        return call
