//! passer's node monitor: holds reservations for tasks (late binding),
//! fronts the local executor processes, and runs tasks in their slots.
//!
//! Layout: the pure policy in [`queue`], [`slots`], [`state`],
//! [`suspects`] (schedulers that stopped answering) and [`liveness`]
//! (executors that stopped answering); the I/O
//! shell in [`monitor`] (locking and effects), [`links`] (streams to
//! schedulers), [`executors`] (attached, built-in and supervised executors),
//! [`service`] (the gRPC service), [`local_attach`] and [`attach_socket`]
//! (the extra attach listeners) and [`server`] (start-up and shutdown).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod attach_socket;
pub mod config;
pub mod executors;
pub mod links;
pub mod liveness;
pub mod local_attach;
pub mod metrics;
pub mod monitor;
pub mod prefetch;
pub mod queue;
pub mod server;
pub mod service;
pub mod slots;
pub mod socket_dir;
pub mod state;
pub mod suspects;
pub mod tenants;

pub use config::NodeMonitorConfig;
pub use server::{run, run_with_security};
