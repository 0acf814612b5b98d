//! The local executor host: executor processes attaching over gRPC
//! ([`attach`]), executors built into the node monitor ([`builtin`]), the
//! opt-in `command` executor ([`command`]), and executor processes the node
//! monitor starts and restarts ([`supervisor`]).

pub mod attach;
pub mod builtin;
pub mod command;
pub mod supervisor;
