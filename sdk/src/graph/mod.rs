//! Task graphs, owned by the frontend as Spark's driver owned them over
//! Sparrow: stages that wait for stages. Each ready stage is submitted as an
//! ordinary job (`<graph id>.<node name>`) through [`Client::submit`], so it
//! gets batch sampling, late binding and failover with exactly-once results;
//! the schedulers know nothing about graphs.
//!
//! ```no_run
//! # async fn example(client: passer::Client) -> Result<(), passer::graph::GraphError> {
//! use passer::graph::{Graph, GraphEvent, Inputs};
//! use passer::TaskSpec;
//!
//! let mut graph = Graph::with_id("wc");
//! graph.stage("map", (0..4).map(|i| TaskSpec::new(format!("m{i}"), "echo", format!("part {i}"))));
//! graph
//!     .stage_from("reduce", |inputs: &Inputs| {
//!         let joined: Vec<u8> = inputs.node("map").flat_map(|(_, output)| output.to_vec()).collect();
//!         Ok(vec![TaskSpec::new("r0", "echo", joined)])
//!     })
//!     .after("map");
//! graph.task("report", TaskSpec::new("report", "echo", "done")).after("reduce");
//! let mut run = client.run_graph(graph).await?;
//! while let Some(event) = run.next().await {
//!     if let GraphEvent::StageFinished { node, summary } = event {
//!         println!("{node}: {}/{} succeeded", summary.succeeded, summary.tasks);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! **Data shape.** A fixed task of a node with upstream edges receives as
//! payload the JSON envelope
//! `{"payload": <its own payload>, "inputs": [{"node": "map", "task": "m3", "output": <bytes>}, ...]}`,
//! each `<bytes>` a JSON string when the bytes are valid UTF-8, else
//! `{"base64": "..."}`; inputs come in the order the edges were declared,
//! then in task id order. A generator ([`Graph::stage_from`]) sees the raw
//! outputs ([`Inputs`]) and builds payloads itself. Outputs flow through the
//! frontend, so this suits outputs up to about a MiB per task; pass larger
//! data by reference (paths, URLs).
//!
//! **Failure.** A task that fails after its attempts ends its dependents
//! `CANCELLED` with reason `upstream <node>/<task> failed: <error>` (their
//! own dependents get the same reason); other branches go on. A stage whose
//! job cannot be submitted (or whose result stream fails after the client's
//! retries) stops the graph with [`GraphError::Client`].
//!
//! **Memory.** An output is held only while a waiting dependent still needs
//! it; results reach the outcome only for the nodes kept ([`Node::keep`],
//! default: the sinks).
//!
//! Files: `builder` (the graph), `validate` (refusals), `state` (the pure
//! state machine), `driver` (submitting and streaming), `inputs` and
//! `envelope` (the data shape), `outcome` (events and outcome), `error`.

mod builder;
mod driver;
mod envelope;
mod error;
mod inputs;
mod outcome;
mod state;
mod validate;

pub use builder::{Generator, Graph, Node};
pub use driver::{CancelHandle, GraphRun};
pub use envelope::{decode_bytes, encode_bytes, Envelope};
pub use error::GraphError;
pub use inputs::{Input, Inputs};
pub use outcome::{CancelledTask, FailedTask, GraphEvent, GraphOutcome, StageSummary};

use crate::client::Client;

impl Client {
    /// Checks `graph` (refusing cycles, unknown edges, duplicate names and
    /// empty stages, naming the node) and starts running it on the current
    /// tokio runtime: stages are submitted as soon as they are ready.
    pub async fn run_graph(&self, graph: Graph) -> Result<GraphRun, GraphError> {
        let plan = validate::validate(graph)?;
        let graph_id = plan.graph_id.clone();
        let state = state::GraphState::new(plan);
        Ok(GraphRun::spawn(self.clone(), graph_id, state))
    }
}
