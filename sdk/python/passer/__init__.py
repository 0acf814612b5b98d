"""passer's Python SDK: write executors and submit jobs.

- :class:`Executor` (:mod:`passer.executor`): serve Python functions as an
  executor type on the local node monitor.
- :class:`Client` (:mod:`passer.client`): submit jobs to schedulers and
  stream their results, with transparent retry and failover.
- :class:`Graph` (:mod:`passer.graph`): task graphs, stages that wait for
  stages, run with :meth:`Client.run_graph`.
- :mod:`passer.v1`: the protobuf and gRPC stubs, generated at build time
  from the repository's ``proto/passer/v1/*.proto``.
"""

from ._channel import TlsConfig
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
from .graph import Graph, GraphError, Inputs, Node, decode_envelope, encode_envelope
from .graph_run import GraphEvent, GraphOutcome, GraphRun, StageFinished, StageSubmitted, TaskFinished
from .job import JobStream
from .model import JobSummary, Task, TaskResult, TaskStatus
from .running_task import RunningTask

__version__ = "0.1.0"

__all__ = [
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
    "Node",
    "Overloaded",
    "PasserError",
    "RunningTask",
    "StageFinished",
    "StageSubmitted",
    "Task",
    "TaskFailed",
    "TaskFinished",
    "TaskResult",
    "TaskStatus",
    "TlsConfig",
    "Unauthenticated",
    "Unavailable",
    "decode_envelope",
    "encode_envelope",
]
