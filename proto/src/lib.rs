//! passer's wire protocol: the generated `passer.v1` messages and services,
//! the descriptor set served by gRPC reflection, and small helpers every
//! crate shares (status names, the retry-after metadata key).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

/// Generated code for package `passer.v1`.
#[rustfmt::skip]
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("passer.v1");
}

/// The encoded `FileDescriptorSet` of every passer proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("passer_descriptor");

/// Metadata key on a `RESOURCE_EXHAUSTED` status telling the client how many
/// milliseconds to wait before it tries again.
pub const RETRY_AFTER_METADATA: &str = "retry-after-ms";

/// Metadata key carrying the shared cluster token on every call.
pub const TOKEN_METADATA: &str = "authorization";

/// The environment variable through which a node monitor tells the executor
/// processes it starts where to attach.
pub const ATTACH_ADDR_ENV: &str = "PASSER_ATTACH_ADDR";
/// The variable a node monitor sets, for the executors it supervises, to its
/// own pid: they exit once that process is gone.
pub const SUPERVISOR_PID_ENV: &str = "PASSER_SUPERVISOR_PID";

impl pb::TaskStatus {
    /// The lowercase name used in logs and JSON output.
    pub fn short_name(self) -> &'static str {
        match self {
            pb::TaskStatus::Unspecified => "unspecified",
            pb::TaskStatus::Succeeded => "succeeded",
            pb::TaskStatus::Failed => "failed",
            pb::TaskStatus::Cancelled => "cancelled",
        }
    }
}
