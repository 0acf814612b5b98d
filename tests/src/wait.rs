//! Deadlines for the tests' waits: [`Within::within`] bounds any future
//! (a job's results, the next result of a stream, a process's answer) by
//! [`PATIENCE`], and a wait that runs out fails the test with what it was
//! waiting for instead of hanging the suite.

use std::future::Future;
use std::time::Duration;

/// The longest any single wait of a test may take: far above what a passing
/// run needs (the slowest wait, a 2,000-task job through a node's death,
/// takes seconds), so only a lost result or a hang reaches it.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Bounds a future by [`PATIENCE`].
pub trait Within: Future + Sized {
    /// Resolves to the future's output, or fails naming `what` was missing
    /// after [`PATIENCE`].
    fn within(self, what: &str) -> impl Future<Output = anyhow::Result<Self::Output>> {
        self.within_for(PATIENCE, what)
    }

    /// As [`Within::within`], with a patience of its own.
    fn within_for(self, patience: Duration, what: &str) -> impl Future<Output = anyhow::Result<Self::Output>> {
        let what = what.to_owned();
        async move {
            match tokio::time::timeout(patience, self).await {
                Ok(output) => Ok(output),
                Err(_) => anyhow::bail!("waited {patience:?} for {what}"),
            }
        }
    }
}

impl<F: Future> Within for F {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_that_runs_out_names_what_was_missing() {
        let patience = Duration::from_millis(10);
        let error = std::future::pending::<()>().within_for(patience, "the answer").await.unwrap_err();
        assert_eq!(error.to_string(), "waited 10ms for the answer");
    }

    #[tokio::test]
    async fn a_ready_future_passes_its_output() {
        assert_eq!(async { 7 }.within("seven").await.unwrap(), 7);
    }
}
