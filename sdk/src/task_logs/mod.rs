//! Task logs: what a task's handler writes (`tracing` events through
//! [`TaskLogLayer`], explicit [`log`] calls, a command's stderr) is kept
//! per task attempt, bounded to its tail ([`LogTail`], default
//! [`DEFAULT_MAX_LOG_BYTES`]), and sent with the task's result.
//!
//! - `tail`: the bounded buffer and the dropped marker.
//! - `capture`: the per-task sink, [`log`] and the `tracing` layer.

mod capture;
mod tail;

pub use self::capture::{log, LogSink, TaskLogLayer};
pub use self::tail::{cut_to_tail, dropped_marker, LogTail, DEFAULT_MAX_LOG_BYTES};
