//! Building a graph: [`Graph`] holds named nodes, each a stage of fixed
//! tasks, a stage made by a generator from its parents' results, or a single
//! task; [`Node`] adds its edges (`after`, `after_task`) and says whether the
//! caller wants its results kept. Building never fails: the checks run when
//! the graph is started (see `validate`).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use super::inputs::Inputs;
use crate::client::TaskSpec;

/// A generator: makes a stage's tasks from its parents' outputs once they
/// are all there. An `Err` fails the stage (its dependents are cancelled).
pub type Generator = Box<dyn FnOnce(&Inputs) -> Result<Vec<TaskSpec>, String> + Send + 'static>;

/// What a node waits for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Dependency {
    /// Every task of the named node.
    Node(String),
    /// One task (`.1`) of the named node (`.0`).
    Task(String, String),
}

impl Dependency {
    /// The upstream node's name.
    pub(crate) fn upstream(&self) -> &str {
        match self {
            Dependency::Node(node) | Dependency::Task(node, _) => node,
        }
    }
}

/// A task graph: named nodes and the edges between them. Each node runs as
/// one job, `<graph id>.<node name>`, once everything it is after succeeded.
pub struct Graph {
    pub(crate) id: String,
    pub(crate) tenant: String,
    pub(crate) priority: i32,
    pub(crate) nodes: Vec<Node>,
}

/// One node of a [`Graph`]: a stage (one job) and its edges.
pub struct Node {
    pub(crate) name: String,
    pub(crate) tasks: Vec<TaskSpec>,
    pub(crate) generator_opt: Option<Generator>,
    pub(crate) dependencies: Vec<Dependency>,
    pub(crate) keep_opt: Option<bool>,
}

impl Graph {
    /// An empty graph with a fresh unique id (`graph-<time>-<random>`).
    pub fn new() -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos());
        Self::with_id(format!("graph-{nanos:x}-{:08x}", rand::random::<u32>()))
    }

    /// An empty graph with the id `id` (job ids are `<id>.<node name>`, so
    /// reusing an id while an earlier run is live reuses its jobs).
    pub fn with_id(id: impl Into<String>) -> Self {
        Self { id: id.into(), tenant: String::new(), priority: 0, nodes: Vec::new() }
    }

    /// The graph's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Accounts every stage's job to `tenant`.
    pub fn tenant(&mut self, tenant: impl Into<String>) -> &mut Self {
        self.tenant = tenant.into();
        self
    }

    /// Sets the priority of every stage's job.
    pub fn priority(&mut self, priority: i32) -> &mut Self {
        self.priority = priority;
        self
    }

    /// Adds a stage of fixed tasks. When it has upstream nodes, each task's
    /// payload becomes the JSON envelope `{"payload": .., "inputs": [..]}`
    /// (see the module documentation).
    pub fn stage(&mut self, name: impl Into<String>, tasks: impl IntoIterator<Item = TaskSpec>) -> &mut Node {
        self.push(Node::new(name.into(), tasks.into_iter().collect(), None))
    }

    /// Adds a stage whose tasks `generator` makes from its parents' outputs
    /// (raw bytes, no envelope) once they are all there.
    pub fn stage_from(
        &mut self,
        name: impl Into<String>,
        generator: impl FnOnce(&Inputs) -> Result<Vec<TaskSpec>, String> + Send + 'static,
    ) -> &mut Node {
        self.push(Node::new(name.into(), Vec::new(), Some(Box::new(generator))))
    }

    /// Adds a node of the single task `task`.
    pub fn task(&mut self, name: impl Into<String>, task: TaskSpec) -> &mut Node {
        self.push(Node::new(name.into(), vec![task], None))
    }

    /// The node called `name`, to add edges to it later.
    pub fn node_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|node| node.name == name)
    }

    /// How many nodes the graph has.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn push(&mut self, node: Node) -> &mut Node {
        self.nodes.push(node);
        self.nodes.last_mut().expect("just pushed")
    }
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("Graph").field("id", &self.id).field("nodes", &self.nodes).finish_non_exhaustive()
    }
}

impl Node {
    fn new(name: String, tasks: Vec<TaskSpec>, generator_opt: Option<Generator>) -> Self {
        Self { name, tasks, generator_opt, dependencies: Vec::new(), keep_opt: None }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs this node only after every task of node `upstream` succeeded.
    /// Repeatable; the order of edges is the order of the inputs.
    pub fn after(&mut self, upstream: impl Into<String>) -> &mut Self {
        self.add(Dependency::Node(upstream.into()))
    }

    /// Runs this node after task `task` of node `upstream` succeeded, without
    /// waiting for the rest of `upstream`.
    pub fn after_task(&mut self, upstream: impl Into<String>, task: impl Into<String>) -> &mut Self {
        self.add(Dependency::Task(upstream.into(), task.into()))
    }

    /// Whether the outcome keeps this node's results (default: only for
    /// sinks, the nodes nothing is after). Results nobody keeps are dropped
    /// as soon as no dependent needs them.
    pub fn keep(&mut self, keep: bool) -> &mut Self {
        self.keep_opt = Some(keep);
        self
    }

    fn add(&mut self, dependency: Dependency) -> &mut Self {
        if !self.dependencies.contains(&dependency) {
            self.dependencies.push(dependency);
        }
        self
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Node")
            .field("name", &self.name)
            .field("tasks", &self.tasks.len())
            .field("generator", &self.generator_opt.is_some())
            .field("dependencies", &self.dependencies)
            .field("keep", &self.keep_opt)
            .finish()
    }
}
