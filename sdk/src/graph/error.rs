//! [`GraphError`]: why a graph was refused before it ran, or why running it
//! stopped (a stage could not be submitted, its result stream failed).

use crate::error::ClientError;

/// A graph refused before anything ran (each names the node at fault), or a
/// client error that stopped it.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Two nodes share a name.
    #[error("graph {graph}: node name {node:?} is used twice")]
    DuplicateNode {
        /// The graph's id.
        graph: String,
        /// The name used twice.
        node: String,
    },
    /// A node has an empty name.
    #[error("graph {graph}: a node has an empty name")]
    EmptyName {
        /// The graph's id.
        graph: String,
    },
    /// A stage has neither tasks nor a generator.
    #[error("graph {graph}: node {node:?} has no tasks and no generator")]
    EmptyStage {
        /// The graph's id.
        graph: String,
        /// The empty node.
        node: String,
    },
    /// A node of fixed tasks has two tasks with one id, or a task with an empty id.
    #[error("graph {graph}: node {node:?}: {message}")]
    BadTask {
        /// The graph's id.
        graph: String,
        /// The node with the bad task.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// An edge names a node the graph does not have.
    #[error("graph {graph}: node {node:?} is after unknown node {unknown:?}")]
    UnknownNode {
        /// The graph's id.
        graph: String,
        /// The node with the edge.
        node: String,
        /// The name it gave.
        unknown: String,
    },
    /// An `after_task` edge names a task its upstream node does not have.
    #[error("graph {graph}: node {node:?} is after task {task:?} of node {upstream:?}, which has no such task")]
    UnknownTask {
        /// The graph's id.
        graph: String,
        /// The node with the edge.
        node: String,
        /// The upstream node it named.
        upstream: String,
        /// The task it named.
        task: String,
    },
    /// The edges form a cycle; `node` is on it and `path` walks it.
    #[error("graph {graph}: cycle through node {node:?}: {}", path.join(" -> "))]
    Cycle {
        /// The graph's id.
        graph: String,
        /// A node on the cycle.
        node: String,
        /// The cycle, starting and ending at `node`, each node after the one it waits for.
        path: Vec<String>,
    },
    /// A stage could not be submitted or its result stream failed after the
    /// client's retries; the rest of the graph was cancelled.
    #[error("graph {graph}: stage {node:?}: {error}")]
    Client {
        /// The graph's id.
        graph: String,
        /// The stage whose job failed.
        node: String,
        /// What the client reported.
        #[source]
        error: ClientError,
    },
    /// The graph's driver task ended without an outcome (it panicked).
    #[error("graph {graph}: the driver stopped without an outcome")]
    DriverLost {
        /// The graph's id.
        graph: String,
    },
}

impl GraphError {
    /// The node the error names, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            GraphError::DuplicateNode { node, .. }
            | GraphError::EmptyStage { node, .. }
            | GraphError::BadTask { node, .. }
            | GraphError::UnknownNode { node, .. }
            | GraphError::UnknownTask { node, .. }
            | GraphError::Cycle { node, .. }
            | GraphError::Client { node, .. } => Some(node),
            GraphError::EmptyName { .. } | GraphError::DriverLost { .. } => None,
        }
    }

    /// Whether the graph was refused before anything ran.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, GraphError::Client { .. } | GraphError::DriverLost { .. })
    }
}
