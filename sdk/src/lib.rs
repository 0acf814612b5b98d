//! passer's Rust SDK.
//!
//! - [`client`]: connect to schedulers, submit jobs, stream their results,
//!   with transparent retry on overload and failover between schedulers.
//! - [`executor`]: write an executor process — register a [`Handler`] for a
//!   type name with N slots and attach to the local node monitor.
//! - [`security`]: TLS files and the shared token, for clients and servers.
//! - [`builtin`]: the `echo` and `sleep` handlers every node monitor offers.
//! - [`discovery`]: where the servers are (static list, Consul DNS SRV,
//!   plain DNS), refreshed in the background.
//! - [`consul`]: registering a server with the local Consul agent.
//! - [`incoming`]: the accept side of the servers' gRPC listeners
//!   (connection cap, handshake deadline).
//! - [`graph`]: task graphs — stages that wait for stages, each run as a job.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod builtin;
pub mod client;
pub mod consul;
pub mod discovery;
pub mod error;
pub mod executor;
pub mod graph;
pub mod handler;
pub mod incoming;
pub mod metrics;
pub mod net;
pub mod runtime;
pub mod security;
pub mod signal;
pub mod telemetry;

pub use client::{Client, ClientConfig, JobResults, JobSpec, JobUpdate, JobWatch, TaskOutput, TaskSpec};
pub use error::ClientError;
pub use graph::{Graph, GraphError, GraphEvent, GraphOutcome, Inputs};
pub use handler::{Handler, Task, TaskError};
pub use passer_proto::pb;
