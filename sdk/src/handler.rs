//! The executor-side view of a task and the [`Handler`] trait that runs one.
//!
//! A handler is plain async code: it gets a [`Task`], returns its output or a
//! [`TaskError`]. Cancellation and deadlines are enforced by whoever drives
//! the handler (the executor runtime or the node monitor's built-in host) by
//! dropping the future, so handlers need no cancellation logic of their own.
//!
//! Payloads and outputs are [`Bytes`]: the payload is a view of the message
//! it arrived in, and a handler may return anything that converts into
//! `Bytes` without a copy (`Vec<u8>`, `String`, `Bytes` itself, a
//! `&'static` slice), so `echo` hands its payload back untouched.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

/// One task as an executor sees it.
#[derive(Debug, Clone)]
pub struct Task {
    /// The job the task belongs to.
    pub job_id: String,
    /// The task's id within its job.
    pub task_id: String,
    /// The attempt number (1 for the first).
    pub attempt: u32,
    /// The task's input (derefs to `&[u8]`; a clone shares the buffer).
    pub payload: Bytes,
    /// How long the task may run.
    pub deadline: Duration,
}

/// Why a task failed, as its handler reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// A human-readable reason, sent to the client.
    pub message: String,
    /// Output produced before the failure (for example a command's stderr).
    pub output: Bytes,
}

impl TaskError {
    /// A failure with a message and no output.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), output: Bytes::new() }
    }
}

impl Task {
    /// Appends `text` (one record) to this task's logs, sent with its
    /// result; see [`crate::task_logs`]. Only while its handler runs.
    pub fn log(&self, text: &str) {
        crate::task_logs::log(text);
    }
}

impl<E: std::fmt::Display> From<E> for TaskError {
    fn from(error: E) -> Self {
        Self::new(error.to_string())
    }
}

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Bytes, TaskError>> + Send + 'static>>;

/// Runs tasks of one executor type.
pub trait Handler: Send + Sync + 'static {
    /// Runs one task to completion.
    fn call(&self, task: Task) -> HandlerFuture;
}

/// Any `async fn(Task) -> Result<O, TaskError>` is a handler, for every
/// output type `O` that converts into [`Bytes`] (`Vec<u8>`, `String`, `Bytes`).
impl<F, Fut, O> Handler for F
where
    F: Fn(Task) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, TaskError>> + Send + 'static,
    O: Into<Bytes> + 'static,
{
    fn call(&self, task: Task) -> HandlerFuture {
        let running = self(task);
        Box::pin(async move { running.await.map(Into::into) })
    }
}

/// A shareable handler.
pub type SharedHandler = Arc<dyn Handler>;
