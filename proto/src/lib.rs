//! passer's wire protocol: the generated `passer.v1` messages and services,
//! the descriptor set served by gRPC reflection, and small helpers every
//! crate shares (status names, the retry-after metadata key, the wall-clock
//! stamps of [`pb::HopTimes`]).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

/// Generated code for package `passer.v1`.
#[rustfmt::skip]
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("passer.v1");
}

/// Wall-clock microseconds since the Unix epoch: the unit of the stamps in
/// [`pb::HopTimes`] (0 if the clock is before the epoch).
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
}

/// The encoded `FileDescriptorSet` of every passer proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("passer_descriptor");

/// The default of the scheduler's `--max-job-bytes`: payload bytes over all
/// tasks of one job.
pub const MAX_JOB_BYTES_DEFAULT: usize = 64 * 1024 * 1024;

/// Room in a message beyond its tasks' payloads: ids, specs, framing.
pub const MESSAGE_OVERHEAD_BYTES: usize = 32 * 1024 * 1024;

/// The one gRPC message-size limit of a cluster whose jobs carry at most
/// `max_job_bytes` of payload: every message carrying one job's tasks (a
/// submission, an offer, a GetTask answer) fits. Every passer server and
/// client applies it, encoding and decoding.
pub const fn max_message_bytes(max_job_bytes: usize) -> usize {
    max_job_bytes.saturating_add(MESSAGE_OVERHEAD_BYTES)
}

/// [`max_message_bytes`] of the default job limit: 96 MiB.
pub const MAX_MESSAGE_BYTES_DEFAULT: usize = max_message_bytes(MAX_JOB_BYTES_DEFAULT);

/// Senders that merge items of several tasks or jobs into one message (task
/// batches to executors, stream batches between node monitors and
/// schedulers) cut it at this share of the limit.
pub const fn batch_budget(max_message_bytes: usize) -> usize {
    max_message_bytes / 4
}

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
