//! Placement constraints: which nodes a task may run on.
//!
//! A constraint list (on a job or on a task) mixes two kinds of items:
//! `key=value` labels, which a node must all carry, and node ids, of which
//! the node must be one. A job's list applies to each of its tasks, on top
//! of the task's own list: labels add up, node id sets intersect.
//!
//! Pure code: the caller supplies the node's id and labels.

use std::collections::BTreeSet;
use std::fmt;

/// What a task requires of a node. The default admits every node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Constraint {
    /// `key=value` labels the node must all carry.
    labels: BTreeSet<String>,
    /// Node ids the node must be one of; `None` means any node.
    nodes: Option<BTreeSet<String>>,
}

impl Constraint {
    /// Reads a constraint list: items with `=` are labels, others node ids.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Self {
        let mut constraint = Self::default();
        for item in items.iter().map(AsRef::as_ref) {
            if item.contains('=') {
                constraint.labels.insert(item.to_owned());
            } else {
                constraint.nodes.get_or_insert_with(BTreeSet::new).insert(item.to_owned());
            }
        }
        constraint
    }

    /// Both constraints at once: every label of either, and a node id
    /// named by both lists (when both name nodes).
    pub fn and(&self, other: &Self) -> Self {
        let labels = self.labels.union(&other.labels).cloned().collect();
        let nodes = match (&self.nodes, &other.nodes) {
            (Some(a), Some(b)) => Some(a.intersection(b).cloned().collect()),
            (Some(only), None) | (None, Some(only)) => Some(only.clone()),
            (None, None) => None,
        };
        Self { labels, nodes }
    }

    /// True when every node is admitted.
    pub fn is_any(&self) -> bool {
        self.labels.is_empty() && self.nodes.is_none()
    }

    /// True when no node can ever be admitted (disjoint node id lists).
    pub fn is_empty_set(&self) -> bool {
        self.nodes.as_ref().is_some_and(BTreeSet::is_empty)
    }

    /// Whether the node `node_id` carrying `labels` may run the task.
    pub fn admits<S: AsRef<str>>(&self, node_id: &str, labels: &[S]) -> bool {
        self.nodes.as_ref().is_none_or(|nodes| nodes.contains(node_id))
            && self.labels.iter().all(|wanted| labels.iter().any(|have| have.as_ref() == wanted))
    }
}

impl fmt::Display for Constraint {
    /// Lists the requirements, such as `zone=a, node in [n1, n2]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.labels.iter().cloned().collect();
        if let Some(nodes) = &self.nodes {
            parts.push(format!("node in [{}]", nodes.iter().cloned().collect::<Vec<_>>().join(", ")));
        }
        if parts.is_empty() {
            parts.push("any node".to_owned());
        }
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_must_all_match_and_node_ids_any() {
        let constraint = Constraint::parse(&["zone=a", "gpu=true", "n1", "n2"]);
        assert!(constraint.admits("n1", &["zone=a", "gpu=true", "x=y"]));
        assert!(!constraint.admits("n1", &["zone=a"]), "missing gpu=true");
        assert!(!constraint.admits("n3", &["zone=a", "gpu=true"]), "not a named node");
        assert!(Constraint::default().admits("anything", &[] as &[&str]));
        assert!(Constraint::default().is_any());
    }

    #[test]
    fn job_and_task_constraints_combine() {
        let job = Constraint::parse(&["zone=a", "n1", "n2"]);
        let task = Constraint::parse(&["gpu=true", "n2", "n3"]);
        let both = job.and(&task);
        assert_eq!(both, Constraint::parse(&["zone=a", "gpu=true", "n2"]));
        assert!(Constraint::parse(&["n1"]).and(&Constraint::parse(&["n2"])).is_empty_set());
        assert_eq!(job.and(&Constraint::default()), job);
    }

    #[test]
    fn display_names_every_requirement() {
        assert_eq!(Constraint::parse(&["n2", "zone=a", "n1"]).to_string(), "zone=a, node in [n1, n2]");
        assert_eq!(Constraint::default().to_string(), "any node");
    }
}
