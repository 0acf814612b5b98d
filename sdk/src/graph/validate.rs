//! The checks a graph passes before anything runs, and the index-based
//! [`Plan`] they produce: unique non-empty names, no empty stage, distinct
//! task ids within a stage of fixed tasks, edges to nodes (and tasks) that
//! exist, and no cycle. Each refusal names the node at fault.

use std::collections::{HashMap, HashSet};

use super::builder::{Dependency, Generator, Graph};
use super::error::GraphError;
use crate::client::TaskSpec;

/// A checked graph: nodes by index, edges resolved to indices.
pub(crate) struct Plan {
    pub(crate) graph_id: String,
    pub(crate) tenant: String,
    pub(crate) priority: i32,
    pub(crate) nodes: Vec<PlanNode>,
}

/// A checked node.
pub(crate) struct PlanNode {
    pub(crate) name: String,
    pub(crate) tasks: Vec<TaskSpec>,
    pub(crate) generator_opt: Option<Generator>,
    pub(crate) dependencies: Vec<PlanDependency>,
    /// Whether the caller gets its results in the outcome.
    pub(crate) keep: bool,
}

/// A resolved edge: the upstream node's index and, for `after_task`, the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanDependency {
    pub(crate) upstream: usize,
    pub(crate) task_opt: Option<String>,
}

/// Checks `graph` and resolves its edges.
pub(crate) fn validate(graph: Graph) -> Result<Plan, GraphError> {
    let graph_id = graph.id.clone();
    let mut index_of: HashMap<&str, usize> = HashMap::with_capacity(graph.nodes.len());
    for (index, node) in graph.nodes.iter().enumerate() {
        if node.name.is_empty() {
            return Err(GraphError::EmptyName { graph: graph_id });
        }
        if index_of.insert(node.name.as_str(), index).is_some() {
            return Err(GraphError::DuplicateNode { graph: graph_id, node: node.name.clone() });
        }
    }
    for node in &graph.nodes {
        check_tasks(&graph_id, node.name.as_str(), &node.tasks, node.generator_opt.is_some())?;
    }
    let mut resolved: Vec<Vec<PlanDependency>> = Vec::with_capacity(graph.nodes.len());
    for node in &graph.nodes {
        let mut dependencies = Vec::with_capacity(node.dependencies.len());
        for dependency in &node.dependencies {
            let upstream_name = dependency.upstream();
            let Some(&upstream) = index_of.get(upstream_name) else {
                return Err(GraphError::UnknownNode {
                    graph: graph_id,
                    node: node.name.clone(),
                    unknown: upstream_name.to_owned(),
                });
            };
            let task_opt = match dependency {
                Dependency::Node(_) => None,
                Dependency::Task(_, task) => {
                    let upstream_node = &graph.nodes[upstream];
                    let known = upstream_node.generator_opt.is_some()
                        || upstream_node.tasks.iter().any(|spec| &spec.task_id == task);
                    if !known {
                        return Err(GraphError::UnknownTask {
                            graph: graph_id,
                            node: node.name.clone(),
                            upstream: upstream_name.to_owned(),
                            task: task.clone(),
                        });
                    }
                    Some(task.clone())
                }
            };
            dependencies.push(PlanDependency { upstream, task_opt });
        }
        resolved.push(dependencies);
    }
    if let Some(path) = find_cycle(&resolved) {
        let names: Vec<String> = path.iter().map(|&index| graph.nodes[index].name.clone()).collect();
        return Err(GraphError::Cycle { graph: graph_id, node: names[0].clone(), path: names });
    }
    let mut has_dependents = vec![false; graph.nodes.len()];
    for dependency in resolved.iter().flatten() {
        has_dependents[dependency.upstream] = true;
    }
    let nodes = graph
        .nodes
        .into_iter()
        .zip(resolved)
        .enumerate()
        .map(|(index, (node, dependencies))| PlanNode {
            keep: node.keep_opt.unwrap_or(!has_dependents[index]),
            name: node.name,
            tasks: node.tasks,
            generator_opt: node.generator_opt,
            dependencies,
        })
        .collect();
    Ok(Plan { graph_id, tenant: graph.tenant, priority: graph.priority, nodes })
}

/// A fixed stage needs tasks with distinct non-empty ids.
fn check_tasks(graph_id: &str, node: &str, tasks: &[TaskSpec], has_generator: bool) -> Result<(), GraphError> {
    if tasks.is_empty() && !has_generator {
        return Err(GraphError::EmptyStage { graph: graph_id.to_owned(), node: node.to_owned() });
    }
    let mut seen = HashSet::with_capacity(tasks.len());
    for task in tasks {
        let message = if task.task_id.is_empty() {
            "a task has an empty task_id".to_owned()
        } else if !seen.insert(task.task_id.as_str()) {
            format!("task_id {:?} is used twice", task.task_id)
        } else {
            continue;
        };
        return Err(GraphError::BadTask { graph: graph_id.to_owned(), node: node.to_owned(), message });
    }
    Ok(())
}

