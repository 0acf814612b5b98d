//! The scheduler's error type and the one table mapping it to gRPC codes.

use std::time::Duration;

use tonic::{Code, Status};

/// Why a scheduler call failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The request is malformed; the message names the field.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request is well-formed but cannot run here (no node offers its executor).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Another job runs under this id; the message names it. Not retried.
    #[error("{0}")]
    AlreadyExists(String),
    /// The job is neither running here nor kept; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// Nothing can run the job right now, but that may pass (nodes
    /// unreachable, an executor restarting): retry, here or elsewhere.
    #[error("{0}")]
    Unavailable(String),
    /// Admission control: the scheduler is full; try again after `retry_after`.
    #[error("{message}")]
    ResourceExhausted {
        /// What is full.
        message: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// Something unexpected; logged where it happened.
    #[error("{0}")]
    Internal(String),
}

impl From<SchedulerError> for Status {
    fn from(error: SchedulerError) -> Self {
        let code = match &error {
            SchedulerError::InvalidArgument(_) => Code::InvalidArgument,
            SchedulerError::FailedPrecondition(_) => Code::FailedPrecondition,
            SchedulerError::AlreadyExists(_) => Code::AlreadyExists,
            SchedulerError::NotFound(_) => Code::NotFound,
            SchedulerError::Unavailable(_) => Code::Unavailable,
            SchedulerError::ResourceExhausted { .. } => Code::ResourceExhausted,
            SchedulerError::Internal(_) => Code::Internal,
        };
        let mut status = Status::new(code, error.to_string());
        if let SchedulerError::ResourceExhausted { retry_after, .. } = &error {
            if let Ok(value) = retry_after.as_millis().to_string().parse() {
                status.metadata_mut().insert(passer_proto::RETRY_AFTER_METADATA, value);
            }
        }
        status
    }
}
