//! What a running graph reports: [`GraphEvent`]s as they happen and the
//! final [`GraphOutcome`] — what failed, what was cancelled and why, and the
//! results the caller asked to keep.

use std::collections::BTreeMap;

use crate::client::TaskOutput;

/// Something that happened in a running graph, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphEvent {
    /// A stage's job was submitted (it is `<graph id>.<node>`).
    StageSubmitted {
        /// The node.
        node: String,
        /// The job's id.
        job_id: String,
        /// How many tasks it has.
        tasks: usize,
    },
    /// A task ended: its result from the scheduler, or `Cancelled` with the
    /// reason in `error` when an upstream failure meant it never ran.
    TaskFinished {
        /// The node the task belongs to.
        node: String,
        /// Its result.
        output: TaskOutput,
    },
    /// Every task of a stage ended (or the stage was cancelled before its
    /// tasks were made).
    StageFinished {
        /// The node.
        node: String,
        /// How its tasks ended.
        summary: StageSummary,
    },
}

/// How the tasks of one stage ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageSummary {
    /// Tasks the stage had (0 if its generator never ran).
    pub tasks: usize,
    /// Tasks that succeeded.
    pub succeeded: usize,
    /// Tasks that failed.
    pub failed: usize,
    /// Tasks cancelled.
    pub cancelled: usize,
    /// Why the stage did not run (or did not finish), if it did not.
    pub reason: Option<String>,
}

impl StageSummary {
    /// Whether every task of the stage succeeded.
    pub fn succeeded(&self) -> bool {
        self.succeeded == self.tasks && self.reason.is_none()
    }
}

/// A task that failed after its attempts (or a generator that failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTask {
    /// Its node.
    pub node: String,
    /// Its id; empty when the node's generator failed.
    pub task: String,
    /// Why.
    pub error: String,
}

/// A task that was cancelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelledTask {
    /// Its node.
    pub node: String,
    /// Its id; empty for a generated stage cancelled before its tasks were made.
    pub task: String,
    /// Why, such as `upstream map/m3 failed: <error>` or `graph cancelled`.
    pub reason: String,
}

/// How a graph ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphOutcome {
    pub(crate) graph_id: String,
    pub(crate) failed: Vec<FailedTask>,
    pub(crate) cancelled: Vec<CancelledTask>,
    pub(crate) stages: BTreeMap<String, StageSummary>,
    pub(crate) results: BTreeMap<String, Vec<TaskOutput>>,
    pub(crate) tasks_succeeded: usize,
}

impl GraphOutcome {
    /// The graph's id.
    pub fn graph_id(&self) -> &str {
        &self.graph_id
    }

    /// Whether every task of every stage succeeded.
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && self.cancelled.is_empty()
    }

    /// The tasks that failed, in the order they ended.
    pub fn failed(&self) -> &[FailedTask] {
        &self.failed
    }

    /// The tasks cancelled, in the order they ended.
    pub fn cancelled(&self) -> &[CancelledTask] {
        &self.cancelled
    }

    /// The results of node `node`, in task id order, if it was kept (sinks
    /// by default, see [`super::Node::keep`]).
    pub fn results(&self, node: &str) -> Option<&[TaskOutput]> {
        self.results.get(node).map(Vec::as_slice)
    }

    /// How node `node`'s tasks ended.
    pub fn stage(&self, node: &str) -> Option<&StageSummary> {
        self.stages.get(node)
    }

    /// Every stage by name.
    pub fn stages(&self) -> &BTreeMap<String, StageSummary> {
        &self.stages
    }

    /// How many tasks succeeded in all.
    pub fn tasks_succeeded(&self) -> usize {
        self.tasks_succeeded
    }
}
