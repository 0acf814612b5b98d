//! The multi-process test harness: starts the real `passer-scheduler`,
//! `passer-node-monitor` and `passer` binaries as child processes on
//! loopback, each on port 0 reporting the ports it bound (`--ready-file`),
//! waits for them to serve (gRPC health, not sleeps), and kills them when
//! dropped. Tests speak real gRPC to them, and every wait has a deadline
//! ([`Within`]) that fails naming what was missing.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod certs;
pub mod cluster;
pub mod conformance;
pub mod consul_agent;
pub mod dns;

pub mod http;
pub mod process;
pub mod wait;

pub use cluster::{Cluster, ClusterBuilder, ANY_PORT};
pub use http::{http_get, http_request, parse_metrics};
pub use process::{bin_path, unique_name, Process, Ready, DEAD_ADDRESS};
pub use wait::Within;
