"""Runs a :class:`passer.graph.Graph`: what :meth:`passer.Client.run_graph` returns.

Each node whose dependencies are met is submitted at once as an ordinary
job (``<graph id>.<node>``) on its own thread, through the client's
:meth:`~passer.Client.submit` (batch sampling, late binding, failover with
exactly-once results per job). The graph advances while the caller
iterates the run or calls :meth:`GraphRun.outcome`: each result the stage
threads hand over (through a bounded queue) becomes a :class:`TaskFinished`
event, may make other nodes ready, and is kept only while a dependent or
the caller still needs it.

A task that ends FAILED (or CANCELLED) ends every node waiting for it
CANCELLED, each task with the reason ``upstream <node>/<task> failed:
<error>``; other branches go on. :meth:`GraphRun.cancel` cancels the
jobs in flight and submits nothing more (reason ``graph cancelled``).

A stage whose job cannot run at all (the client gave up: no scheduler, a
spec the scheduler refused) stops the graph: everything else is cancelled
(``graph stopped: a stage's job failed``) and, once the events are out,
iteration and :meth:`GraphRun.outcome` raise a :class:`~passer.GraphError`
naming the stage, chained to the client's error.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Deque, Dict, Iterator, List, Optional, Set, Tuple, Union

from .errors import PasserError
from .graph import Graph, GraphError, Inputs, Node, encode_envelope, payload_bytes
from .job import JobStream
from .model import Task, TaskResult, TaskStatus

if TYPE_CHECKING:
    from .client import Client

log = logging.getLogger("passer.graph")

#: Messages from stage threads waiting for the caller; a full queue holds the stages back.
INBOX_CAPACITY = 4096

#: The reason tasks that never started get when the graph is cancelled.
GRAPH_CANCELLED = "graph cancelled"
#: The reason every other task gets when a stage's job could not run.
GRAPH_STOPPED = "graph stopped: a stage's job failed"


@dataclass(frozen=True)
class StageSubmitted:
    """Node :attr:`node`'s job (:attr:`job_id`, ``<graph id>.<node>``) is being
    submitted with :attr:`tasks` tasks."""

    node: str
    job_id: str
    tasks: int


@dataclass(frozen=True)
class TaskFinished:
    """A task of node :attr:`node` ended (the scheduler's result, or one made
    here for a task cancelled before it was submitted)."""

    node: str
    result: TaskResult


@dataclass(frozen=True)
class StageFinished:
    """Every task of node :attr:`node` has ended."""

    node: str
    succeeded: int
    failed: int
    cancelled: int


#: What iterating a :class:`GraphRun` yields.
GraphEvent = Union[StageSubmitted, TaskFinished, StageFinished]


@dataclass
class GraphOutcome:
    """How every task of a graph ended."""

    #: ``(node, task)`` of each task that succeeded.
    succeeded: List[Tuple[str, str]] = field(default_factory=list)
    #: ``(node, task, error)`` of each task that failed; task is empty when
    #: a stage's generator failed.
    failed: List[Tuple[str, str, str]] = field(default_factory=list)
    #: ``(node, task, reason)`` of each task that was cancelled; task is
    #: empty for a generated stage cancelled before its tasks were made.
    cancelled: List[Tuple[str, str, str]] = field(default_factory=list)
    _results: Dict[str, Dict[str, bytes]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every task succeeded."""
        return not self.failed and not self.cancelled

    def results(self, node: str) -> List[Tuple[str, bytes]]:
        """``(task_id, output)`` of each succeeded task of ``node``, in task id order.

        Kept for nodes nothing depends on and nodes marked with
        :meth:`passer.graph.Node.keep`; for others use the events.
        """
        kept = self._results.get(node)
        if kept is None:
            raise KeyError(f"results of node {node!r} were not kept (only nodes nothing depends on, or Node.keep())")
        return sorted(kept.items())