/// A cycle among `dependencies` (node index -> the nodes it waits for), as
/// the node indices along it in run order, first and last the same.
pub(crate) fn find_cycle(dependencies: &[Vec<PlanDependency>]) -> Option<Vec<usize>> {
    let count = dependencies.len();
    let mut waiting_on: Vec<usize> = dependencies.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (index, node_dependencies) in dependencies.iter().enumerate() {
        for dependency in node_dependencies {
            dependents[dependency.upstream].push(index);
        }
    }
    let mut ready: Vec<usize> = (0..count).filter(|&index| waiting_on[index] == 0).collect();
    let mut done = vec![false; count];
    while let Some(index) = ready.pop() {
        done[index] = true;
        for &dependent in &dependents[index] {
            waiting_on[dependent] -= 1;
            if waiting_on[dependent] == 0 {
                ready.push(dependent);
            }
        }
    }
    let start = (0..count).find(|&index| !done[index])?;
    // Every node left waits for another node left: walk upstream until a repeat.
    let mut walk = vec![start];
    let mut position_of: HashMap<usize, usize> = HashMap::from([(start, 0)]);
    let mut current = start;
    loop {
        let next = dependencies[current]
            .iter()
            .map(|dependency| dependency.upstream)
            .find(|&upstream| !done[upstream])
            .expect("a node left after the sort waits for another node left");
        if let Some(&position) = position_of.get(&next) {
            let mut cycle: Vec<usize> = walk[position..].to_vec();
            cycle.push(next);
            cycle.reverse();
            return Some(cycle);
        }
        position_of.insert(next, walk.len());
        walk.push(next);
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Inputs;

    fn task(id: &str) -> TaskSpec {
        TaskSpec::new(id, "echo", "")
    }

    fn refusal(graph: Graph) -> String {
        validate(graph).err().expect("refused").to_string()
    }

    #[test]
    fn each_refused_shape_names_the_node() {
        let mut cycle = Graph::with_id("g");
        cycle.task("a", task("a")).after("c");
        cycle.task("b", task("b")).after("a");
        cycle.task("c", task("c")).after("b");
        cycle.task("free", task("f"));
        assert_eq!(refusal(cycle), "graph g: cycle through node \"a\": a -> b -> c -> a");

        let mut self_loop = Graph::with_id("g");
        self_loop.task("a", task("a")).after("a");
        assert_eq!(refusal(self_loop), "graph g: cycle through node \"a\": a -> a");

        let mut unknown = Graph::with_id("g");
        unknown.task("reduce", task("r")).after("mapp");
        assert_eq!(refusal(unknown), "graph g: node \"reduce\" is after unknown node \"mapp\"");

        let mut duplicate = Graph::with_id("g");
        duplicate.task("map", task("a"));
        duplicate.task("map", task("b"));
        assert_eq!(refusal(duplicate), "graph g: node name \"map\" is used twice");

        let mut empty = Graph::with_id("g");
        empty.stage("map", []);
        assert_eq!(refusal(empty), "graph g: node \"map\" has no tasks and no generator");

        let mut missing_task = Graph::with_id("g");
        missing_task.stage("map", [task("m0")]);
        missing_task.task("b", task("b")).after_task("map", "m3");
        assert_eq!(
            refusal(missing_task),
            "graph g: node \"b\" is after task \"m3\" of node \"map\", which has no such task"
        );

        let mut twice = Graph::with_id("g");
        twice.stage("map", [task("m0"), task("m0")]);
        assert_eq!(refusal(twice), "graph g: node \"map\": task_id \"m0\" is used twice");
    }

    #[test]
    fn sinks_are_kept_unless_told_otherwise() {
        let mut graph = Graph::with_id("g");
        graph.stage_from("gen", |_: &Inputs| Ok(Vec::new()));
        graph.task("sink", task("s")).after("gen");
        graph.task("dropped", task("d")).keep(false);
        graph.task("wanted", task("w")).keep(true);
        graph.node_mut("wanted").expect("known").after("gen");
        let plan = validate(graph).expect("valid");
        let keeps: Vec<(&str, bool)> = plan.nodes.iter().map(|node| (node.name.as_str(), node.keep)).collect();
        assert_eq!(keeps, [("gen", false), ("sink", true), ("dropped", false), ("wanted", true)]);
    }
}
