"""Task graphs: stages that wait for stages, run as ordinary passer jobs.

The graph lives in the client (as Spark's driver did over Sparrow); the
schedulers stay stateless. Each node is a *stage*, a set of tasks submitted
together as one job (job id ``<graph id>.<node name>``) once everything it
waits for has finished::

    from passer import Client, Graph, Task

    graph = Graph()
    graph.stage("map", [Task(f"m{i}", "python", f"file-{i}") for i in range(4)])
    graph.stage("reduce", generate=make_reduce_tasks, after=["map"])
    graph.task("report", Task("report", "echo", "done"), after=["reduce"])
    with Client() as client:
        run = client.run_graph(graph)
        for event in run:              # TaskFinished / StageFinished, as they happen
            print(event)
        outcome = run.outcome()        # .succeeded, .failed, .cancelled, .results(node)

Edges: ``after=["map"]`` waits for the whole node ``map``;
``after_tasks=[("map", "m3")]`` waits for one task of it, so work starts as
soon as its own inputs exist.

Data: a statically declared task of a node that has upstream dependencies
receives as payload a JSON envelope::

    {"payload": <its own payload>,
     "inputs": [{"node": "map", "task": "m3", "output": <bytes>}, ...]}

where each ``<bytes>`` is a JSON string when the bytes are valid UTF-8, else
``{"base64": "..."}``; inputs in the order the edges were declared, then
task id order. :func:`decode_envelope` reads it back in an executor. A
generator (``generate=``) sees the raw outputs through :class:`Inputs` and
builds its payloads itself. Outputs travel through the client, so this
suits outputs up to a few hundred KiB per task (the scheduler's payload
limit is 1 MiB by default); for large data pass references (paths, URLs).

Refused before anything runs, with a :class:`GraphError` naming the node: a
cycle, an edge to an unknown node, a duplicate node name, a stage with no
tasks and no generator, ``after_tasks`` naming a task the node does not have.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .errors import PasserError
from .model import Task

#: A generator: builds a stage's tasks from its parents' outputs.
Generator = Callable[["Inputs"], Iterable[Task]]


class GraphError(PasserError):
    """A graph refused before anything ran; :attr:`node` names the node at fault."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(f"node {node!r}: {message}")
        #: The node the error is about.
        self.node = node


@dataclass(frozen=True)
class Edge:
    """One "after" edge: the whole node ``node``, or only its task ``task``."""

    node: str
    task: Optional[str] = None


class Node:
    """One node of a graph: a stage of fixed tasks, or one made by a generator."""

    def __init__(self, name: str, tasks: Optional[Sequence[Task]], generate: Optional[Generator]) -> None:
        #: The node's name, unique in its graph.
        self.name = name
        #: The fixed tasks (empty for a generated stage).
        self.tasks: List[Task] = list(tasks or ())
        #: The generator, for a stage made from its parents' outputs.
        self.generate = generate
        #: The edges, in the order they were declared.
        self.edges: List[Edge] = []
        #: Whether :meth:`GraphOutcome.results` keeps this node's outputs
        #: (always for nodes nothing depends on).
        self.keep_results = False

    def after(self, *nodes: str) -> "Node":
        """Waits for every task of each named node; returns self to chain."""
        self.edges.extend(Edge(node) for node in nodes)
        return self

    def after_task(self, node: str, task: str) -> "Node":
        """Waits for one task of another node; returns self to chain."""
        self.edges.append(Edge(node, task))
        return self

    def keep(self) -> "Node":
        """Keeps this node's outputs for :meth:`GraphOutcome.results` even if
        other nodes depend on it."""
        self.keep_results = True
        return self

    def __repr__(self) -> str:
        kind = "generated" if self.generate is not None else f"{len(self.tasks)} tasks"
        return f"Node({self.name!r}, {kind}, after={[(e.node, e.task) for e in self.edges]})"


class Graph:
    """A set of named nodes and their "after" edges; run it with
    :meth:`passer.Client.run_graph`."""

    def __init__(self, graph_id: Optional[str] = None) -> None:
        """Starts an empty graph; ``graph_id`` prefixes its job ids (random if ``None``)."""
        #: The graph's id: each stage runs as job ``<id>.<node name>``.
        self.id = graph_id or f"g-{uuid.uuid4().hex[:12]}"
        self._nodes: List[Node] = []

    @property
    def nodes(self) -> List[Node]:
        """The nodes, in the order they were added."""
        return list(self._nodes)

    def stage(
        self,
        name: str,
        tasks: Optional[Iterable[Task]] = None,
        *,
        generate: Optional[Generator] = None,
        after: Sequence[str] = (),
        after_tasks: Sequence[Tuple[str, str]] = (),
    ) -> Node:
        """Adds a stage: fixed ``tasks``, or ``generate(inputs)`` called with its
        parents' outputs once they are ready. Returns the node to chain on."""
        node = Node(name, list(tasks) if tasks is not None else None, generate)
        node.after(*after)
        for upstream, task_id in after_tasks:
            node.after_task(upstream, task_id)
        self._nodes.append(node)
        return node

    def task(
        self,
        name: str,
        task: Task,
        *,
        after: Sequence[str] = (),
        after_tasks: Sequence[Tuple[str, str]] = (),
    ) -> Node:
        """Adds a node of a single task."""
        return self.stage(name, [task], after=after, after_tasks=after_tasks)

    def validate(self) -> None:
        """Raises :class:`GraphError` naming the node if the graph cannot run."""
        by_name: Dict[str, Node] = {}
        for node in self._nodes:
            if not node.name:
                raise GraphError(node.name, "a node needs a name")
            if node.name in by_name:
                raise GraphError(node.name, "duplicate node name")
            by_name[node.name] = node
        for node in self._nodes:
            _check_tasks(node)
        for node in self._nodes:
            for edge in node.edges:
                _check_edge(node, edge, by_name)
        cycle = _find_cycle(self._nodes)
        if cycle:
            raise GraphError(cycle[0], f"cycle: {' -> '.join(cycle)} (each waits for the next)")


