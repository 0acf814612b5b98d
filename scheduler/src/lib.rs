//! passer's scheduler: stateless, many per cluster. Takes jobs from clients,
//! places their tasks by batch sampling with late binding on node monitors,
//! and streams each task's one result back.
//!
//! Layout: the pure policy in [`policy`] (sampler, job state machine,
//! validation); live state in [`core`]; placement I/O in [`placement`]; the
//! node registry in [`nodes`]; gRPC in [`service`] (many jobs on one client
//! stream in [`submit_stream`]), with submissions scanned
//! before decoding in [`intake`]; start-up in [`server`].
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod admit;
pub mod config;
pub mod core;
pub mod discovery;
pub mod error;
pub mod history;
pub mod http;
pub mod intake;
pub mod job_api;
pub mod metrics;
pub mod node_stream;
pub mod nodes;
pub mod placement;
pub mod policy;
pub mod recent;
pub mod server;
pub mod service;
pub mod stats;
pub mod submit_stream;

pub use config::SchedulerConfig;
pub use server::{run, run_with_security};