class _NodeState:
    """The run-time state of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        #: Edges not yet satisfied.
        self.waiting = len(node.edges)
        self.started = False
        self.done = False
        #: Task ids without a result yet (known once started).
        self.open: Set[str] = set()
        self.counts = [0, 0, 0]  # succeeded, failed, cancelled
        #: Every task id of this node that finished FAILED or CANCELLED.
        self.unsuccessful = False
        #: Whether this node's claim on its parents' outputs was given up.
        self.released = False


class GraphRun(Iterator[GraphEvent]):
    """A running graph: iterate for :class:`TaskFinished` and
    :class:`StageFinished` events; :meth:`outcome` for the end result."""

    def __init__(
        self,
        client: "Client",
        graph: Graph,
        *,
        tenant: str = "",
        priority: int = 0,
        timeout: Optional[float] = None,
    ) -> None:
        graph.validate()
        self._client = client
        self._tenant = tenant
        self._priority = priority
        self._timeout = timeout
        #: The graph's id, prefix of its job ids.
        self.graph_id = graph.id
        self._states: Dict[str, _NodeState] = {node.name: _NodeState(node) for node in graph.nodes}
        # Who waits for what: whole-node edges and single-task edges.
        self._node_waiters: Dict[str, List[str]] = collections.defaultdict(list)
        self._task_waiters: Dict[Tuple[str, str], List[str]] = collections.defaultdict(list)
        for node in graph.nodes:
            for edge in node.edges:
                if edge.task is None:
                    self._node_waiters[edge.node].append(node.name)
                else:
                    self._task_waiters[(edge.node, edge.task)].append(node.name)
        # Outputs kept: for dependents not yet started, and for the caller.
        self._consumers: Dict[str, int] = collections.Counter(
            edge.node for node in graph.nodes for edge in node.edges
        )
        self._kept_for_caller = {
            n.name for n in graph.nodes if n.keep_results or (n.keep_results is None and not self._consumers[n.name])
        }
        self._outputs: Dict[str, Dict[str, bytes]] = collections.defaultdict(dict)
        self._outcome = GraphOutcome()
        self._events: Deque[GraphEvent] = collections.deque()
        self._inbox: "queue.Queue[Tuple[str, str, object]]" = queue.Queue(maxsize=INBOX_CAPACITY)
        self._lock = threading.Lock()
        self._streams: Dict[str, JobStream] = {}
        self._cancelled = False
        self._cancel_reason = GRAPH_CANCELLED
        self._stage_error: Optional[GraphError] = None
        self._remaining = len(self._states)
        for state in self._states.values():
            if state.waiting == 0:
                self._start(state)

    # === the caller's side ===

    def __iter__(self) -> "GraphRun":
        return self

    def __next__(self) -> GraphEvent:
        while not self._events:
            if self._remaining == 0:
                error, self._stage_error = self._stage_error, None
                if error is not None:
                    raise error
                raise StopIteration
            self._handle(*self._inbox.get())
        return self._events.popleft()

    def outcome(self) -> GraphOutcome:
        """Waits for every remaining event (discarding them) and returns the outcome.

        Raises:
            GraphError: A stage's job could not run (see the module doc).
        """
        for _ in self:
            pass
        return self._outcome

    @property
    def done(self) -> bool:
        """True once every node has ended and every event was taken."""
        return self._remaining == 0 and not self._events

    def job_id(self, node: str) -> str:
        """The job id node ``node`` runs as."""
        return f"{self.graph_id}.{node}"

    def scheduler_of(self, node: str) -> Optional[str]:
        """The scheduler serving node ``node``'s job now, if it is running."""
        with self._lock:
            stream = self._streams.get(node)
        return stream.scheduler if stream is not None else None

    def cancel(self) -> None:
        """Cancels the whole graph: the jobs in flight, and nothing more is
        submitted. Safe from any thread; the events then report every task."""
        self._cancel(GRAPH_CANCELLED)

    def _cancel(self, reason: str) -> None:
        with self._lock:
            if not self._cancelled:
                self._cancel_reason = reason
            self._cancelled = True
            streams = list(self._streams.values())
        for stream in streams:
            try:
                stream.cancel()
            except PasserError as error:
                log.warning("graph %s: cancel %s: %s", self.graph_id, stream.job_id, error)
        try:
            self._inbox.put_nowait(("cancel", "", None))
        except queue.Full:
            pass  # the caller is behind on messages and sees the flag at the next one

    def __enter__(self) -> "GraphRun":
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.done:
            self.cancel()
            self.outcome()

    # === the stage threads ===

    def _run_stage(self, name: str, tasks: List[Task]) -> None:
        try:
            stream = self._client.submit(
                self.job_id(name), tasks, self._tenant, self._priority, timeout=self._timeout
            )
            with self._lock:
                self._streams[name] = stream
                cancel_now = self._cancelled
            if cancel_now:
                stream.cancel()
            for result in stream:
                self._inbox.put(("result", name, result))
            self._inbox.put(("stage_done", name, None))
        except PasserError as error:
            self._inbox.put(("stage_error", name, error))
        except Exception as error:  # a bug must not hang the caller
            log.exception("graph %s: stage %s", self.graph_id, name)
            self._inbox.put(("stage_error", name, error))
        finally:
            with self._lock:
                self._streams.pop(name, None)

    # === the coordinator, on the caller's thread ===

    def _handle(self, kind: str, name: str, payload: object) -> None:
        self._cancel_unstarted()
        if kind == "result":
            assert isinstance(payload, TaskResult)
            self._on_result(name, payload)
        elif kind == "stage_done":
            self._on_stage_done(name)
        elif kind == "stage_error":
            assert isinstance(payload, Exception)
            if self._stage_error is None:
                error = GraphError(self.graph_id, name, f"stage {_quote(name)}: {payload}")
                error.__cause__ = payload
                self._stage_error = error
            self._cancel(GRAPH_STOPPED)
            self._cancel_unstarted()
            state = self._states[name]
            for task_id in sorted(state.open):
                self._finish_task(name, _made_result(task_id, TaskStatus.CANCELLED, GRAPH_STOPPED))
            self._on_stage_done(name)

    def _cancel_unstarted(self) -> None:
        if not self._cancelled:
            return
        for state in self._states.values():
            if not state.started and not state.done:
                self._cancel_node(state, self._cancel_reason)

    def _on_result(self, name: str, result: TaskResult) -> None:
        if result.task_id not in self._states[name].open:
            return  # the job stream already guarantees one result per task
        self._finish_task(name, result)

    def _on_stage_done(self, name: str) -> None:
        state = self._states[name]
        for task_id in sorted(state.open):  # a stream that ended early: never lose a task
            self._finish_task(name, _made_result(task_id, TaskStatus.FAILED, f"{name}: no result from the scheduler"))
        self._end_node(state)

    def _finish_task(self, name: str, result: TaskResult) -> None:
        state = self._states[name]
        state.open.discard(result.task_id)
        self._events.append(TaskFinished(name, result))
        if result.status == TaskStatus.SUCCEEDED:
            state.counts[0] += 1
            self._outcome.succeeded.append((name, result.task_id))
            if self._consumers[name] or name in self._kept_for_caller:
                self._outputs[name][result.task_id] = result.output
            for waiter in self._task_waiters.get((name, result.task_id), ()):
                self._satisfy(self._states[waiter])
            return
        state.unsuccessful = True
        if result.status == TaskStatus.CANCELLED:
            state.counts[2] += 1
            self._outcome.cancelled.append((name, result.task_id, result.error))
            reason = result.error if result.error.startswith("upstream ") else (
                f"upstream {name}/{result.task_id} cancelled: {result.error}"
            )
        else:
            state.counts[1] += 1
            self._outcome.failed.append((name, result.task_id, result.error))
            reason = f"upstream {name}/{result.task_id} failed: {result.error}"
        waiters = list(self._node_waiters.get(name, ())) + list(self._task_waiters.get((name, result.task_id), ()))
        for waiter in waiters:
            self._cancel_node(self._states[waiter], reason)

    def _satisfy(self, state: _NodeState) -> None:
        state.waiting -= 1
        if state.waiting == 0 and not state.started and not state.done:
            if self._cancelled:
                self._cancel_node(state, self._cancel_reason)
            else:
                self._start(state)

    def _end_node(self, state: _NodeState) -> None:
        """Every task of the node has its result: report and release what waited."""
        if state.done:
            return
        state.done = True
        self._remaining -= 1
        name = state.node.name
        succeeded, failed, cancelled = state.counts
        self._events.append(StageFinished(name, succeeded, failed, cancelled))
        if name in self._kept_for_caller:
            self._outcome._results[name] = self._outputs.get(name, {})
        if not state.unsuccessful:
            for waiter in self._node_waiters.get(name, ()):
                self._satisfy(self._states[waiter])
        self._release_inputs(state)

    def _release_inputs(self, state: _NodeState) -> None:
        """Drops upstream outputs no dependent and no caller needs any more."""
        if state.released:
            return
        state.released = True
        for edge in state.node.edges:
            upstream = edge.node
            self._consumers[upstream] -= 1
            if self._consumers[upstream] <= 0 and upstream not in self._kept_for_caller:
                self._outputs.pop(upstream, None)

    def _cancel_node(self, state: _NodeState, reason: str) -> None:
        """Ends a node that has not started: every task CANCELLED with ``reason``."""
        if state.started or state.done:
            return
        state.started = True
        task_ids = [task.task_id for task in state.node.tasks] or [""]
        state.open = set(task_ids)
        for task_id in task_ids:
            self._finish_task(state.node.name, _made_result(task_id, TaskStatus.CANCELLED, reason))
        self._end_node(state)

    def _start(self, state: _NodeState) -> None:
        """Builds the node's tasks from its inputs and submits them as a job."""
        state.started = True
        name = state.node.name
        inputs = self._gather_inputs(state.node)
        self._release_inputs(state)
        if state.node.generate is not None:
            try:
                tasks = list(state.node.generate(Inputs(inputs)))
                for task in tasks:
                    if not isinstance(task, Task):
                        raise TypeError(f"a generator returns Task objects, got {type(task).__name__}")
            except Exception as error:
                self._fail_generator(state, f"{type(error).__name__}: {error}")
                return
        elif state.node.edges:
            tasks = [_with_payload(task, encode_envelope(payload_bytes(task), inputs)) for task in state.node.tasks]
        else:
            tasks = list(state.node.tasks)
        state.open = {task.task_id for task in tasks}
        if len(state.open) != len(tasks) or "" in state.open:
            self._fail_generator(state, "it made two tasks with one id, or a task with an empty id")
            return
        if state.node.generate is not None:
            for (upstream, task_id), waiters in self._task_waiters.items():
                if upstream == name and task_id not in state.open:
                    for waiter in waiters:
                        self._cancel_node(self._states[waiter], f"upstream {name} has no task {task_id}")
        if not tasks:
            self._end_node(state)
            return
        self._events.append(StageSubmitted(name, self.job_id(name), len(tasks)))
        thread = threading.Thread(
            target=self._run_stage, args=(name, tasks), name=f"passer-graph-{name}", daemon=True
        )
        thread.start()

    def _fail_generator(self, state: _NodeState, error: str) -> None:
        """Ends a generated stage whose generator failed: one FAILED entry
        (task ""), and its dependents cancelled naming it."""
        name = state.node.name
        state.open = {""}
        state.unsuccessful = True
        state.counts[1] += 1
        self._outcome.failed.append((name, "", f"generator failed: {error}"))
        self._events.append(TaskFinished(name, _made_result("", TaskStatus.FAILED, f"generator failed: {error}")))
        state.open.clear()
        for waiter in self._node_waiters.get(name, ()):
            self._cancel_node(self._states[waiter], f"upstream {name} generator failed: {error}")
        self._end_node(state)

    def _gather_inputs(self, node: Node) -> List[Tuple[str, str, bytes]]:
        inputs: List[Tuple[str, str, bytes]] = []
        for edge in node.edges:
            outputs = self._outputs.get(edge.node, {})
            if edge.task is None:
                inputs.extend((edge.node, task_id, outputs[task_id]) for task_id in sorted(outputs))
            else:
                inputs.append((edge.node, edge.task, outputs[edge.task]))
        return inputs


def _quote(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def _with_payload(task: Task, payload: bytes) -> Task:
    return dataclasses.replace(task, payload=payload)


def _made_result(task_id: str, status: TaskStatus, error: str) -> TaskResult:
    """A result for a task the scheduler never reported (cancelled or failed here)."""
    return TaskResult(
        task_id=task_id, attempt=0, node_id="", status=status, output=b"", error=error,
        queued_micros=0, run_micros=0, total_micros=0, executor_id="",
    )