def _check_tasks(node: Node) -> None:
    if node.generate is not None and node.tasks:
        raise GraphError(node.name, "a stage has either tasks or a generator, not both")
    if node.generate is None and not node.tasks:
        raise GraphError(node.name, "a stage needs tasks or a generator")
    seen = set()
    for task in node.tasks:
        if task.task_id in seen:
            raise GraphError(node.name, f"task id {task.task_id!r} appears twice")
        seen.add(task.task_id)


def _check_edge(node: Node, edge: Edge, by_name: Dict[str, Node]) -> None:
    upstream = by_name.get(edge.node)
    if upstream is None:
        raise GraphError(node.name, f"after unknown node {edge.node!r}")
    if edge.task is None:
        return
    if upstream.generate is not None:
        raise GraphError(
            node.name,
            f"after task {edge.node}/{edge.task}: node {edge.node!r} makes its tasks at run time, "
            "so wait for the whole node instead",
        )
    if all(task.task_id != edge.task for task in upstream.tasks):
        raise GraphError(node.name, f"after task {edge.node}/{edge.task}: node {edge.node!r} has no task {edge.task!r}")


def _find_cycle(nodes: Sequence[Node]) -> List[str]:
    """A cycle as a list of names, each waiting for the next (the first
    repeated last), or an empty list."""
    parents = {node.name: [edge.node for edge in node.edges] for node in nodes}
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    for start in parents:
        if state.get(start):
            continue
        path: List[str] = []
        stack: List[Tuple[str, int]] = [(start, 0)]
        while stack:
            name, index = stack.pop()
            if index == 0:
                state[name] = 1
                path.append(name)
            upstreams = parents[name]
            if index < len(upstreams):
                stack.append((name, index + 1))
                upstream = upstreams[index]
                if state.get(upstream) == 1:
                    return path[path.index(upstream):] + [upstream]
                if not state.get(upstream):
                    stack.append((upstream, 0))
            else:
                state[name] = 2
                path.pop()
    return []


class Inputs:
    """A generator's view of its parents' outputs, in edge then task id order."""

    def __init__(self, entries: Sequence[Tuple[str, str, bytes]]) -> None:
        self._entries = list(entries)

    def node(self, name: str) -> List[Tuple[str, bytes]]:
        """``(task_id, output)`` of each task of ``name`` this stage waited for."""
        return [(task_id, output) for node, task_id, output in self._entries if node == name]

    def all(self) -> List[Tuple[str, str, bytes]]:
        """``(node, task_id, output)`` of every input."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


# === the data envelope ===


def _bytes_to_json(data: bytes) -> Union[str, Dict[str, str]]:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def _json_to_bytes(value: object) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and isinstance(value.get("base64"), str):
        return base64.b64decode(value["base64"])
    raise ValueError(f"expected a string or {{\"base64\": ...}}, got {value!r}")


def encode_envelope(payload: bytes, inputs: Sequence[Tuple[str, str, bytes]]) -> bytes:
    """The payload a task with upstream dependencies receives (see the module doc)."""
    document = {
        "payload": _bytes_to_json(payload),
        "inputs": [
            {"node": node, "task": task_id, "output": _bytes_to_json(output)} for node, task_id, output in inputs
        ],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_envelope(data: bytes) -> Tuple[bytes, Inputs]:
    """Reads an envelope in an executor: ``(own payload, Inputs)``.

    Raises ``ValueError`` naming what is wrong if ``data`` is not an envelope.
    """
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"graph envelope: not JSON: {error}") from None
    if not isinstance(document, dict) or "payload" not in document or not isinstance(document.get("inputs"), list):
        raise ValueError("graph envelope: expected an object with \"payload\" and \"inputs\"")
    entries = []
    for index, entry in enumerate(document["inputs"]):
        if not isinstance(entry, dict):
            raise ValueError(f"graph envelope: inputs[{index}] is not an object")
        try:
            entries.append((str(entry["node"]), str(entry["task"]), _json_to_bytes(entry["output"])))
        except (KeyError, ValueError) as error:
            raise ValueError(f"graph envelope: inputs[{index}]: {error}") from None
    return _json_to_bytes(document["payload"]), Inputs(entries)


def payload_bytes(task: Task) -> bytes:
    """A task's payload as bytes (``str`` payloads are UTF-8)."""
    return task.payload.encode("utf-8") if isinstance(task.payload, str) else bytes(task.payload)
