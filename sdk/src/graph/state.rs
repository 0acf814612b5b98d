//! The graph state machine, free of I/O: it decides which stages are ready
//! (every edge satisfied), builds their jobs (envelopes, generators), takes
//! their results one by one, cancels what an upstream failure makes
//! impossible (naming that upstream), and keeps each output only while a
//! waiting dependent still needs it or the caller asked to keep its node.
//! The driver (`driver.rs`) carries out the [`Effect`]s it returns.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use passer_proto::pb::TaskStatus;

use super::builder::Generator;
use super::envelope;
use super::inputs::{Input, Inputs};
use super::outcome::{CancelledTask, FailedTask, GraphEvent, GraphOutcome, StageSummary};
use super::validate::{Plan, PlanDependency};
use crate::client::{JobSpec, TaskOutput, TaskSpec};

/// What the driver must do.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Submit `job`, the job of node `node`, and stream its results back.
    Submit { node: usize, job: JobSpec },
    /// Hand `0` to the caller.
    Event(GraphEvent),
    /// Cancel the running job `job_id`.
    CancelJob { job_id: String },
}

/// Where a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Some edge is not satisfied yet.
    Waiting,
    /// Its job is submitted; not every task has ended.
    Running,
    /// Every task ended, or it was cancelled before it ran.
    Done,
}

struct NodeState {
    name: String,
    job_id: String,
    dependencies: Vec<PlanDependency>,
    /// Nodes with an edge from this one, each once.
    dependents: Vec<usize>,
    /// Nodes with an `after_task` edge on a task of this one, by task id.
    task_dependents: HashMap<String, Vec<usize>>,
    phase: Phase,
    fixed_tasks: Vec<TaskSpec>,
    generator_opt: Option<Generator>,
    keep: bool,
    /// Task ids, known once the job is built.
    task_index: HashMap<String, usize>,
    task_ids: Vec<String>,
    ended: Vec<bool>,
    /// Outputs of succeeded tasks that a waiting dependent still reads.
    outputs: Vec<Option<Bytes>>,
    summary: StageSummary,
    /// Waiting dependents that read every task's output.
    whole_readers: usize,
    /// Waiting dependents reading one task's output, by task id.
    task_readers: HashMap<String, usize>,
    kept: Vec<TaskOutput>,
}

/// The state of one graph run.
pub(crate) struct GraphState {
    graph_id: String,
    tenant: String,
    priority: i32,
    nodes: Vec<NodeState>,
    nodes_not_done: usize,
    cancelled: bool,
    failed: Vec<FailedTask>,
    cancelled_tasks: Vec<CancelledTask>,
    tasks_succeeded: usize,
}

impl GraphState {
    /// The state of a checked graph before anything runs.
    pub(crate) fn new(plan: Plan) -> Self {
        let mut nodes: Vec<NodeState> = plan
            .nodes
            .into_iter()
            .map(|node| NodeState {
                job_id: format!("{}.{}", plan.graph_id, node.name),
                name: node.name,
                dependencies: node.dependencies,
                dependents: Vec::new(),
                task_dependents: HashMap::new(),
                phase: Phase::Waiting,
                fixed_tasks: node.tasks,
                generator_opt: node.generator_opt,
                keep: node.keep,
                task_index: HashMap::new(),
                task_ids: Vec::new(),
                ended: Vec::new(),
                outputs: Vec::new(),
                summary: StageSummary::default(),
                whole_readers: 0,
                task_readers: HashMap::new(),
                kept: Vec::new(),
            })
            .collect();
        for index in 0..nodes.len() {
            for dependency in nodes[index].dependencies.clone() {
                let upstream = &mut nodes[dependency.upstream];
                if !upstream.dependents.contains(&index) {
                    upstream.dependents.push(index);
                }
                match dependency.task_opt {
                    None => upstream.whole_readers += 1,
                    Some(task) => {
                        *upstream.task_readers.entry(task.clone()).or_default() += 1;
                        upstream.task_dependents.entry(task).or_default().push(index);
                    }
                }
            }
        }
        let nodes_not_done = nodes.len();
        Self {
            graph_id: plan.graph_id,
            tenant: plan.tenant,
            priority: plan.priority,
            nodes,
            nodes_not_done,
            cancelled: false,
            failed: Vec::new(),
            cancelled_tasks: Vec::new(),
            tasks_succeeded: 0,
        }
    }

    /// Starts every node that waits for nothing.
    pub(crate) fn start(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        for index in 0..self.nodes.len() {
            self.try_start(index, &mut effects);
        }
        effects
    }

    /// Whether every node is done.
    pub(crate) fn is_finished(&self) -> bool {
        self.nodes_not_done == 0
    }

