"""passer's Python SDK: write executors and submit jobs.

- :class:`Executor` (:mod:`passer.executor`): serve Python functions as an
  executor type on the local node monitor.
- :class:`Client` (:mod:`passer.client`): submit jobs to schedulers and
  stream their results, with transparent retry and failover.
- :class:`Graph` (:mod:`passer.graph`): task graphs, stages that wait for
  stages, run with :meth:`Client.run_graph`.
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
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    JobTimeout,
    NotFound,
    Overloaded,
    PasserError,
    TaskFailed,
    Unauthenticated,
    TlsError,
    Unavailable,
)
from .executor import Executor
from .graph import Graph, GraphError, Inputs, Node, decode_envelope, encode_envelope
from .graph_run import GraphEvent, GraphOutcome, GraphRun, StageFinished, StageSubmitted, TaskFinished
from .futures import TaskError, TaskFuture
from .job import JobStream
from .model import JobSummary, Task, TaskProgress, TaskResult, TaskStatus
from .remote import RemoteFunction
from .running_task import RunningTask
from .watch import JobWatch

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "AsyncClient",
    "AsyncJobStream",
    "Client",
    "Executor",
    "FailedPrecondition",
    "Graph",
    "GraphError",
    "GraphEvent",
    "GraphOutcome",
    "GraphRun",
    "Inputs",
    "InvalidArgument",
    "JobStream",
    "JobSummary",
    "JobTimeout",
    "JobWatch",
    "Node",
    "NotFound",
    "Overloaded",
    "PasserError",
    "RemoteFunction",
    "RunningTask",
    "StageFinished",
    "StageSubmitted",
    "Task",
    "TaskError",
    "TaskFailed",
    "TaskFinished",
    "TaskFuture",
    "TaskProgress",
    "TaskResult",
    "TaskStatus",
    "TlsConfig",
    "Unauthenticated",
    "TlsError",
    "Unavailable",
    "decode_envelope",
    "encode_envelope",
    "codecs",
]
