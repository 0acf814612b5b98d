//! The built-in handlers: `echo` returns its payload, `sleep` waits for the
//! number of milliseconds in its payload (decimal text) and returns it.
//!
//! Node monitors run them in-process (`--builtin echo,sleep`); `passer
//! executor` runs them in a separate process attached over gRPC.

use std::sync::Arc;
use std::time::Duration;

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
pub async fn echo(task: Task) -> Result<Vec<u8>, TaskError> {
    Ok(task.payload)
}

/// Sleeps for the payload's number of milliseconds (at most one hour).
pub async fn sleep(task: Task) -> Result<Vec<u8>, TaskError> {
    let text = std::str::from_utf8(&task.payload)
        .map_err(|_| TaskError::new("sleep payload must be a decimal number of milliseconds"))?;
    let millis: u64 = text
        .trim()
        .parse()
        .map_err(|_| TaskError::new(format!("sleep payload {text:?} is not a decimal number of milliseconds")))?;
    if millis > 3_600_000 {
        return Err(TaskError::new("sleep payload must be at most 3600000 milliseconds"));
    }
    tokio::time::sleep(Duration::from_millis(millis)).await;
    Ok(task.payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(payload: &str) -> Task {
        Task {
            job_id: "j".into(),
            task_id: "t".into(),
            attempt: 1,
            payload: payload.as_bytes().to_vec(),
            deadline: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn echo_returns_payload() {
        let handler = builtin_handler("echo").expect("echo exists");
        assert_eq!(handler.call(task("hi")).await.unwrap(), b"hi");
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_waits_and_rejects_bad_payloads() {
        let handler = builtin_handler("sleep").expect("sleep exists");
        let started = tokio::time::Instant::now();
        handler.call(task("250")).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(250));
        let error = handler.call(task("soon")).await.unwrap_err();
        assert!(error.message.contains("not a decimal number"), "{}", error.message);
        assert!(builtin_handler("nope").is_none());
    }
}