    /// The node's name.
    pub(crate) fn name(&self, node: usize) -> &str {
        &self.nodes[node].name
    }

    /// The node's phase.
    pub(crate) fn phase(&self, node: usize) -> Phase {
        self.nodes[node].phase
    }

    /// The job id of node `node`.
    pub(crate) fn job_id(&self, node: usize) -> &str {
        &self.nodes[node].job_id
    }

    /// How many outputs are held for dependents, over every node.
    #[cfg(test)]
    pub(crate) fn held_outputs(&self) -> usize {
        self.nodes.iter().map(|node| node.outputs.iter().filter(|output| output.is_some()).count()).sum()
    }

    /// Takes one task result of node `node`'s job.
    pub(crate) fn on_result(&mut self, node: usize, output: TaskOutput) -> Vec<Effect> {
        let mut effects = Vec::new();
        let state = &mut self.nodes[node];
        let Some(&index) = state.task_index.get(&output.task_id) else {
            debug_assert!(false, "result for unknown task {} of node {}", output.task_id, state.name);
            return effects;
        };
        if state.phase != Phase::Running || state.ended[index] {
            return effects;
        }
        state.ended[index] = true;
        let task_id = output.task_id.clone();
        let mut blocked_reason_opt = None;
        match output.status {
            TaskStatus::Succeeded => {
                state.summary.succeeded += 1;
                self.tasks_succeeded += 1;
                let needed =
                    state.whole_readers > 0 || state.task_readers.get(&task_id).is_some_and(|&count| count > 0);
                if needed {
                    state.outputs[index] = Some(output.output.clone());
                }
            }
            TaskStatus::Failed => {
                state.summary.failed += 1;
                let reason = format!("upstream {}/{} failed: {}", state.name, task_id, output.error);
                self.failed.push(FailedTask {
                    node: state.name.clone(),
                    task: task_id.clone(),
                    error: output.error.clone(),
                });
                blocked_reason_opt = Some(reason);
            }
            _ => {
                state.summary.cancelled += 1;
                let reason = format!("upstream {}/{} cancelled: {}", state.name, task_id, output.error);
                self.cancelled_tasks.push(CancelledTask {
                    node: state.name.clone(),
                    task: task_id.clone(),
                    reason: output.error.clone(),
                });
                blocked_reason_opt = Some(reason);
            }
        }
        if state.keep {
            state.kept.push(output.clone());
        }
        let summary = &state.summary;
        let stage_done = summary.succeeded + summary.failed + summary.cancelled == summary.tasks;
        let whole_dependents = state.dependents.clone();
        let task_dependents = state.task_dependents.get(&task_id).cloned().unwrap_or_default();
        effects.push(Effect::Event(GraphEvent::TaskFinished { node: state.name.clone(), output }));
        // The stage's own end is reported before what it means for its dependents.
        if stage_done {
            self.finish_stage(node, &mut effects);
        }
        match blocked_reason_opt {
            Some(reason) => {
                let blocked = whole_dependents.iter().copied().filter(|&dependent| {
                    self.nodes[dependent]
                        .dependencies
                        .iter()
                        .any(|dependency| dependency.upstream == node && dependency.task_opt.is_none())
                });
                let mut to_cancel: Vec<usize> = blocked.collect();
                to_cancel.extend(task_dependents);
                self.cancel_nodes(to_cancel, &reason, &mut effects);
            }
            None => {
                for dependent in task_dependents {
                    self.try_start(dependent, &mut effects);
                }
            }
        }
        effects
    }

