//! The multi-process test harness: starts the real `passer-scheduler`,
//! `passer-node-monitor` and `passer` binaries as child processes on
//! loopback, waits for them to serve (gRPC health, not sleeps), and kills
//! them when dropped. Tests speak real gRPC to them.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod certs;
pub mod cluster;
pub mod conformance;
pub mod consul_agent;
pub mod dns;

pub mod http;
pub mod process;

pub use cluster::{Cluster, ClusterBuilder};
pub use http::{http_get, http_request, parse_metrics};
pub use process::{bin_path, free_port, Process};
