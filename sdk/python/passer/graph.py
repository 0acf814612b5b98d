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

    def __init__(self, graph: str, node: str, message: str) -> None:
        super().__init__(f"graph {graph}: {message}")
        #: The graph's id.
        self.graph = graph
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
        #: Whether :meth:`GraphOutcome.results` keeps this node's outputs;
        #: ``None``: only if nothing depends on it.
        self.keep_results: Optional[bool] = None

    def after(self, *nodes: str) -> "Node":
        """Waits for every task of each named node; returns self to chain.
        An edge declared twice counts once."""
        for node in nodes:
            self._add(Edge(node))
        return self

    def after_task(self, node: str, task: str) -> "Node":
        """Waits for one task of another node; returns self to chain."""
        self._add(Edge(node, task))
        return self

    def keep(self, keep: bool = True) -> "Node":
        """Whether :meth:`GraphOutcome.results` keeps this node's outputs
        (default: only for sinks, the nodes nothing is after). Outputs nobody
        keeps are dropped as soon as no dependent needs them."""
        self.keep_results = keep
        return self

    def _add(self, edge: Edge) -> None:
        if edge not in self.edges:
            self.edges.append(edge)

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
                raise GraphError(self.id, node.name, "a node has an empty name")
            if node.name in by_name:
                raise GraphError(self.id, node.name, f"node name {_quote(node.name)} is used twice")
            by_name[node.name] = node
        for node in self._nodes:
            _check_tasks(self.id, node)
        for node in self._nodes:
            for edge in node.edges:
                _check_edge(self.id, node, edge, by_name)
        cycle = _find_cycle(self._nodes)
        if cycle:
            path = " -> ".join(reversed(cycle))  # each node after the one it waits for
            raise GraphError(self.id, cycle[0], f"cycle through node {_quote(cycle[0])}: {path}")


def _quote(name: str) -> str:
    """A name in double quotes, as the Rust SDK's messages show it."""
    return json.dumps(name, ensure_ascii=False)


def _check_tasks(graph: str, node: Node) -> None:
    name = _quote(node.name)
    if node.generate is not None and node.tasks:
        raise GraphError(graph, node.name, f"node {name}: a stage has either tasks or a generator, not both")
    if node.generate is None and not node.tasks:
        raise GraphError(graph, node.name, f"node {name} has no tasks and no generator")
    seen = set()
    for task in node.tasks:
        if not task.task_id:
            raise GraphError(graph, node.name, f"node {name}: a task has an empty id")
        if task.task_id in seen:
            raise GraphError(graph, node.name, f"node {name}: task id {_quote(task.task_id)} is used twice")
        seen.add(task.task_id)


def _check_edge(graph: str, node: Node, edge: Edge, by_name: Dict[str, Node]) -> None:
    upstream = by_name.get(edge.node)
    if upstream is None:
        raise GraphError(graph, node.name, f"node {_quote(node.name)} is after unknown node {_quote(edge.node)}")
    # A generated stage's task ids are known only when it runs: checked then.
    if edge.task is None or upstream.generate is not None:
        return
    if all(task.task_id != edge.task for task in upstream.tasks):
        raise GraphError(
            graph,
            node.name,
            f"node {_quote(node.name)} is after task {_quote(edge.task)} of node {_quote(edge.node)}, "
            "which has no such task",
        )


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
