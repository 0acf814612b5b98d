//! [`Inputs`]: the outputs of a node's parents, as a generator sees them
//! and as the envelope carries them — in the order the node's edges were
//! declared, then in task id order within each upstream node.

use bytes::Bytes;

/// One upstream task's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The upstream node.
    pub node: String,
    /// The upstream task's id.
    pub task: String,
    /// What the task returned.
    pub output: Bytes,
}

/// The outputs a node's parents produced, in edge order then task id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    entries: Vec<Input>,
}

impl Inputs {
    /// Inputs from `entries`, kept in the given order.
    pub fn new(entries: Vec<Input>) -> Self {
        Self { entries }
    }

    /// The outputs of node `name`'s tasks as `(task id, output)`.
    pub fn node<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.entries
            .iter()
            .filter(move |input| input.node == name)
            .map(|input| (input.task.as_str(), input.output.as_ref()))
    }

    /// Every input.
    pub fn all(&self) -> impl Iterator<Item = &Input> {
        self.entries.iter()
    }

    /// How many outputs there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The inputs, by value.
    pub fn into_vec(self) -> Vec<Input> {
        self.entries
    }
}
