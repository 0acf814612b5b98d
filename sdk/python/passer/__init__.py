"""passer's Python SDK: write executors and submit jobs.

- :class:`Executor` (:mod:`passer.executor`): serve Python functions as an
  executor type on the local node monitor.
- :class:`Client` (:mod:`passer.client`): submit jobs to schedulers and
  stream their results, with transparent retry and failover.
- :mod:`passer.codecs`: bytes, JSON and (opt-in) pickle payloads.
- :mod:`passer.remote`: call executor functions from client code
  (``add.submit(client, 2, 3)``) and get :class:`TaskFuture` objects.
- :class:`AsyncClient` (:mod:`passer.aio`): the client for asyncio code.
- :mod:`passer.v1`: the protobuf and gRPC stubs, generated at build time
  from the repository's ``proto/passer/v1/*.proto``.
"""

from . import codecs
from ._channel import TlsConfig
from .aio import AsyncClient, AsyncJobStream
from .client import Client
from .errors import (
    FailedPrecondition,
    InvalidArgument,
    JobTimeout,
    Overloaded,
    PasserError,
    TaskFailed,
    Unauthenticated,
    Unavailable,
)
from .executor import Executor
from .futures import TaskError, TaskFuture
from .job import JobStream
from .model import JobSummary, Task, TaskResult, TaskStatus
from .remote import RemoteFunction
from .running_task import RunningTask

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncJobStream",
    "Client",
    "Executor",
    "FailedPrecondition",
    "InvalidArgument",
    "JobStream",
    "JobSummary",
    "JobTimeout",
    "Overloaded",
    "PasserError",
    "RemoteFunction",
    "RunningTask",
    "Task",
    "TaskError",
    "TaskFailed",
    "TaskFuture",
    "TaskResult",
    "TaskStatus",
    "TlsConfig",
    "Unauthenticated",
    "Unavailable",
    "codecs",
]
