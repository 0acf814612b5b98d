//! Opt-in retries of a task's own errors (`TaskSpec.retry_on_error`): the
//! failed attempt is recorded, the task waits out a backoff that doubles with
//! each such retry, then goes back to pending for another attempt, until
//! `max_attempts` is spent. Crash, deadline and lost-node retries do not wait
//! (see [`JobState::finish`]). Pure, like the rest of [`super::JobState`]:
//! the caller passes `now` and calls [`JobState::release_backoffs`] on its
//! upkeep tick.

use std::time::Duration;

use super::{Finish, JobState, TaskState};

/// The first wait when a task leaves `retry_backoff_ms` at 0.
pub const DEFAULT_RETRY_BACKOFF_MS: u64 = 200;

/// The longest wait before one retry, and the largest `retry_backoff_ms` a
/// task may ask for.
pub const MAX_RETRY_BACKOFF_MS: u64 = 60_000;

/// The wait before error retry number `retry` (1 for the first) of a task
/// asking for `first_ms` (0 meaning the default): doubling, capped.
pub fn retry_backoff(first_ms: u64, retry: u32) -> Duration {
    let first = if first_ms == 0 { DEFAULT_RETRY_BACKOFF_MS } else { first_ms };
    let doublings = retry.saturating_sub(1).min(32);
    Duration::from_millis(first.saturating_mul(1u64 << doublings).min(MAX_RETRY_BACKOFF_MS))
}

impl JobState {
    /// The task's own code failed and it asked for retries on error: another
    /// attempt after the backoff, or the terminal failure listing every
    /// attempt's error once its attempts are spent.
    pub(super) fn retry_after_backoff(&mut self, task_index: usize, node: &str, reason: &str, now: Duration) -> Finish {
        let task = &mut self.tasks[task_index];
        if task.attempt >= task.spec.max_attempts || self.cancelled {
            return self.retry_or_fail(task_index, node, reason, now);
        }
        task.attempt_errors.push(format!("attempt {} on {node}: {reason}", task.attempt));
        task.state = TaskState::Pending;
        let due = now + retry_backoff(task.spec.retry_backoff_ms, task.attempt);
        self.backing_off.push((due, task_index));
        Finish::Retried { executor: self.groups[task.group].executor.clone() }
    }

    /// Moves the tasks whose backoff has passed back to pending; true when
    /// any did (the job then needs reservations for them).
    pub fn release_backoffs(&mut self, now: Duration) -> bool {
        let before = self.backing_off.len();
        let mut released = Vec::new();
        self.backing_off.retain(|&(due, task_index)| {
            let ready = due <= now;
            if ready {
                released.push(task_index);
            }
            !ready
        });
        for task_index in released {
            let group = self.tasks[task_index].group;
            self.groups[group].pending.push_back(task_index);
        }
        if self.backing_off.len() < before {
            self.last_progress = now;
            return true;
        }
        false
    }

    /// When the next backing-off task is due, if any is waiting.
    pub fn next_backoff_due(&self) -> Option<Duration> {
        self.backing_off.iter().map(|&(due, _)| due).min()
    }
}
