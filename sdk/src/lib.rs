//! passer's Rust SDK.
//!
//! - [`client`]: connect to schedulers, submit jobs, stream their results,
//!   with transparent retry on overload and failover between schedulers.
//! - [`executor`]: write an executor process — register a [`Handler`] for a
//!   type name with N slots and attach to the local node monitor.
//! - [`security`]: the client's TLS files and the shared token.
//! - [`builtin`]: the `echo` and `sleep` handlers every node monitor offers.
//! - [`discovery`]: where the servers are (static list, Consul DNS SRV,
//!   plain DNS), refreshed in the background; with the `cli` feature also
//!   the clap flags that configure it.
//! - [`graph`]: task graphs — stages that wait for stages, each run as a job.
//! - [`task_logs`]: what a task writes, captured per task and bounded.
//! - [`signal`]: waiting for SIGINT/SIGTERM, to stop an executor gracefully.
//!
//! What only the servers need (their flags, Consul registration, metrics,
//! logging set-up, the serve skeleton) is in the `passer-server` crate, so
//! a program that only submits jobs or runs an executor does not build it.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod builtin;
pub mod client;
pub mod discovery;
pub mod error;
pub mod executor;
pub mod graph;
pub mod handler;
pub mod security;
pub mod signal;
pub mod task_logs;

/// The payload and output type: a cheaply cloneable, shareable byte buffer.
pub use bytes::Bytes;
pub use client::{Client, ClientConfig, JobResults, JobSpec, JobUpdate, JobWatch, TaskOutput, TaskSpec};
pub use error::ClientError;
pub use graph::{Graph, GraphError, GraphEvent, GraphOutcome, Inputs};
pub use handler::{Handler, Task, TaskError};
pub use passer_proto::pb;
