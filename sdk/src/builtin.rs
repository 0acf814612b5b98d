//! The built-in handlers: `echo` returns its payload, `sleep` waits for the
//! number of milliseconds in its payload (decimal text) and returns it.
//!
//! `sleep` is precise to well under a millisecond: tokio's timer fires on
//! whole-millisecond ticks (a 10 ms sleep took 10.5–11 ms), so the last
//! stretch is slept by a blocking-pool thread with the OS timer.
//!
//! Node monitors run them in-process (`--builtin echo,sleep`); `passer
//! executor` runs them in a separate process attached over gRPC.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::handler::{SharedHandler, Task, TaskError};

/// The names of the built-in executor types.
pub const BUILTIN_NAMES: &[&str] = &["echo", "sleep"];

/// Returns the built-in handler called `name`, if there is one.
pub fn builtin_handler(name: &str) -> Option<SharedHandler> {
    match name {
        "echo" => Some(Arc::new(echo)),
        "sleep" => Some(Arc::new(sleep)),
        _ => None,
    }
}

/// Returns the payload unchanged.
pub async fn echo(task: Task) -> Result<Bytes, TaskError> {
    Ok(task.payload)
}

/// Sleeps for the payload's number of milliseconds (at most one hour).
pub async fn sleep(task: Task) -> Result<Bytes, TaskError> {
    let text = std::str::from_utf8(&task.payload)
        .map_err(|_| TaskError::new("sleep payload must be a decimal number of milliseconds"))?;
    let millis: u64 = text
        .trim()
        .parse()
        .map_err(|_| TaskError::new(format!("sleep payload {text:?} is not a decimal number of milliseconds")))?;
    if millis > 3_600_000 {
        return Err(TaskError::new("sleep payload must be at most 3600000 milliseconds"));
    }
    sleep_precisely(Duration::from_millis(millis)).await;
    Ok(task.payload)
}

/// The part of a sleep left to the OS timer; tokio's wheel covers the rest.
const FINE_SLEEP: Duration = Duration::from_millis(2);

/// Waits `duration` with sub-millisecond precision without holding a
/// runtime thread for more than [`FINE_SLEEP`] of it.
async fn sleep_precisely(duration: Duration) {
    let until = std::time::Instant::now() + duration;
    if let Some(coarse) = duration.checked_sub(FINE_SLEEP) {
        tokio::time::sleep(coarse).await;
    }
    let rest = until.saturating_duration_since(std::time::Instant::now());
    if !rest.is_zero() {
        // A panic here cannot happen (sleep does not panic); a join error only
        // means the runtime is shutting down, when the result no longer matters.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(payload: &str) -> Task {
        Task {
            job_id: "j".into(),
            task_id: "t".into(),
            attempt: 1,
            payload: Bytes::copy_from_slice(payload.as_bytes()),
            deadline: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn echo_returns_payload() {
        let handler = builtin_handler("echo").expect("echo exists");
        assert_eq!(handler.call(task("hi")).await.unwrap(), b"hi"[..]);
    }

    #[tokio::test]
    async fn echo_hands_back_the_payload_buffer_itself() {
        let input = task("shared");
        let payload_ptr = input.payload.as_ptr();
        let output = builtin_handler("echo").expect("echo exists").call(input).await.unwrap();
        assert_eq!(output.as_ptr(), payload_ptr, "echo copied its payload");
    }

    #[tokio::test]
    async fn sleep_waits_and_rejects_bad_payloads() {
        let handler = builtin_handler("sleep").expect("sleep exists");
        let started = std::time::Instant::now();
        handler.call(task("25")).await.unwrap();
        let slept = started.elapsed();
        assert!(slept >= Duration::from_millis(25), "woke early: {slept:?}");
        assert!(slept < Duration::from_secs(5), "never woke in time: {slept:?}");
        let error = handler.call(task("soon")).await.unwrap_err();
        assert!(error.message.contains("not a decimal number"), "{}", error.message);
        assert!(builtin_handler("nope").is_none());
    }
}
