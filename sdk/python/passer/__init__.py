"""passer's Python SDK: write executors and submit jobs.

- :class:`Executor` (:mod:`passer.executor`): serve Python functions as an
  executor type on the local node monitor.
- :class:`Client` (:mod:`passer.client`): submit jobs to schedulers and
  stream their results, with transparent retry and failover.
- :mod:`passer.v1`: the protobuf and gRPC stubs, generated at build time
  from the repository's ``proto/passer/v1/*.proto``.
"""

from ._channel import TlsConfig
from .client import Client
from .errors import (
    AlreadyExists,
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
from .job import JobStream
from .model import JobSummary, Task, TaskResult, TaskStatus
from .running_task import RunningTask

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Client",
    "Executor",
    "FailedPrecondition",
    "InvalidArgument",
    "JobStream",
    "JobSummary",
    "JobTimeout",
    "Overloaded",
    "PasserError",
    "RunningTask",
    "Task",
    "TaskFailed",
    "TaskResult",
    "TaskStatus",
    "TlsConfig",
    "Unauthenticated",
    "Unavailable",
]
