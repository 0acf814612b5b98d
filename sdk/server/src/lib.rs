//! What only passer's servers need, apart from the client SDK (`passer`),
//! so a program that only submits jobs or runs an executor builds none of
//! it (no axum, prometheus-client, tracing-appender, procfs or clap).
//!
//! - [`binary`]: the one `main` of the server binaries ([`binary::main`])
//!   and the process flags (logging, runtime threads).
//! - [`serve`]: the gRPC serve skeleton: TLS, the token layer, health and
//!   reflection ([`serve::grpc_server`]), then accepting connections until
//!   shutdown ([`serve::serve_grpc`]).
//! - [`observability`]: the HTTP listeners (`/metrics`, the status page)
//!   behind the token.
//! - [`security`]: the servers' TLS and token flags, loaded once, and the
//!   token checks on gRPC and HTTP.
//! - [`consul`]: registering a server with the local Consul agent.
//! - [`metrics`]: Prometheus encoding helpers, the process collector and
//!   the `/metrics` router.
//! - [`telemetry`]: logging set-up (stderr, optionally a daily file).
//! - [`runtime`]: the tokio runtime, current-thread or multi-thread.
//! - [`net`]: the address a server advertises.
//! - [`incoming`]: the accept side of the gRPC listeners (connection cap,
//!   handshake deadline).
//! - [`ready`]: `--ready-file`, the bound addresses written once every
//!   listener is up (so launchers can use port 0).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod binary;
pub mod consul;
pub mod incoming;
pub mod metrics;
pub mod net;
pub mod observability;
pub mod ready;
pub mod runtime;
pub mod security;
pub mod serve;
pub mod telemetry;