    /// Cancels the whole graph: nothing new starts, waiting stages end
    /// cancelled with `reason`, running jobs are to be cancelled.
    pub(crate) fn cancel(&mut self, reason: &str) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.cancelled {
            return effects;
        }
        self.cancelled = true;
        let waiting: Vec<usize> =
            (0..self.nodes.len()).filter(|&index| self.nodes[index].phase == Phase::Waiting).collect();
        self.cancel_nodes(waiting, reason, &mut effects);
        for node in &self.nodes {
            if node.phase == Phase::Running {
                effects.push(Effect::CancelJob { job_id: node.job_id.clone() });
            }
        }
        effects
    }

    /// The outcome; call once [`GraphState::is_finished`].
    pub(crate) fn into_outcome(self) -> GraphOutcome {
        let mut stages = BTreeMap::new();
        let mut results = BTreeMap::new();
        for node in self.nodes {
            if node.keep {
                let mut kept = node.kept;
                kept.sort_by(|left, right| left.task_id.cmp(&right.task_id));
                results.insert(node.name.clone(), kept);
            }
            stages.insert(node.name, node.summary);
        }
        GraphOutcome {
            graph_id: self.graph_id,
            failed: self.failed,
            cancelled: self.cancelled_tasks,
            stages,
            results,
            tasks_succeeded: self.tasks_succeeded,
        }
    }

    // === readiness and starting ===

    /// Starts node `index` if it waits and every edge is satisfied; cancels
    /// it if an `after_task` edge names a task its generated upstream lacks.
    fn try_start(&mut self, index: usize, effects: &mut Vec<Effect>) {
        if self.cancelled || self.nodes[index].phase != Phase::Waiting {
            return;
        }
        for dependency in &self.nodes[index].dependencies {
            let upstream = &self.nodes[dependency.upstream];
            match &dependency.task_opt {
                None => {
                    if upstream.phase != Phase::Done || upstream.summary.succeeded != upstream.summary.tasks {
                        return;
                    }
                }
                Some(task) => {
                    if upstream.phase == Phase::Waiting {
                        return;
                    }
                    let Some(&task_index) = upstream.task_index.get(task) else {
                        let reason = format!("upstream {} has no task {task}", upstream.name);
                        self.cancel_nodes(vec![index], &reason, effects);
                        return;
                    };
                    let succeeded = upstream.ended[task_index] && upstream.outputs[task_index].is_some();
                    if !succeeded {
                        return;
                    }
                }
            }
        }
        self.launch(index, effects);
    }

    /// Builds node `index`'s job from its inputs and submits it.
    fn launch(&mut self, index: usize, effects: &mut Vec<Effect>) {
        let inputs = self.gather_inputs(index);
        self.release_reads(index);
        let has_dependencies = !self.nodes[index].dependencies.is_empty();
        let node = &mut self.nodes[index];
        let tasks = match node.generator_opt.take() {
            Some(generator) => match generated_tasks(generator, &inputs) {
                Ok(tasks) => tasks,
                Err(error) => {
                    let name = node.name.clone();
                    self.failed.push(FailedTask { node: name.clone(), task: String::new(), error: error.clone() });
                    let reason = format!("upstream {name} generator failed: {error}");
                    self.end_unrun(index, &reason, false, effects);
                    return;
                }
            },
            None if has_dependencies => {
                let encoded = envelope::encode_inputs(&inputs);
                std::mem::take(&mut node.fixed_tasks)
                    .into_iter()
                    .map(|mut task| {
                        task.payload = envelope::wrap(&task.payload, &encoded).into();
                        task
                    })
                    .collect()
            }
            None => std::mem::take(&mut node.fixed_tasks),
        };
        drop(inputs);
        node.task_ids = tasks.iter().map(|task| task.task_id.clone()).collect();
        node.task_index = node.task_ids.iter().enumerate().map(|(position, id)| (id.clone(), position)).collect();
        node.ended = vec![false; tasks.len()];
        node.outputs = vec![None; tasks.len()];
        node.summary.tasks = tasks.len();
        node.phase = Phase::Running;
        if tasks.is_empty() {
            self.finish_stage(index, effects);
        } else {
            let mut job = JobSpec::new(node.job_id.clone()).tenant(self.tenant.clone()).priority(self.priority);
            job.tasks = tasks;
            effects.push(Effect::Event(GraphEvent::StageSubmitted {
                node: node.name.clone(),
                job_id: node.job_id.clone(),
                tasks: job.tasks.len(),
            }));
            effects.push(Effect::Submit { node: index, job });
        }
        // An `after_task` dependent of a generated stage learns now whether its task exists.
        let dependents = self.nodes[index].dependents.clone();
        for dependent in dependents {
            self.try_start(dependent, effects);
        }
    }

    /// The outputs node `index` reads, in edge order then task id order.
    fn gather_inputs(&self, index: usize) -> Inputs {
        let mut entries = Vec::new();
        for dependency in &self.nodes[index].dependencies {
            let upstream = &self.nodes[dependency.upstream];
            let mut push = |position: usize| {
                let output = upstream.outputs[position].clone().expect("a read output is held until its reader starts");
                entries.push(Input { node: upstream.name.clone(), task: upstream.task_ids[position].clone(), output });
            };
            match &dependency.task_opt {
                Some(task) => push(upstream.task_index[task]),
                None => {
                    let mut positions: Vec<usize> = (0..upstream.task_ids.len()).collect();
                    positions.sort_by(|&left, &right| upstream.task_ids[left].cmp(&upstream.task_ids[right]));
                    positions.into_iter().for_each(&mut push);
                }
            }
        }
        Inputs::new(entries)
    }

    /// Node `index` no longer waits: its upstreams may drop what only it read.
    fn release_reads(&mut self, index: usize) {
        for dependency in self.nodes[index].dependencies.clone() {
            let upstream = &mut self.nodes[dependency.upstream];
            match dependency.task_opt {
                None => {
                    upstream.whole_readers -= 1;
                    if upstream.whole_readers == 0 {
                        for position in 0..upstream.task_ids.len() {
                            if upstream.task_readers.get(&upstream.task_ids[position]).is_none_or(|&count| count == 0) {
                                upstream.outputs[position] = None;
                            }
                        }
                    }
                }
                Some(task) => {
                    let count = upstream.task_readers.get_mut(&task).expect("counted at start");
                    *count -= 1;
                    if *count == 0 && upstream.whole_readers == 0 {
                        if let Some(&position) = upstream.task_index.get(&task) {
                            upstream.outputs[position] = None;
                        }
                    }
                }
            }
        }
    }

    // === ending ===

    /// Every task of running node `index` ended: report it and start what it unblocks.
    fn finish_stage(&mut self, index: usize, effects: &mut Vec<Effect>) {
        let node = &mut self.nodes[index];
        node.phase = Phase::Done;
        self.nodes_not_done -= 1;
        effects
            .push(Effect::Event(GraphEvent::StageFinished { node: node.name.clone(), summary: node.summary.clone() }));
        if node.summary.succeeded == node.summary.tasks {
            for dependent in node.dependents.clone() {
                self.try_start(dependent, effects);
            }
        }
    }

    /// Cancels the waiting nodes `roots` and, transitively, their waiting dependents.
    fn cancel_nodes(&mut self, roots: Vec<usize>, reason: &str, effects: &mut Vec<Effect>) {
        let mut work = roots;
        while let Some(index) = work.pop() {
            if self.nodes[index].phase != Phase::Waiting {
                continue;
            }
            self.release_reads(index);
            self.end_unrun(index, reason, true, effects);
            work.extend(self.nodes[index].dependents.iter().copied());
        }
    }

    /// Ends node `index` without running it: its fixed tasks end cancelled
    /// with `reason` (`cancelled`), or its generator failed (not `cancelled`);
    /// with a failed generator its dependents are cancelled too.
    fn end_unrun(&mut self, index: usize, reason: &str, cancelled: bool, effects: &mut Vec<Effect>) {
        let node = &mut self.nodes[index];
        node.phase = Phase::Done;
        self.nodes_not_done -= 1;
        let tasks = std::mem::take(&mut node.fixed_tasks);
        node.generator_opt = None;
        node.summary = StageSummary {
            tasks: tasks.len(),
            cancelled: tasks.len(),
            reason: Some(reason.to_owned()),
            ..StageSummary::default()
        };
        if cancelled && tasks.is_empty() {
            self.cancelled_tasks.push(CancelledTask {
                node: node.name.clone(),
                task: String::new(),
                reason: reason.to_owned(),
            });
        }
        for task in tasks {
            let output = cancelled_output(task.task_id, reason);
            self.cancelled_tasks.push(CancelledTask {
                node: node.name.clone(),
                task: output.task_id.clone(),
                reason: reason.to_owned(),
            });
            if node.keep {
                node.kept.push(output.clone());
            }
            effects.push(Effect::Event(GraphEvent::TaskFinished { node: node.name.clone(), output }));
        }
        effects
            .push(Effect::Event(GraphEvent::StageFinished { node: node.name.clone(), summary: node.summary.clone() }));
        if !cancelled {
            let dependents = node.dependents.clone();
            self.cancel_nodes(dependents, reason, effects);
        }
    }
}

/// Runs a generator and checks its task ids.
fn generated_tasks(generator: Generator, inputs: &Inputs) -> Result<Vec<TaskSpec>, String> {
    let tasks = generator(inputs)?;
    let mut seen = std::collections::HashSet::with_capacity(tasks.len());
    for task in &tasks {
        if task.task_id.is_empty() {
            return Err("it made a task with an empty task_id".to_owned());
        }
        if !seen.insert(task.task_id.as_str()) {
            return Err(format!("it made task_id {:?} twice", task.task_id));
        }
    }
    Ok(tasks)
}

/// The result of a task that never ran.
fn cancelled_output(task_id: String, reason: &str) -> TaskOutput {
    TaskOutput {
        task_id,
        attempt: 0,
        node_id: String::new(),
        status: TaskStatus::Cancelled,
        output: Default::default(),
        error: reason.to_owned(),
        queued: Duration::ZERO,
        run: Duration::ZERO,
        total: Duration::ZERO,
        executor_id: String::new(),
        logs: String::new(),
        hops: None,
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
